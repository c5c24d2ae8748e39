"""Duplicates (疑似重复): open tickets that are probably the same request as this one.

A candidate is an open ticket, other than this one, created within ``ROUTING_DUPLICATE_DAYS``
(default 7) days of it, at the same building or within ``RADIUS_M`` (100 m, haversine on
lng/lat), whose text is close: ``text_similarity`` at least ``ROUTING_DUPLICATE_MIN_SCORE``
(default 0.5).

The text measure is rapidfuzz's ``token_set_ratio`` over the character bigrams of title + the
start of the description: Chinese has no spaces, so bigrams are the tokens, and the set ratio
scores a short report ("3号楼门口路灯不亮") high against a long one that contains it. On the
labelled messages (``bench/bench_dispatch.py --duplicates`` measures it) it separates rewritten
copies of a message from other messages of the same category with AUC 0.999; at 0.5, 93% of
the rewritten copies are found and none of 1,390 same-category pairs is flagged (see
docs/dispatch.md). The handler decides: merging is the workflow's ``merge`` action.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from rapidfuzz import fuzz

from jiayuan.tickets.choices import OPEN_STATES
from jiayuan.tickets.models import Ticket

RADIUS_M = 100.0
DEFAULT_DAYS = 7
DEFAULT_MIN_SCORE = 0.5
TEXT_CHARS = 200
SCAN_LIMIT = 300
EARTH_RADIUS_M = 6_371_008.8


def window_days() -> int:
    return int(getattr(settings, "ROUTING_DUPLICATE_DAYS", DEFAULT_DAYS))


def min_score() -> float:
    return float(getattr(settings, "ROUTING_DUPLICATE_MIN_SCORE", DEFAULT_MIN_SCORE))


def haversine_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _bigram_tokens(text: str) -> str:
    text = "".join(text.split())
    return " ".join(text[i : i + 2] for i in range(len(text) - 1)) if len(text) > 1 else text


def ticket_text(title: str, description: str) -> str:
    return (title + description)[:TEXT_CHARS]


def text_similarity(a: str, b: str) -> float:
    """0–1: how close two request texts are (see the module docstring)."""
    return fuzz.token_set_ratio(_bigram_tokens(a), _bigram_tokens(b)) / 100.0


@dataclass(frozen=True)
class Candidate:
    ticket: Ticket
    score: float
    distance_m: float | None
    same_building: bool


def _near_q(ticket: Ticket) -> Q | None:
    """Rows at the same building or inside the 100 m box around the ticket's point."""
    q: Q | None = Q(building_id=ticket.building_id) if ticket.building_id else None
    if ticket.lng is not None and ticket.lat is not None:
        dlat = RADIUS_M / 111_320.0
        dlng = RADIUS_M / (111_320.0 * max(math.cos(math.radians(ticket.lat)), 0.01))
        box = Q(
            lat__gte=ticket.lat - dlat,
            lat__lte=ticket.lat + dlat,
            lng__gte=ticket.lng - dlng,
            lng__lte=ticket.lng + dlng,
        )
        q = box if q is None else q | box
    return q


def duplicate_candidates(
    ticket: Ticket, *, user: Any = None, limit: int = 5, now: dt.datetime | None = None
) -> list[Candidate]:
    """Open tickets that look like the same request as ``ticket``, most similar first. With a
    ``user``, only tickets that user can see (the scoping gate)."""
    near = _near_q(ticket)
    if near is None:
        return []
    days = dt.timedelta(days=window_days())
    base = Ticket.objects.visible_to(user) if user is not None else Ticket.objects.all()
    rows = (
        base.filter(
            near,
            state__in=OPEN_STATES,
            created_at__gte=ticket.created_at - days,
            created_at__lte=ticket.created_at + days,
        )
        .exclude(pk=ticket.pk)
        .only(
            "id",
            "number",
            "title",
            "description",
            "state",
            "building_id",
            "lng",
            "lat",
            "created_at",
            "category_id",
        )
        .order_by("-created_at")[:SCAN_LIMIT]
    )
    text = ticket_text(ticket.title, ticket.description)
    threshold = min_score()
    found: list[Candidate] = []
    for other in rows:
        same_building = bool(ticket.building_id and other.building_id == ticket.building_id)
        distance = None
        if None not in (ticket.lng, ticket.lat, other.lng, other.lat):
            distance = haversine_m(ticket.lng, ticket.lat, other.lng, other.lat)  # type: ignore[arg-type]
        if not same_building and (distance is None or distance > RADIUS_M):
            continue
        score = text_similarity(text, ticket_text(other.title, other.description))
        if score >= threshold:
            found.append(Candidate(other, round(score, 3), distance, same_building))
    found.sort(key=lambda c: (-c.score, c.ticket.created_at))
    return found[:limit]
