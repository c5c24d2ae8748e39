"""Reads behind the dashboard pages (数据看板) and the command-centre big screen (指挥中心大屏).

Figures come from the rollups (``selectors``); the two lists of *current* tickets (超期, 督办)
and the big screen's live counts come from the ticket table through the scoping gate
(``Ticket.objects.visible_to(user)``), with indexed filters and capped counts.

Who may open what: a region node through ``access_region`` (the gate: missing and out of scope
are the same 404), a department through ``Department.objects.visible_to(user)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from jiayuan.core.errors import NotFound
from jiayuan.core.scoping import PATH_SEP, subtree_q
from jiayuan.regions.models import Region
from jiayuan.regions.selectors import access_region
from jiayuan.staff.choices import Role
from jiayuan.staff.models import Department
from jiayuan.staff.selectors import active_posts
from jiayuan.stats import selectors
from jiayuan.stats.selectors import NodeRow, Point, RankedDepartment, Summary
from jiayuan.tickets.choices import OPEN_STATES, AssignmentState, Level, State
from jiayuan.tickets.models import Category, Ticket, TicketAssignment, TicketEvent

LIST_PREVIEW = 10  # rows of each current-ticket list on the dashboard itself
LIST_PAGE = 50
COUNT_CAP = 1000  # a list's count stops here ("1000+")
WAITING_STATES = [State.TRIAGE, State.ASSIGNED, State.CALLED_UP, State.DISPATCHED]
LIST_KINDS = {"overdue": "超期工单", "supervised": "督办工单"}
RANKING_ENDS = 10  # a long 红黑榜 shows its first and last ten rows
LADDER_LEVELS = [Level.GRID, Level.COMMUNITY, Level.STREET, Level.DISTRICT, Level.DEPARTMENT]


@dataclass(frozen=True)
class Filters:
    """A dashboard's period ``[start, end)`` (days, Asia/Shanghai) and its filters."""

    start: dt.date
    end: dt.date
    category: Category | None = None
    channel: str = ""
    bucket: str = "day"

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    def rollup_args(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "category": self.category,
            "channel": self.channel or None,
        }


def auto_bucket(days: int) -> str:
    """Days up to a month, weeks up to a quarter and a half, months beyond."""
    if days <= 31:
        return "day"
    if days <= 120:
        return "week"
    return "month"


# ---------------------------------------------------------------------------------------------
# Who sees which dashboard


def may_see_dashboards(user: Any) -> bool:
    """Staff posts (not residents) at a region node or a department."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    return any(p.role != Role.RESIDENT for p in active_posts(user))


def may_see_screen(user: Any) -> bool:
    """The wall display is the command centre's (and the administrators')."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(
        user.is_superuser
        or any(p.role in (Role.COMMAND_CENTER, Role.ADMIN) for p in active_posts(user))
    )


def home_target(user: Any) -> tuple[str, int]:
    """Where ``/stats/`` leads: the user's highest region node, else their department.
    ``NotFound`` for users without a staff post."""
    if not may_see_dashboards(user):
        raise NotFound()
    regions = [
        p.region for p in active_posts(user) if p.region is not None and p.role != Role.RESIDENT
    ]
    if regions:
        top = min(regions, key=lambda r: (r.path.count(PATH_SEP), r.path))
        return "region", top.pk
    if user.is_superuser:
        root = Region.objects.filter(parent__isnull=True).order_by("code").first()
        if root is not None:
            return "region", root.pk
    departments = [p.department for p in active_posts(user) if p.department is not None]
    if departments:
        return "department", departments[0].pk
    raise NotFound()


def access_dashboard_region(user: Any, pk: Any) -> Region:
    """A region node whose dashboard the user may open (``NotFound`` otherwise)."""
    if not may_see_dashboards(user):
        raise NotFound()
    return access_region(user, pk)


def access_dashboard_department(user: Any, pk: Any) -> Department:
    if not may_see_dashboards(user):
        raise NotFound()
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound() from None
    department = Department.objects.visible_to(user).filter(pk=pk).first()
    if department is None:
        raise NotFound()
    return department


def breadcrumbs(user: Any, region: Region) -> list[Region]:
    """The node's ancestors the user may open, from the top, without the node itself."""
    codes = region.path.split(PATH_SEP)[:-1]
    if not codes:
        return []
    return list(Region.objects.visible_to(user).filter(code__in=codes).order_by("path"))


# ---------------------------------------------------------------------------------------------
# Current-ticket lists (超期, 督办)


