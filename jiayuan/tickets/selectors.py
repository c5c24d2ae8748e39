"""Reads of the ticket pages: the staff inbox and its tabs, one ticket for a user, the timeline
as staff and as the reporter see it, the options of the action forms, the resident lookup.

Every staff read starts from ``Ticket.objects.visible_to(user)`` (the one scoping gate); a
ticket outside it is ``NotFound``, never told apart from a missing one.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from jiayuan.core.errors import JiayuanError, NotFound
from jiayuan.core.memo import Memo
from jiayuan.regions.choices import Level as RegionLevel
from jiayuan.regions.models import Building, Region
from jiayuan.staff.choices import Role
from jiayuan.staff.models import Department
from jiayuan.staff.selectors import active_posts
from jiayuan.tickets.choices import OPEN_STATES, AssignmentState, Channel, Level, State
from jiayuan.tickets.models import Category, Ticket, TicketAssignment, TicketEvent
from jiayuan.tickets.workflow import (
    HANDLER_ROLES,
    RULES,
    Actor,
    InvalidTransition,
    authorize,
    level_of,
)

PAGE_SIZE = 30
# Tab counts stop at this many: counting a million rows on every page view costs more than the
# page; "1000+" says enough.
COUNT_CAP = 1000

WAITING_STATES = [State.TRIAGE, State.ASSIGNED, State.CALLED_UP, State.DISPATCHED]


@dataclass(frozen=True)
class Tab:
    key: str
    label: str


TABS = [
    Tab("todo", "待签收"),
    Tab("mine", "我的"),
    Tab("overdue", "超期"),
    Tab("supervised", "督办"),
    Tab("returned", "被退回"),
    Tab("all", "全部"),
]
TAB_KEYS = {t.key for t in TABS}


# ---------------------------------------------------------------------------------------------
# One ticket


def access_ticket(user: Any, number: str) -> Ticket:
    """The ticket with this number if the user may see it, else ``NotFound`` (Zulip's rule)."""
    ticket = (
        Ticket.objects.visible_to(user)
        .select_related(
            "category__parent",
            "building__grid",
            "grid__parent",
            "owner_region",
            "owner_user",
            "merged_into",
        )
        .filter(number=number)
        .first()
    )
    if ticket is None:
        raise NotFound("工单不存在或不在您的管辖范围内")
    return ticket


def action_label(action: str) -> str:
    if action == "submit":
        return "提交"
    rule = RULES.get(action)
    return rule.label if rule else action


def check_action(ticket: Ticket, user: Any, action: str) -> None:
    """Raise what ``transition`` would for the state (409) and the post (403), before a form
    is even read: a refused action answers the same whatever was filled in."""
    rule = RULES[action]
    if ticket.state not in rule.sources:
        raise InvalidTransition(f"工单当前为“{ticket.get_state_display()}”，不能{rule.label}")
    authorize(rule, ticket, Actor(user=user))


@dataclass(frozen=True)
class TimelineRow:
    seq: int
    at: dt.datetime
    actor: str
    action: str
    label: str
    from_level: str
    to_level: str
    region: str
    department: str
    note: str
    to_state: str


# Notes of these actions are working notes between levels and departments; the reporter sees
# that the step happened, not what was written.
INTERNAL_NOTE_ACTIONS = {
    "triage",
    "return",
    "transfer",
    "request_extension",
    "approve_extension",
    "supervise",
    "archive",
}


def timeline(ticket: Ticket, *, public: bool = False) -> list[TimelineRow]:
    """The ticket's events in order. ``public``: as the reporter sees it — the actor's role
    only (no staff names), regions, action labels, and only the notes meant for them."""
    events = (
        TicketEvent.objects.filter(ticket=ticket)
        .select_related("from_region", "to_region", "department")
        .order_by("seq")
    )
    rows = []
    for ev in events:
        actor = ev.actor_label
        note = ev.note
        if public:
            actor = actor.split("·", 1)[0]
            if ev.action in INTERNAL_NOTE_ACTIONS or (ev.data or {}).get("internal"):
                note = ""
        region = ev.to_region or ev.from_region
        rows.append(
            TimelineRow(
                seq=ev.seq,
                at=ev.at,
                actor=actor,
                action=ev.action,
                label=action_label(ev.action),
                from_level=Level(ev.from_level).label if ev.from_level in Level.values else "",
                to_level=Level(ev.to_level).label if ev.to_level in Level.values else "",
                region=region.name if region is not None else "",
                department=ev.department.short_name or ev.department.name if ev.department else "",
                note=note,
                to_state=State(ev.to_state).label if ev.to_state in State.values else ev.to_state,
            )
        )
    return rows


@dataclass(frozen=True)
class Deadline:
    label: str
    at: dt.datetime | None
    overdue: bool


def deadlines(ticket: Ticket, *, now: dt.datetime | None = None) -> list[Deadline]:
    """The deadlines that still matter, each flagged when passed."""
    now = now or timezone.now()
    is_open = ticket.state in OPEN_STATES
    waiting = ticket.state in WAITING_STATES
    rows = [
        Deadline(
            "签收期限",
            ticket.accept_due,
            bool(waiting and ticket.accept_due and ticket.accept_due < now),
        ),
        Deadline(
            "办结期限",
            ticket.resolve_due,
            bool(is_open and ticket.resolve_due and ticket.resolve_due < now),
        ),
        Deadline("反馈期限", ticket.feedback_due, False),
    ]
    if ticket.supervised:
        rows.append(
            Deadline(
                "督办期限",
                ticket.supervise_due,
                bool(is_open and ticket.supervise_due and ticket.supervise_due < now),
            )
        )
    return [d for d in rows if d.at is not None]


# ---------------------------------------------------------------------------------------------
# Inbox (待办)


def handler_region_ids(user: Any) -> list[int]:
    """The regions at which the user holds a post that handles tickets of that level."""
    ids = []
    for post in active_posts(user):
        region = post.region
        if region is not None and post.role in HANDLER_ROLES.get(level_of(region), set()):
            ids.append(region.pk)
    return ids


def own_region_ids(user: Any) -> list[int]:
    return [p.region_id for p in active_posts(user) if p.region_id is not None]


def department_ids(user: Any) -> list[int]:
    return [
        p.department_id
        for p in active_posts(user)
        if p.role == Role.DEPARTMENT_OFFICER and p.department_id is not None
    ]


def _tab_q(user: Any, tab: str, now: dt.datetime) -> Q:
    open_q = Q(state__in=OPEN_STATES)
    if tab == "todo":
        q = Q(
            state__in=[State.ASSIGNED, State.CALLED_UP],
            owner_region_id__in=handler_region_ids(user),
        )
        depts = department_ids(user)
        if depts:
            q |= Q(
                state=State.DISPATCHED,
                pk__in=TicketAssignment.objects.filter(
                    department_id__in=depts, state=AssignmentState.PENDING
                ).values("ticket_id"),
            )
        return q
    if tab == "mine":
        q = Q(owner_user_id=user.pk) & open_q
        depts = department_ids(user)
        if depts:
            q |= Q(
                state=State.DISPATCHED,
                pk__in=TicketAssignment.objects.filter(
                    department_id__in=depts, state=AssignmentState.ACCEPTED
                ).values("ticket_id"),
            )
        return q
    if tab == "overdue":
        return open_q & (Q(state__in=WAITING_STATES, accept_due__lt=now) | Q(resolve_due__lt=now))
    if tab == "supervised":
        return open_q & Q(supervised=True)
    if tab == "returned":
        return open_q & Q(
            pk__in=TicketEvent.objects.filter(
                action="return",
                seq=F("ticket__version"),
                to_region_id__in=own_region_ids(user),
            ).values("ticket_id")
        )
    return open_q


@dataclass(frozen=True)
class Filters:
    q: str = ""
    category: str = ""
    state: str = ""
    channel: str = ""

    def apply(self, qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
        if self.q:
            qs = qs.filter(Q(number=self.q.upper()) | Q(title__icontains=self.q))
        if self.category.isdigit():
            cat = int(self.category)
            qs = qs.filter(Q(category_id=cat) | Q(category__parent_id=cat))
        if self.state in State.values:
            qs = qs.filter(state=self.state)
        if self.channel in Channel.values:
            qs = qs.filter(channel=self.channel)
        return qs

    @property
    def querystring(self) -> str:
        from urllib.parse import urlencode

        return urlencode({k: v for k, v in vars(self).items() if v})


@dataclass
class InboxPage:
    tab: str
    rows: list[Ticket]
    number: int
    has_next: bool
    counts: dict[str, int]
    filters: Filters
    now: dt.datetime
    tabs: list[Tab] = field(default_factory=lambda: list(TABS))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def total(self) -> int:
        return self.counts[self.tab]

    def count_label(self, key: str) -> str:
        n = self.counts[key]
        return f"{COUNT_CAP}+" if n > COUNT_CAP else str(n)

    @property
    def tab_items(self) -> list[dict[str, Any]]:
        return [
            {"key": t.key, "label": t.label, "count": self.count_label(t.key)} for t in self.tabs
        ]

    @property
    def current_label(self) -> str:
        return next((t.label for t in self.tabs if t.key == self.tab), "")

    @property
    def current_count(self) -> str:
        return self.count_label(self.tab)


def _capped_count(qs: QuerySet[Ticket]) -> int:
    return qs.order_by()[: COUNT_CAP + 1].count()


def tab_counts(base: QuerySet[Ticket], user: Any, now: dt.datetime) -> dict[str, int]:
    """The (capped) count of every tab over ``base``.

    Every tab is a subset of the open tickets (the 全部 tab). When at most ``COUNT_CAP`` open
    tickets are in view — a grid, a community, a street — one query reads them once and counts
    every tab over them (conditional aggregates). Over a wider view (a district, the city) each
    tab is counted on its own, each stopping at ``COUNT_CAP + 1`` rows along its own index."""
    if _wide_view(user):
        return {t.key: _capped_count(base.filter(_tab_q(user, t.key, now))) for t in TABS}
    aggregates = {
        t.key: Count("pk", filter=_tab_q(user, t.key, now)) for t in TABS if t.key != "all"
    }
    window = base.filter(_tab_q(user, "all", now)).order_by().values("pk")[: COUNT_CAP + 1]
    counts = Ticket.objects.filter(pk__in=window).aggregate(all=Count("pk"), **aggregates)
    if counts["all"] > COUNT_CAP:  # a busy street: count each tab along its own index
        return {t.key: _capped_count(base.filter(_tab_q(user, t.key, now))) for t in TABS}
    return {k: int(v) for k, v in counts.items()}


WIDE_LEVELS = {RegionLevel.CITY, RegionLevel.DISTRICT}


def _wide_view(user: Any) -> bool:
    """A post over a district or the whole city (or an administrator) sees far more than
    ``COUNT_CAP`` open tickets: counting each tab alone is cheaper than reading a window."""
    posts = active_posts(user)
    return bool(
        user.is_superuser
        or not posts
        or any(p.region is None or p.region.level in WIDE_LEVELS for p in posts)
    )


def inbox(
    user: Any,
    *,
    tab: str = "todo",
    filters: Filters | None = None,
    page: int = 1,
    now: dt.datetime | None = None,
) -> InboxPage:
    """One page of a tab of the user's inbox, with the (capped) count of every tab.

    A fixed number of queries whatever the data: one per tab count (each a bounded
    ``COUNT`` over at most ``COUNT_CAP + 1`` rows) and one for the page's rows."""
    if tab not in TAB_KEYS:
        raise JiayuanError("未知的列表", code="invalid_choice", field="tab")
    now = now or timezone.now()
    filters = filters or Filters()
    base = filters.apply(Ticket.objects.visible_to(user))
    counts = tab_counts(base, user, now)
    page = max(1, page)
    start = (page - 1) * PAGE_SIZE
    rows = list(
        base.filter(_tab_q(user, tab, now))
        .select_related("category", "owner_region", "grid", "owner_user")
        # The list shows names, not shapes: decoding two GeoJSON boundaries per row cost more
        # than the rest of the page.
        .defer("description", "attributes", "owner_region__boundary", "grid__boundary")
        .order_by("-created_at", "-id")[start : start + PAGE_SIZE + 1]
    )
    return InboxPage(
        tab=tab,
        rows=rows[:PAGE_SIZE],
        number=page,
        has_next=len(rows) > PAGE_SIZE,
        counts=counts,
        filters=filters,
        now=now,
    )


def triage_queue(user: Any, *, page: int = 1) -> InboxPage:
    """待分拨: tickets in the triage queue the user can see (the dispatchers' list)."""
    now = timezone.now()
    base = Ticket.objects.visible_to(user).filter(state=State.TRIAGE)
    start = (max(1, page) - 1) * PAGE_SIZE
    rows = list(
        base.select_related("category", "owner_region").order_by("created_at", "id")[
            start : start + PAGE_SIZE + 1
        ]
    )
    return InboxPage(
        tab="triage",
        rows=rows[:PAGE_SIZE],
        number=max(1, page),
        has_next=len(rows) > PAGE_SIZE,
        counts={"triage": _capped_count(base)},
        filters=Filters(),
        now=now,
        tabs=[],
    )


def is_dispatcher(user: Any) -> bool:
    return bool(
        user.is_superuser
        or any(p.role in (Role.COMMAND_CENTER, Role.ADMIN) for p in active_posts(user))
    )


# ---------------------------------------------------------------------------------------------
# Options of the action forms


def category_choices() -> list[tuple[Any, Any]]:
    """Second-level categories grouped under their first level, for a <select>."""
    groups: dict[int, tuple[str, list[tuple[str, str]]]] = {}
    cats = Category.objects.filter(is_active=True).select_related("parent").order_by("sort", "code")
    for cat in cats:
        if cat.parent_id is None:
            groups.setdefault(cat.pk, (cat.name, []))
    for cat in cats:
        if cat.parent_id is not None and cat.parent_id in groups:
            groups[cat.parent_id][1].append((str(cat.pk), cat.name))
    return [(name, children) for name, children in groups.values() if children]


_first_levels: Memo[list[Category]] = Memo("first-level-categories", max_age=60.0, watch=[Category])


def first_level_categories() -> list[Category]:
    """The inbox filter's categories: memoised per process (every inbox page shows them)."""
    return _first_levels.get(
        "all",
        lambda: list(Category.objects.filter(parent__isnull=True, is_active=True).order_by("sort")),
    )


def _grouped_regions(regions: list[Region]) -> list[tuple[Any, Any]]:
    """Regions grouped by their parent's name, for a <select>."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for r in regions:
        parent = r.parent.name if r.parent is not None else "—"
        groups.setdefault(parent, []).append((str(r.pk), r.name))
    return list(groups.items())


GRID_LEVELS: list[str] = [RegionLevel.GRID, RegionLevel.MICRO_GRID]


def assign_region_choices(user: Any) -> list[tuple[Any, Any]]:
    """Where a dispatcher may assign: the grids and communities in their scope."""
    regions = list(
        Region.objects.visible_to(user)
        .filter(level__in=[RegionLevel.GRID, RegionLevel.COMMUNITY])
        .select_related("parent")
        .order_by("path")
    )
    return _grouped_regions(regions)


def transfer_region_choices(user: Any, ticket: Ticket) -> list[tuple[Any, Any]]:
    """Where a ticket may be transferred: same-level units in the user's scope or under the
    same parent as its current owner."""
    current = ticket.owner_region
    if current is None:
        return []
    levels: list[str] = GRID_LEVELS if current.level in GRID_LEVELS else [current.level]
    same_level = Region.objects.filter(level__in=levels)
    qs = (
        same_level.filter(parent_id=current.parent_id)
        | same_level.filter(pk__in=Region.objects.visible_to(user).values("pk"))
    ).exclude(pk=current.pk)
    return _grouped_regions(list(qs.select_related("parent").order_by("path")))


def department_choices(user: Any, ticket: Ticket) -> list[tuple[str, str]]:
    """Departments a ticket may be dispatched to: those the user can see and those sitting at
    the ticket's region or any region above it (the district's and the city's)."""
    target = ticket.owner_region or ticket.grid
    codes = target.ancestor_codes() if target is not None else []
    qs = Department.objects.filter(region__code__in=codes) | Department.objects.filter(
        pk__in=Department.objects.visible_to(user).values("pk")
    )
    return [(str(d.pk), d.name) for d in qs.distinct().order_by("region__path", "code")]


# ---------------------------------------------------------------------------------------------
# Residents


def building_for_report(token: str) -> Building:
    building = (
        Building.objects.select_related("grid__parent", "estate").filter(qr_token=token).first()
    )
    if building is None:
        raise NotFound("二维码无效或楼栋不存在")
    return building


def ticket_for_reporter(*, number: str, phone: str) -> Ticket:
    """The ticket a resident follows by number + the phone they gave. One error for a wrong
    number and a wrong phone: the answer must not tell whether the number exists."""
    number = (number or "").strip().upper()
    phone = "".join((phone or "").split())
    ticket = Ticket.objects.filter(number=number).first() if number else None
    stored = ticket.reporter_phone if ticket is not None else ""
    # Compare in constant time even when the number is unknown.
    matches = hmac.compare_digest(stored.encode(), phone.encode()) and bool(stored)
    if ticket is None or not matches:
        raise JiayuanError("工单编号或联系电话不正确", code="not_found", field="phone")
    return ticket


def tracked_ticket(ticket_id: int) -> Ticket:
    ticket = (
        Ticket.objects.select_related("category", "grid__parent", "building", "merged_into")
        .filter(pk=ticket_id)
        .first()
    )
    if ticket is None:
        raise NotFound("工单不存在")
    return ticket


def reporter_actions(ticket: Ticket) -> list[str]:
    """What the reporter can do now on the follow-up page."""
    actions = []
    if ticket.state == State.RESOLVED:
        actions.append("rate")
    if ticket.state in RULES["cancel"].sources:
        actions.append("cancel")
    return actions


# ---------------------------------------------------------------------------------------------
# Bulk assignment (批量分拨)
