"""Writes of the request pipeline that are not transitions: intake (ticket_create)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from jiayuan.core.errors import JiayuanError
from jiayuan.regions.choices import Level as RegionLevel
from jiayuan.regions.models import Building, Household, Region
from jiayuan.tickets import notify, sla
from jiayuan.tickets.choices import Channel, Level, State, Urgency
from jiayuan.tickets.events import GENESIS, build_event
from jiayuan.tickets.models import Category, DailyCounter, Ticket
from jiayuan.tickets.workflow import level_of, transition

NUMBER_PREFIX = "J"
MAX_TITLE = 120
MAX_TEXT = 5000


def next_ticket_number(*, now: dt.datetime) -> str:
    """J + local date + a 6-digit daily sequence: J20261123000042. Safe under concurrency: one
    upsert statement bumps the day's counter and returns the new value (call it inside the
    transaction that writes the ticket, so a rolled-back ticket gives its number back)."""
    day = timezone.localtime(now).date()
    table = connection.ops.quote_name(DailyCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (day, value) VALUES (%s, 1) "
            f"ON CONFLICT (day) DO UPDATE SET value = {table}.value + 1 RETURNING value",
            [day],
        )
        (value,) = cursor.fetchone()
    return f"{NUMBER_PREFIX}{day:%Y%m%d}{value:06d}"


@dataclass
class Intake:
    ticket: Ticket
    created: bool


def _root_for(building: Building | None) -> Region | None:
    """Where an unlocated ticket waits for triage: the district of its building, or the city."""
    if building is not None:
        codes = building.grid.ancestor_codes()
        district = Region.objects.filter(code__in=codes, level=RegionLevel.DISTRICT).first()
        if district is not None:
            return district
    return Region.objects.filter(level=RegionLevel.CITY).order_by("id").first()


def clean_intake(
    *,
    channel: str,
    title: str,
    description: str,
    urgency: str,
    lng: float | None,
    lat: float | None,
    anonymous: bool,
    reporter: Any,
    reporter_phone: str,
) -> tuple[str, str]:
    """The checks every intake passes, queued or not: the cleaned (title, description), or a
    ``JiayuanError`` naming the field."""
    if channel not in Channel.values:
        raise JiayuanError("来源渠道不正确", code="invalid_choice", field="channel")
    title = (title or "").strip()
    description = (description or "").strip()
    if not description:
        raise JiayuanError("请填写诉求内容", code="required", field="description")
    if len(description) > MAX_TEXT:
        raise JiayuanError(
            f"诉求内容过长（最多{MAX_TEXT}字）", code="too_long", field="description"
        )
    title = (title or description[:30])[:MAX_TITLE]
    if urgency not in Urgency.values:
        raise JiayuanError("紧急程度不正确", code="invalid_choice", field="urgency")
    if lat is not None and not -90 <= lat <= 90:
        raise JiayuanError("纬度超出范围", code="invalid", field="lat")
    if lng is not None and not -180 <= lng <= 180:
        raise JiayuanError("经度超出范围", code="invalid", field="long")
    if not anonymous and not reporter and not reporter_phone:
        raise JiayuanError("请留下联系电话，或选择匿名反映", code="required", field="phone")
    return title, description


def ticket_create(
    *,
    channel: str,
    title: str,
    description: str,
    reporter: Any = None,
    reporter_name: str = "",
    reporter_phone: str = "",
    anonymous: bool = False,
    confidential: bool = False,
    category: Category | None = None,
    urgency: str = Urgency.NORMAL,
    building: Building | None = None,
    household: Household | None = None,
    grid: Region | None = None,
    lng: float | None = None,
    lat: float | None = None,
    address: str = "",
    external_ref: str = "",
    idempotency_scope: str = "",
    idempotency_key: str = "",
    created_at: dt.datetime | None = None,
    actor_label: str = "",
    attributes: dict[str, Any] | None = None,
    media_url: str = "",
) -> Intake:
    """Intake (受理): one ticket from any channel, assigned to its grid when the grid is known,
    otherwise put in the triage queue (待分拨). A repeated ``idempotency_key`` (per scope) or a
    repeated ``external_ref`` (per channel) returns the ticket created the first time."""
    title, description = clean_intake(
        channel=channel,
        title=title,
        description=description,
        urgency=urgency,
        lng=lng,
        lat=lat,
        anonymous=anonymous,
        reporter=reporter,
        reporter_phone=reporter_phone,
    )

    # A repeat (same idempotency key or external reference) is found by the unique indexes when
    # the INSERT fails below, not by a lookup first: first submissions, nearly all of them, pay
    # no extra query; a repeat pays for the routing it throws away.
    if household is not None:
        building = household.building
    if building is not None:
        grid = building.grid
        if lng is None and lat is None:
            lng, lat = building.lng, building.lat
        address = address or building.address
    # Routing (精准派单): locate, classify, apply the dispatch rules; doubtful → triage.
    from jiayuan.routing import dispatch

    route = dispatch.decide(
        title=title,
        description=description,
        category=category,
        building=building,
        household=household,
        grid=grid,
        lng=lng,
        lat=lat,
        address=address,
    )
    grid, category, state = route.grid, route.category, route.state
    if category is not None and category.urgent:
        urgency = Urgency.URGENT
    now = created_at or timezone.now()

    owner: Region | None = route.owner or (_root_for(building) if state == State.TRIAGE else None)
    fields: dict[str, Any] = {}
    if state != State.TRIAGE:
        policy = sla.policy_for(category=category, region=owner)
        due = sla.deadlines(policy=policy, start=now, urgent=urgency == Urgency.URGENT)
        fields = {
            "accept_due": due.accept_due,
            "resolve_due": due.resolve_due,
            "feedback_due": due.feedback_due,
            "deadline_gen": 1,
        }
    try:
        with transaction.atomic():
            ticket = Ticket.objects.create(
                number=next_ticket_number(now=now),
                channel=channel,
                category=category,
                title=title,
                description=description,
                urgency=urgency,
                reporter=reporter if getattr(reporter, "is_authenticated", False) else None,
                reporter_name=reporter_name.strip()[:50],
                reporter_phone=reporter_phone.strip()[:20],
                anonymous=anonymous,
                confidential=confidential,
                building=building,
                household=household,
                lng=lng,
                lat=lat,
                address=address[:200],
                grid=grid,
                state=state,
                level=route.level or (level_of(owner) if owner is not None else Level.DISTRICT),
                owner_region=owner,
                owner_path=owner.path if owner is not None else "",
                grid_path=grid.path if grid is not None else "",
                external_ref=external_ref,
                idempotency_scope=idempotency_scope,
                idempotency_key=idempotency_key,
                created_at=now,
                updated_at=now,
                version=1,
                attributes=attributes or {},
                media_url=media_url[:500],
                **fields,
            )
            event = build_event(
                ticket=ticket,
                seq=1,
                prev_hash=GENESIS,
                at=now,
                actor=ticket.reporter,
                actor_label=actor_label or Channel(channel).label,
                action="submit",
                from_state="",
                to_state=state,
                from_level="",
                to_level=ticket.level,
                to_region=owner,
                department_id=route.lead_id,
                note="",
                data={
                    "channel": channel,
                    "located": grid is not None,
                    "route": route.event_data(),
                    **route.dispatch_data(),
                },
            )
            event.save(force_insert=True)
            dispatch.record(ticket=ticket, decision=route)
            Ticket.objects.filter(pk=ticket.pk).update(last_hash=event.hash)
            ticket.last_hash = event.hash
            notify.ticket_changed(ticket_id=ticket.pk, seq=1)
    except IntegrityError:
        # A repeat, or a concurrent retry that won the race: answer with the first ticket.
        existing = _existing(channel, external_ref, idempotency_scope, idempotency_key)
        if existing is None:
            raise
        return Intake(existing, False)
    return Intake(ticket, True)


def _existing(channel: str, external_ref: str, scope: str, key: str) -> Ticket | None:
    # The conditions repeat the partial unique indexes' WHERE clauses so SQLite can use them.
    if key:
        found = (
            Ticket.objects.filter(idempotency_scope=scope, idempotency_key=key)
            .exclude(idempotency_key="")
            .order_by()
            .first()
        )
        if found is not None:
            return found
    if external_ref:
        return (
            Ticket.objects.filter(channel=channel, external_ref=external_ref)
            .exclude(external_ref="")
            .order_by()
            .first()
        )
    return None


@dataclass(frozen=True)
class BulkResult:
    number: str
    ok: bool
    message: str


def tickets_assign_bulk(*, user: Any, ticket_ids: list[int], region: Region) -> list[BulkResult]:
    """Assign each selected triage ticket to ``region`` — one transition per ticket, each on its
    own: a refused or stale ticket is reported and the others still go through."""
    results = []
    tickets = {t.pk: t for t in Ticket.objects.visible_to(user).filter(pk__in=ticket_ids)}
    for pk in ticket_ids:
        ticket = tickets.get(pk)
        if ticket is None:
            results.append(BulkResult(f"#{pk}", False, "工单不存在或不在您的管辖范围内"))
            continue
        try:
            transition(ticket, "assign", actor=user, region=region)
        except JiayuanError as exc:
            results.append(BulkResult(ticket.number, False, exc.message))
        else:
            results.append(BulkResult(ticket.number, True, f"已分拨至{region.name}"))
    return results