def _node_q(region: Region) -> Q:
    """Tickets located or owned in the node's subtree, as a prefix match on purpose.

    The lists and the big screen look for few rows among many (open and overdue, open at a
    level, received today): the plan must start from the state, deadline or date index. Written
    as ranges (``subtree_q``), the two path conditions invite SQLite to read every ticket of the
    subtree through both path indexes (1.7 s for the city's 超期 count at 100,000 tickets); as
    ``LIKE 'path.%'`` they are a filter on the rows the selective index found."""
    q = Q(pk__in=[])
    for column in ("grid_path", "owner_path"):
        q |= Q(**{column: region.path}) | Q(**{f"{column}__startswith": region.path + PATH_SEP})
    return q


def _department_q(department: Department) -> Q:
    return Q(
        pk__in=TicketAssignment.objects.filter(department=department)
        .exclude(state=AssignmentState.RETURNED)
        .values("ticket_id")
    )


def _kind_q(kind: str, now: dt.datetime) -> Q:
    open_q = Q(state__in=OPEN_STATES)
    if kind == "overdue":
        return open_q & (Q(state__in=WAITING_STATES, accept_due__lt=now) | Q(resolve_due__lt=now))
    if kind == "supervised":
        return open_q & Q(supervised=True)
    raise NotFound()


def current_tickets(
    user: Any,
    *,
    kind: str,
    region: Region | None = None,
    department: Department | None = None,
    now: dt.datetime | None = None,
) -> QuerySet[Ticket]:
    """Open tickets of a node (located or owned in its subtree) or of a department that are
    overdue now (超期: past the acceptance or resolution deadline) or under supervision (督办),
    oldest deadline first; through the gate."""
    now = now or timezone.now()
    where = _node_q(region) if region is not None else _department_q(department)  # type: ignore[arg-type]
    return (
        Ticket.objects.visible_to(user)
        .filter(where)
        .filter(_kind_q(kind, now))
        .select_related("category__parent", "grid", "owner_region")
        .order_by("resolve_due", "id")
    )


@dataclass
class TicketList:
    kind: str
    rows: list[Ticket]
    count: int  # capped at COUNT_CAP + 1

    @property
    def title(self) -> str:
        return LIST_KINDS[self.kind]

    @property
    def count_label(self) -> str:
        return f"{COUNT_CAP}+" if self.count > COUNT_CAP else str(self.count)


def ticket_list(
    user: Any,
    *,
    kind: str,
    region: Region | None = None,
    department: Department | None = None,
    offset: int = 0,
    limit: int = LIST_PREVIEW,
) -> TicketList:
    qs = current_tickets(user, kind=kind, region=region, department=department)
    count = qs.order_by()[: COUNT_CAP + 1].count()
    return TicketList(kind=kind, rows=list(qs[offset : offset + limit]), count=count)


# ---------------------------------------------------------------------------------------------
# The dashboards


@dataclass
class RegionDashboard:
    region: Region
    filters: Filters
    summary: Summary
    children: list[NodeRow]
    departments: list[RankedDepartment]
    series: list[Point]
    first_level: list[tuple[str, int]]
    lists: list[TicketList]
    crumbs: list[Region] = field(default_factory=list)

    @property
    def measures(self) -> Any:
        return self.summary.measures

    @property
    def department_rows(self) -> list[tuple[int, RankedDepartment]]:
        """红黑榜 on the page: every department when they are few, else the first and the last
        ``RANKING_ENDS`` (the whole ranking is in the export)."""
        ranked = list(enumerate(self.departments, 1))
        if len(ranked) <= 2 * RANKING_ENDS:
            return ranked
        return ranked[:RANKING_ENDS] + ranked[-RANKING_ENDS:]

    @property
    def departments_hidden(self) -> int:
        return len(self.departments) - len(self.department_rows)


@dataclass
class DepartmentDashboard:
    department: Department
    filters: Filters
    summary: Summary
    series: list[Point]
    lists: list[TicketList]

    @property
    def measures(self) -> Any:
        return self.summary.measures


def departments_of(region: Region) -> QuerySet[Department]:
    """The departments ranked on a node's dashboard: those sitting at the node or below it."""
    return Department.objects.filter(subtree_q("region__path", [region.path])).order_by("code")


def region_dashboard(user: Any, *, region: Region, filters: Filters) -> RegionDashboard:
    args = filters.rollup_args()
    summary = selectors.node_summary(region=region, **args)
    # The first-level list from the summary's categories: the same as top_categories(level=1)
    # but under the category filter too (a filtered page shows that category's family).
    return RegionDashboard(
        region=region,
        filters=filters,
        summary=summary,
        children=selectors.child_table(region=region, **args),
        departments=selectors.department_rankings(departments=departments_of(region), **args),
        series=selectors.series(region=region, bucket=filters.bucket, **args),
        first_level=summary.first_level(),
        lists=[ticket_list(user, kind=k, region=region) for k in LIST_KINDS],
        crumbs=breadcrumbs(user, region),
    )


