"""Measures of the pipeline (考核指标) for any region node or department over a period
``[start, end)``: 办结率, 按期办结率, 满意率, 化解率, mean time to first response and to
resolution, 小事不出网格 / 大事不出社区 shares, top categories and 高投诉小区.

Every definition is in ``docs/measures.md``; in short:

- the tickets *received* by a node are those created in the period whose grid lies in the node's
  subtree (unlocated ones: whose owner region does), merged duplicates (合并) and tickets the
  reporter withdrew (撤销) left out; a department's are those dispatched to it in the period (主办
  or 协办, not returned);
- states and ratings are taken as they stand when the measures are computed;
- a rate is ``None`` when its denominator is 0, a mean ``None`` when nothing was measured.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet

from jiayuan.core.scoping import subtree_q
from jiayuan.regions.models import Region
from jiayuan.staff.models import Department
from jiayuan.tickets.choices import Level, Rating, State
from jiayuan.tickets.models import Ticket, TicketAssignment, TicketEvent

RESOLVED_STATES = [State.RESOLVED, State.CLOSED, State.ARCHIVED]
FINISHED_STATES = [State.CLOSED, State.ARCHIVED]
NOT_RECEIVED = [State.MERGED, State.CANCELLED]
TOP = 5


@dataclass(frozen=True)
class Measures:
    received: int = 0
    resolved: int = 0
    resolution_rate: float | None = None  # 办结率
    on_time_resolved: int = 0
    on_time_rate: float | None = None  # 按期办结率
    rated: int = 0
    satisfied: int = 0
    satisfaction_rate: float | None = None  # 满意率
    default_satisfied: int = 0  # 逾期未评价默认满意 (not in 满意率)
    solved: int = 0
    solved_rate: float | None = None  # 化解率
    mean_first_response_hours: float | None = None  # 平均首次响应时长
    mean_resolution_hours: float | None = None  # 平均办结时长
    resolved_in_grid: int = 0
    grid_share: float | None = None  # 小事不出网格
    resolved_in_community: int = 0
    community_share: float | None = None  # 大事不出社区
    top_categories: list[tuple[str, int]] = field(default_factory=list)
    hot_estates: list[tuple[str, int]] = field(default_factory=list)  # 高投诉小区

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class Ranked:
    region: Region
    measures: Measures


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _mean_hours(pairs: list[tuple[dt.datetime, dt.datetime]]) -> float | None:
    if not pairs:
        return None
    seconds = sum((end - begin).total_seconds() for begin, end in pairs)
    return seconds / len(pairs) / 3600


def region_tickets(*, region: Region, start: dt.datetime, end: dt.datetime) -> QuerySet[Ticket]:
    """The tickets a node received in ``[start, end)`` (see the module docstring)."""
    located = subtree_q("grid_path", [region.path])
    unlocated = Q(grid__isnull=True) & subtree_q("owner_path", [region.path])
    return (
        Ticket.objects.filter(located | unlocated)
        .filter(created_at__gte=start, created_at__lt=end)
        .exclude(state__in=NOT_RECEIVED)
    )


def department_tickets(
    *, department: Department, start: dt.datetime, end: dt.datetime
) -> QuerySet[Ticket]:
    """The tickets dispatched to a department in ``[start, end)`` and not returned by it."""
    dispatched = TicketAssignment.objects.filter(
        department=department, created_at__gte=start, created_at__lt=end
    ).exclude(state="returned")
    return Ticket.objects.filter(pk__in=dispatched.values("ticket_id")).exclude(
        state__in=NOT_RECEIVED
    )


def measures_of(tickets: QuerySet[Ticket]) -> Measures:
    """The measures of any set of tickets (four queries)."""
    default_archive = TicketEvent.objects.filter(
        ticket=OuterRef("pk"), action="archive", data__default_rating=True
    )
    resolved_q = Q(state__in=RESOLVED_STATES)
    rated_q = Q(state__in=FINISHED_STATES) & ~Q(rating="") & Q(default_archived=False)
    counts = tickets.alias(default_archived=Exists(default_archive)).aggregate(
        received=Count("pk"),
        resolved=Count("pk", filter=resolved_q),
        on_time=Count(
            "pk",
            filter=resolved_q
            & Q(resolved_at__isnull=False, resolve_due__isnull=False)
            & Q(resolved_at__lte=F("resolve_due")),
        ),
        rated=Count("pk", filter=rated_q),
        satisfied=Count("pk", filter=rated_q & Q(rating__in=[Rating.SATISFIED, Rating.BASIC])),
        defaulted=Count("pk", filter=Q(default_archived=True)),
        solved=Count("pk", filter=Q(state__in=FINISHED_STATES) & ~Q(rating=Rating.UNSATISFIED)),
        in_grid=Count("pk", filter=resolved_q & Q(resolved_level=Level.GRID)),
        in_community=Count(
            "pk", filter=resolved_q & Q(resolved_level__in=[Level.GRID, Level.COMMUNITY])
        ),
    )
    times = list(
        tickets.filter(Q(accepted_at__isnull=False) | Q(resolved_at__isnull=False)).values_list(
            "created_at", "accepted_at", "resolved_at", "state"
        )
    )
    first = [(c, a) for c, a, _, _ in times if a is not None]
    done = [(c, r) for c, _, r, s in times if r is not None and s in RESOLVED_STATES]
    categories = (
        tickets.filter(category__isnull=False)
        .values("category__name", "category__code")
        .annotate(n=Count("pk"))
        .order_by("-n", "category__code")[:TOP]
    )
    estates = (
        tickets.filter(building__estate__isnull=False)
        .values("building__estate__name", "building__estate__code")
        .annotate(n=Count("pk"))
        .order_by("-n", "building__estate__code")[:TOP]
    )
    received, resolved = counts["received"], counts["resolved"]
    return Measures(
        received=received,
        resolved=resolved,
        resolution_rate=_rate(resolved, received),
        on_time_resolved=counts["on_time"],
        on_time_rate=_rate(counts["on_time"], resolved),
        rated=counts["rated"],
        satisfied=counts["satisfied"],
        satisfaction_rate=_rate(counts["satisfied"], counts["rated"]),
        default_satisfied=counts["defaulted"],
        solved=counts["solved"],
        solved_rate=_rate(counts["solved"], received),
        mean_first_response_hours=_mean_hours(first),
        mean_resolution_hours=_mean_hours(done),
        resolved_in_grid=counts["in_grid"],
        grid_share=_rate(counts["in_grid"], resolved),
        resolved_in_community=counts["in_community"],
        community_share=_rate(counts["in_community"], resolved),
        top_categories=[(row["category__name"], row["n"]) for row in categories],
        hot_estates=[(row["building__estate__name"], row["n"]) for row in estates],
    )


def region_measures(*, region: Region, start: dt.datetime, end: dt.datetime) -> Measures:
    """The measures of one node of the tree (its whole subtree) over ``[start, end)``."""
    return measures_of(region_tickets(region=region, start=start, end=end))


def department_measures(
    *, department: Department, start: dt.datetime, end: dt.datetime
) -> Measures:
    """The measures of one department over the tickets dispatched to it in ``[start, end)``."""
    return measures_of(department_tickets(department=department, start=start, end=end))


def child_rankings(*, region: Region, start: dt.datetime, end: dt.datetime) -> list[Ranked]:
    """The measures of each direct child of ``region``, best 办结率 first (then most received,
    then code); children without tickets come last."""
    children = list(Region.objects.filter(parent=region).order_by("code"))
    ranked = [Ranked(c, region_measures(region=c, start=start, end=end)) for c in children]
    ranked.sort(
        key=lambda r: (
            r.measures.resolution_rate is None,
            -(r.measures.resolution_rate or 0.0),
            -r.measures.received,
            r.region.code,
        )
    )
    return ranked
