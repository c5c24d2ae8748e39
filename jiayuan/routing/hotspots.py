"""Hot spots (高发预警 / 高投诉小区): many tickets of one category in one place within a few days.

``hot_spots_raise`` runs in every worker round: ``ROUTING_HOTSPOT_MIN`` (default 5) or more
tickets of one category in one estate (小区) or one grid within ``ROUTING_HOTSPOT_DAYS`` (default
7) days raise a ``HotSpot`` and tell the community's handlers. Idempotent: one row per place ×
category × window start (the day of the cluster's first ticket), inserted with a unique
constraint, and notifications keyed by the hot spot, so repeated rounds and several workers
raise and tell once. While the cluster lasts, later rounds only update its count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Min, QuerySet
from django.utils import timezone

from jiayuan.regions.choices import Level as RegionLevel
from jiayuan.regions.models import Estate, Region
from jiayuan.routing.models_dispatch import HotSpot
from jiayuan.tickets.choices import Level, State
from jiayuan.tickets.models import Category, Ticket

DEFAULT_MIN = 5
DEFAULT_DAYS = 7
EXCLUDED_STATES = [State.MERGED, State.CANCELLED]


def min_tickets() -> int:
    return int(getattr(settings, "ROUTING_HOTSPOT_MIN", DEFAULT_MIN))


def window_days() -> int:
    return int(getattr(settings, "ROUTING_HOTSPOT_DAYS", DEFAULT_DAYS))


@dataclass
class HotSpotRun:
    raised: int = 0
    updated: int = 0
    notified: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"raised": self.raised, "updated": self.updated, "notified": self.notified}


def _clusters(qs: QuerySet[Ticket], place: str, n: int) -> list[dict[str, Any]]:
    return list(
        qs.values(place, "category_id")
        .annotate(n=Count("id"), first=Min("created_at"), lng=Avg("lng"), lat=Avg("lat"))
        .filter(n__gte=n)
        .order_by(place, "category_id")
    )


def _community_of_grid(grid: Region) -> Region | None:
    node: Region | None = grid
    while node is not None and node.level != RegionLevel.COMMUNITY:
        node = node.parent
    return node


def hot_spots_raise(*, now: dt.datetime | None = None) -> HotSpotRun:
    """Find the clusters of the current window and raise each new one once."""
    now = now or timezone.now()
    days, n = window_days(), min_tickets()
    since = now - dt.timedelta(days=days)
    window_floor = timezone.localdate(since)
    recent = Ticket.objects.filter(
        created_at__gte=since, created_at__lte=now, category__isnull=False
    ).exclude(state__in=EXCLUDED_STATES)
    run = HotSpotRun()
    found: list[tuple[str, Any, dict[str, Any]]] = []
    for row in _clusters(recent.filter(routing__estate__isnull=False), "routing__estate_id", n):
        found.append((HotSpot.PlaceKind.ESTATE, row["routing__estate_id"], row))
    for row in _clusters(recent.filter(grid__isnull=False), "grid_id", n):
        found.append((HotSpot.PlaceKind.GRID, row["grid_id"], row))
    if not found:
        return run
    estates = Estate.objects.in_bulk([pk for kind, pk, _ in found if kind == "estate"])
    grids = Region.objects.select_related("parent__parent").in_bulk(
        [pk for kind, pk, _ in found if kind == "grid"]
    )
    categories = Category.objects.in_bulk([row["category_id"] for _, _, row in found])
    for kind, place_id, row in found:
        place_key = f"{kind}:{place_id}"
        active = HotSpot.objects.filter(
            place_key=place_key, category_id=row["category_id"], window_start__gte=window_floor
        ).first()
        if active is not None:
            if active.ticket_count != row["n"]:
                HotSpot.objects.filter(pk=active.pk).update(ticket_count=row["n"], updated_at=now)
                run.updated += 1
            continue
        if kind == HotSpot.PlaceKind.ESTATE:
            estate = estates.get(place_id)
            community = estate.community if estate is not None else None
            place: Any = estate
        else:
            place = grids.get(place_id)
            community = _community_of_grid(place) if place is not None else None
        category = categories.get(row["category_id"])
        if place is None or community is None or category is None:
            continue
        try:
            with transaction.atomic():
                spot = HotSpot.objects.create(
                    place_kind=kind,
                    place_key=place_key,
                    estate=place if kind == HotSpot.PlaceKind.ESTATE else None,
                    grid=place if kind == HotSpot.PlaceKind.GRID else None,
                    community=community,
                    category=category,
                    window_start=timezone.localdate(row["first"]),
                    window_days=days,
                    ticket_count=row["n"],
                    lng=row["lng"],
                    lat=row["lat"],
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:
            continue  # another worker raised it first; it tells the community
        run.raised += 1
        run.notified += _tell_community(spot, place_name=str(place), category=category)
    return run


def _tell_community(spot: HotSpot, *, place_name: str, category: Category) -> int:
    from jiayuan.notifications import recipients
    from jiayuan.notifications.models import Kind
    from jiayuan.notifications.services import notify_users

    users = recipients.handlers_at(region_id=spot.community_id, level=Level.COMMUNITY)
    created = notify_users(
        ticket=None,
        # No kind of its own yet: an early warning (预警) is the nearest existing one.
        kind=Kind.WARNING,
        user_ids=users,
        title=f"高发预警：{place_name}{spot.window_days}天内{spot.ticket_count}件“{category.name}”诉求",
        body="同一地点同类诉求集中出现，请排查共性原因，必要时合并办理或提请议事协商。",
        key=f"hotspot:{spot.pk}",
    )
    return len(created)


def hot_spots_visible_to(user: Any, *, days: int = 30, now: dt.datetime | None = None) -> Any:
    """Hot spots of the last ``days`` days the user can see, newest first."""
    now = now or timezone.now()
    return (
        HotSpot.objects.visible_to(user)
        .filter(created_at__gte=now - dt.timedelta(days=days))
        .select_related("estate", "grid", "community", "category")
        .order_by("-created_at", "-id")
    )


def hot_spots_geojson(user: Any, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The hot-spot layer of the grid map: one point per hot spot with where, what, how many."""
    features = []
    for spot in hot_spots_visible_to(user, now=now)[:500]:
        if spot.lng is None or spot.lat is None:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [spot.lng, spot.lat]},
                "properties": {
                    "id": spot.pk,
                    "place": spot.place_name,
                    "kind": spot.get_place_kind_display(),
                    "category": spot.category.name,
                    "count": spot.ticket_count,
                    "since": spot.window_start.isoformat(),
                    "days": spot.window_days,
                    "community": spot.community.name,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