def department_dashboard(
    user: Any, *, department: Department, filters: Filters
) -> DepartmentDashboard:
    args = filters.rollup_args()
    return DepartmentDashboard(
        department=department,
        filters=filters,
        summary=selectors.department_summary(department=department, **args),
        series=selectors.series(department=department, bucket=filters.bucket, **args),
        lists=[ticket_list(user, kind=k, department=department) for k in LIST_KINDS],
    )


def map_values(rows: list[NodeRow]) -> dict[str, dict[str, Any]]:
    """Per child node, what the dashboard map colours by (受理量, 超期率) and shows on hover."""
    return {
        str(r.region.pk): {
            "name": r.region.name,
            "received": r.measures.received,
            "overdue": r.extra.overdue,
            "overdue_rate": r.extra.overdue_rate(r.measures.received),
            "resolution_rate": r.measures.resolution_rate,
        }
        for r in rows
    }


# ---------------------------------------------------------------------------------------------
# The big screen (指挥中心大屏)


def screen_region(user: Any, pk: Any = None) -> Region:
    """The node on the wall: ``pk`` if given (through the gate), else the user's top node."""
    if not may_see_dashboards(user):
        raise NotFound()
    if pk not in (None, ""):
        return access_region(user, pk)
    kind, top = home_target(user)
    if kind != "region":
        raise NotFound()
    return access_region(user, top)


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def screen_data(user: Any, *, region: Region, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the wall shows, as JSON: today's intake and resolutions, tickets now at each rung
    of the ladder (下呼上应 in motion), overdue and supervised now, the last 30 days' measures,
    daily intake and top categories, and the children's figures for the map."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    midnight = timezone.make_aware(dt.datetime.combine(today, dt.time()))
    tickets = Ticket.objects.visible_to(user).filter(_node_q(region))
    received_today = tickets.filter(created_at__gte=midnight).exclude(
        state__in=[State.MERGED, State.CANCELLED]
    )
    # Driven by the partial index on resolve events (ticketevent_resolve_at): today's resolve
    # events, then their tickets in scope.
    resolved_today = tickets.filter(
        pk__in=TicketEvent.objects.filter(action="resolve", at__gte=midnight).values("ticket_id")
    )
    ladder = dict(
        tickets.filter(state__in=OPEN_STATES)
        .order_by()
        .values_list("level")
        .annotate(n=Count("pk"))
        .values_list("level", "n")
    )
    start = today - dt.timedelta(days=29)
    end = today + dt.timedelta(days=1)
    summary = selectors.node_summary(region=region, start=start, end=end)
    days = selectors.series(region=region, start=start, end=end)
    children = selectors.child_table(region=region, start=start, end=end)
    m = summary.measures
    labels = dict(Level.choices)
    return {
        "region": {"id": region.pk, "name": region.name, "level": region.level},
        "now": timezone.localtime(now).strftime("%Y-%m-%d %H:%M:%S"),
        "today": {
            "received": received_today.count(),
            "resolved": resolved_today.count(),
        },
        "ladder": [
            {"level": lv.value, "label": labels[lv], "open": ladder.get(lv.value, 0)}
            for lv in LADDER_LEVELS
        ],
        "open": sum(ladder.values()),
        "overdue": _capped(current_tickets(user, kind="overdue", region=region, now=now)),
        "supervised": _capped(current_tickets(user, kind="supervised", region=region, now=now)),
        "period": {"start": start.isoformat(), "end": today.isoformat()},
        "measures": {
            "received": m.received,
            "resolved": m.resolved,
            "resolution_rate": _rate(m.resolution_rate),
            "on_time_rate": _rate(m.on_time_rate),
            "satisfaction_rate": _rate(m.satisfaction_rate),
            "solved_rate": _rate(m.solved_rate),
            "grid_share": _rate(m.grid_share),
            "community_share": _rate(m.community_share),
        },
        "daily": [{"day": p.start.isoformat(), "received": p.measures.received} for p in days],
        "top_categories": [{"name": n, "count": c} for n, c in m.top_categories],
        "hot_estates": [{"name": n, "count": c} for n, c in m.hot_estates],
        "children": [
            {
                "id": r.region.pk,
                "name": r.region.name,
                "received": r.measures.received,
                "overdue": r.extra.overdue,
                "overdue_rate": _rate(r.extra.overdue_rate(r.measures.received)),
                "resolution_rate": _rate(r.measures.resolution_rate),
            }
            for r in children
        ],
    }


def _capped(qs: QuerySet[Ticket]) -> int:
    return qs.order_by()[: COUNT_CAP + 1].count()
