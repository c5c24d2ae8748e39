"""Measures from the rollups (统计查询): the figures of ``tickets/measures.py`` for any node, any
department and any period of whole days, reading only the rollup rows of that node (never the
ticket table). Periods are ``[start, end)`` in days (Asia/Shanghai); a datetime is accepted when
it is a local midnight.

``category`` filters by a category (a first-level one includes its children) and ``channel`` by
intake channel; 高投诉小区 (``hot_estates``) is kept per node × day × estate only, so it ignores
both filters.

A period reads its whole months from the month rollups and only its ragged ends from the day
rows (``split_period``), so a year costs about 12 rows per key instead of 365.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet, Sum, Value
from django.utils import timezone

from jiayuan.regions.models import Estate, Region
from jiayuan.staff.models import Department
from jiayuan.stats.models import (
    COUNTERS,
    DAY_ROWS_ONLY,
    DepartmentDay,
    DepartmentDayTotal,
    DepartmentMonth,
    DepartmentMonthTotal,
    EstateDay,
    EstateMonth,
    RegionDay,
    RegionDayTotal,
    RegionMonth,
    RegionMonthTotal,
)
from jiayuan.tickets.measures import TOP, Measures, Ranked
from jiayuan.tickets.models import Category

Day = dt.date | dt.datetime
BUCKETS = ("day", "week", "month")


@dataclass(frozen=True)
class RankedDepartment:
    department: Department
    measures: Measures


@dataclass(frozen=True)
class Point:
    """One bucket of a series: the day it starts and the measures of its tickets."""

    start: dt.date
    measures: Measures


def as_day(value: Day) -> dt.date:
    """A period bound as a local date; a datetime must be a local midnight."""
    if isinstance(value, dt.datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        if local.time() != dt.time(0, 0):
            raise ValueError("rollups are per day: a period must start and end at 00:00")
        return local.date()
    return value


# Each rollup kind: its day rows and its month rows (``day`` = the month's 1st).
LEVELS: dict[str, tuple[type[Any], type[Any]]] = {
    "region": (RegionDay, RegionMonth),
    "region_total": (RegionDayTotal, RegionMonthTotal),
    "department": (DepartmentDay, DepartmentMonth),
    "department_total": (DepartmentDayTotal, DepartmentMonthTotal),
    "estate": (EstateDay, EstateMonth),
}


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def split_period(
    start: Day, end: Day
) -> tuple[list[tuple[dt.date, dt.date]], tuple[dt.date, dt.date] | None]:
    """``[start, end)`` as the whole months it covers (read from the month rows) and the days
    around them (read from the day rows)."""
    first, last = as_day(start), as_day(end)
    month_start = first if first.day == 1 else _next_month(first)
    month_end = last.replace(day=1)
    if month_start >= month_end:
        return ([(first, last)] if first < last else []), None
    edges = [(first, month_start)] if first < month_start else []
    if month_end < last:
        edges.append((month_end, last))
    return edges, (month_start, month_end)


def _row_sets(
    kind: str, start: Day, end: Day, where: Q, *, days_only: bool = False
) -> list[QuerySet[Any]]:
    """The query sets whose rows add up to ``[start, end)``: day rows for each ragged end and
    month rows for the whole months (at most three sets); with ``days_only``, day rows for the
    whole period (nodes of ``DAY_ROWS_ONLY`` levels have no month rows)."""
    day_model, month_model = LEVELS[kind]
    if days_only:
        first, last = as_day(start), as_day(end)
        return (
            [day_model.objects.filter(where, day__gte=first, day__lt=last)] if first < last else []
        )
    edges, months = split_period(start, end)
    sets: list[QuerySet[Any]] = []
    # One set per range: an OR of two day ranges next to ``region_id IN (…)`` makes SQLite
    # give up the (key, day) index range and read every day of the keys.
    for a, b in edges:
        sets.append(day_model.objects.filter(where, day__gte=a, day__lt=b))
    if months:
        sets.append(month_model.objects.filter(where, day__gte=months[0], day__lt=months[1]))
    return sets


def _union(parts: list[QuerySet[Any]]) -> Iterable[dict[str, Any]]:
    """The rows of several grouped sets in one query (``UNION ALL``): a period's day edges and
    whole months cost one round trip instead of three."""
    if not parts:
        return []
    return parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]


def _sum(sets: list[QuerySet[Any]], sums: dict[str, Any]) -> dict[str, int]:
    # A constant as the "group": one row of sums per set (no GROUP BY), even over no rows.
    parts = [qs.order_by().values(_one=Value(1)).annotate(**sums) for qs in sets]
    total: dict[str, int] = {name: 0 for name in sums}
    for row in _union(parts):
        for name in sums:
            total[name] += row[name] or 0
    return total


def _grouped(
    sets: list[QuerySet[Any]], field: str, sums: dict[str, Any]
) -> dict[Any, dict[str, int]]:
    """Sums per value of ``field`` across the sets."""
    groups: dict[Any, dict[str, int]] = {}
    for row in _union([qs.order_by().values(field).annotate(**sums) for qs in sets]):
        into = groups.setdefault(row.pop(field), {})
        for name, value in row.items():
            into[name] = into.get(name, 0) + (value or 0)
    return groups


def _sets(
    kind: str,
    start: Day,
    end: Day,
    key: Q,
    category: Category | None,
    channel: str | None,
    *,
    by_category: bool = False,
    days_only: bool = False,
) -> list[QuerySet[Any]]:
    """The row sets of ``kind`` ("region" or "department") for ``key`` over the period: the
    totals (one row per key and day or month) unless a filter or a grouping by category needs
    the rows per category × channel, or the keys are nodes with day rows only (``days_only``:
    their day rows over the whole period)."""
    if days_only:
        return _row_sets(kind, start, end, key & _filters(category, channel), days_only=True)
    if category is None and not channel and not by_category:
        return _row_sets(f"{kind}_total", start, end, key)
    return _row_sets(kind, start, end, key & _filters(category, channel))


def _filters(category: Category | None, channel: str | None) -> Q:
    q = Q()
    if category is not None:
        ids = [category.pk]
        if category.parent_id is None:
            ids += list(Category.objects.filter(parent=category).values_list("pk", flat=True))
        q &= Q(category_pk__in=ids)
    if channel:
        q &= Q(channel=channel)
    return q


SUMS = {name: Sum(name) for name in COUNTERS}


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _mean_hours(seconds: int, count: int) -> float | None:
    return seconds / count / 3600 if count else None


def measures_from(
    counts: dict[str, Any],
    top_categories: list[tuple[str, int]] | None = None,
    hot_estates: list[tuple[str, int]] | None = None,
) -> Measures:
    """A ``Measures`` from summed counters (missing or None sums count as 0)."""
    c = {name: int(counts.get(name) or 0) for name in COUNTERS}
    received, resolved = c["received"], c["resolved"]
    return Measures(
        received=received,
        resolved=resolved,
        resolution_rate=_rate(resolved, received),
        on_time_resolved=c["on_time"],
        on_time_rate=_rate(c["on_time"], resolved),
        rated=c["rated"],
        satisfied=c["satisfied"],
        satisfaction_rate=_rate(c["satisfied"], c["rated"]),
        default_satisfied=c["default_satisfied"],
        solved=c["solved"],
        solved_rate=_rate(c["solved"], received),
        mean_first_response_hours=_mean_hours(
            c["first_response_seconds"], c["first_response_count"]
        ),
        mean_resolution_hours=_mean_hours(c["resolution_seconds"], c["resolution_count"]),
        resolved_in_grid=c["in_grid"],
        grid_share=_rate(c["in_grid"], resolved),
        resolved_in_community=c["in_community"],
        community_share=_rate(c["in_community"], resolved),
        top_categories=top_categories or [],
        hot_estates=hot_estates or [],
    )


@dataclass(frozen=True)
class Extra:
    """Counters the rollups keep beyond ``Measures``: tickets that went overdue (超期, the SLA
    sweeper acted) and tickets ever supervised (督办)."""

    overdue: int
    supervised: int

    @classmethod
    def of(cls, counts: dict[str, Any]) -> Extra:
        return cls(
            overdue=int(counts.get("overdue") or 0), supervised=int(counts.get("supervised") or 0)
        )

    def overdue_rate(self, received: int) -> float | None:
        """超期率: the share of received tickets that went overdue."""
        return _rate(self.overdue, received)


@dataclass(frozen=True)
class Summary:
    """A node's or a department's measures and extra counters, from one pass over its rows;
    ``categories``: received per category pk (for the first-level list without another pass)."""

    measures: Measures
    extra: Extra
    categories: dict[int, int] = field(default_factory=dict)

    def first_level(self, limit: int = TOP) -> list[tuple[str, int]]:
        """高频诉求分类 by first-level category (``top_categories(level=1)``)."""
        return _first_level(self.categories, limit)


@dataclass(frozen=True)
class NodeRow:
    """One line of a ranking table: a child node, its measures and its extra counters."""

    region: Region
    measures: Measures
    extra: Extra


def _top_from(grouped: dict[Any, dict[str, int]], limit: int = TOP) -> list[tuple[str, int]]:
    counts = {pk: c["n"] for pk, c in grouped.items() if pk and c.get("n")}
    if not counts:
        return []
    names = {c.pk: c for c in Category.objects.filter(pk__in=counts)}
    ranked = sorted(
        ((names[pk], n) for pk, n in counts.items() if pk in names),
        key=lambda item: (-item[1], item[0].code),
    )
    return [(c.name, n) for c, n in ranked[:limit]]


def _region_sets(
    region: Region,
    start: Day,
    end: Day,
    category: Category | None,
    channel: str | None,
    *,
    by_category: bool = False,
) -> list[QuerySet[Any]]:
    return _sets(
        "region",
        start,
        end,
        Q(region_id=region.pk),
        category,
        channel,
        by_category=by_category,
        days_only=region.level in DAY_ROWS_ONLY,
    )


def node_summary(
    *,
    region: Region,
    start: Day,
    end: Day,
    category: Category | None = None,
    channel: str | None = None,
    with_top: bool = True,
) -> Summary:
    """Measures and extra counters of a node (its whole subtree) over the tickets received in
    ``[start, end)``; with the top categories and 高投诉小区 unless ``with_top`` is False."""
    sets = _region_sets(region, start, end, category, channel)
    counts = _sum(sets, SUMS)
    top: list[tuple[str, int]] = []
    estates: list[tuple[str, int]] = []
    categories: dict[int, int] = {}
    if with_top:
        per_category = _region_sets(region, start, end, category, channel, by_category=True)
        grouped = _grouped(per_category, "category_pk", {"n": Sum("received")})
        categories = {pk: c["n"] for pk, c in grouped.items() if pk and c["n"]}
        top = _top_from(grouped)
        estates = hot_estates(region=region, start=start, end=end)
    return Summary(measures_from(counts, top, estates), Extra.of(counts), categories)


def node_measures(
    *,
    region: Region,
    start: Day,
    end: Day,
    category: Category | None = None,
    channel: str | None = None,
) -> Measures:
    """The measures of a node (its whole subtree) over the tickets received in ``[start, end)``
    (``tickets.measures.region_measures`` from the rollups)."""
    return node_summary(
        region=region, start=start, end=end, category=category, channel=channel
    ).measures


def node_extra(
    *,
    region: Region,
    start: Day,
    end: Day,
    category: Category | None = None,
    channel: str | None = None,
) -> Extra:
    sets = _region_sets(region, start, end, category, channel)
    return Extra.of(_sum(sets, {"overdue": Sum("overdue"), "supervised": Sum("supervised")}))


def _department_sets(
    department: Department,
    start: Day,
    end: Day,
    category: Category | None,
    channel: str | None,
    *,
    by_category: bool = False,
) -> list[QuerySet[Any]]:
    key = Q(department_id=department.pk)
    return _sets("department", start, end, key, category, channel, by_category=by_category)


def department_summary(
    *,
    department: Department,
    start: Day,
    end: Day,
    category: Category | None = None,
    channel: str | None = None,
) -> Summary:
    """Measures (with top categories) and extra counters of a department over the tickets
    dispatched to it in ``[start, end)``."""
    counts = _sum(_department_sets(department, start, end, category, channel), SUMS)
    per_category = _department_sets(department, start, end, category, channel, by_category=True)
    top = _top_from(_grouped(per_category, "category_pk", {"n": Sum("received")}))
    return Summary(measures_from(counts, top), Extra.of(counts))


def department_measures(
    *,
    department: Department,
    start: Day,
    end: Day,
    category: Category | None = None,
    channel: str | None = None,
) -> Measures:
    """The measures of a department over the tickets dispatched to it in ``[start, end)``."""
    return department_summary(
        department=department, start=start, end=end, category=category, channel=channel
    ).measures


def _rank_key(code: str, m: Measures) -> tuple[bool, float, int, str]:
    return (m.resolution_rate is None, -(m.resolution_rate or 0.0), -m.received, code)


def child_table(
    *,
    region: Region,
    start: Day,
    end: Day,
    category: Category | None = None,
    channel: str | None = None,
) -> list[NodeRow]:
    """红黑榜 of the direct children of ``region`` with their extra counters: best 办结率 first,
    then most received, then code; children without tickets last."""
    children = list(Region.objects.filter(parent=region).order_by("code"))
    key = Q(region_id__in=[c.pk for c in children])
    days_only = any(c.level in DAY_ROWS_ONLY for c in children)
    sets = _sets("region", start, end, key, category, channel, days_only=days_only)
    sums = _grouped(sets, "region_id", SUMS) if children else {}
    rows = [
        NodeRow(c, measures_from(sums.get(c.pk, {})), Extra.of(sums.get(c.pk, {})))
        for c in children
    ]
    rows.sort(key=lambda r: _rank_key(r.region.code, r.measures))
    return rows


def child_rankings(
    *,
    region: Region,
    start: Day,
    end: Day,
    category: Category | None = None,
    channel: str | None = None,
) -> list[Ranked]:
    """红黑榜 of the direct children of ``region`` (as ``tickets.measures.child_rankings``,
    without the two top lists)."""
    return [
        Ranked(r.region, r.measures)
        for r in child_table(
            region=region, start=start, end=end, category=category, channel=channel
        )
    ]


def department_rankings(
    *,
    departments: Iterable[Department],
    start: Day,
    end: Day,
    category: Category | None = None,
    channel: str | None = None,
) -> list[RankedDepartment]:
    """红黑榜 of departments, ordered as ``child_rankings``."""
    departments = list(departments)
    sums: dict[Any, dict[str, int]] = {}
    if departments:
        key = Q(department_id__in=[d.pk for d in departments])
        sets = _sets("department", start, end, key, category, channel)
        sums = _grouped(sets, "department_id", SUMS)
    ranked = [RankedDepartment(d, measures_from(sums.get(d.pk, {}))) for d in departments]
    ranked.sort(key=lambda r: _rank_key(r.department.code, r.measures))
    return ranked


def _bucket(day: dt.date, bucket: str) -> dt.date:
    if bucket == "week":
        return day - dt.timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def series(
    *,
    start: Day,
    end: Day,
    region: Region | None = None,
    department: Department | None = None,
    bucket: str = "day",
    category: Category | None = None,
    channel: str | None = None,
) -> list[Point]:
    """Measures per day, week (from Monday) or month of ``[start, end)`` for a node or a
    department; buckets without tickets are present with zeros, the first and last may be
    partial. Monthly series read the month rows for whole months."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {BUCKETS}")
    first, last = as_day(start), as_day(end)
    totals: dict[dt.date, dict[str, int]] = {}
    day = first
    while day < last:
        totals.setdefault(_bucket(day, bucket), {})
        day += dt.timedelta(days=1)
    days_only = False
    if department is not None:
        kind, where = "department", Q(department_id=department.pk)
    elif region is not None:
        kind, where = "region", Q(region_id=region.pk)
        days_only = region.level in DAY_ROWS_ONLY
    else:
        raise ValueError("series of a region or of a department")
    if category is None and not channel and not days_only:
        kind = f"{kind}_total"
    else:
        where &= _filters(category, channel)
    if bucket == "month" and not days_only:
        sets = _row_sets(kind, first, last, where)
    else:
        sets = [LEVELS[kind][0].objects.filter(where, day__gte=first, day__lt=last)]
    for day, counts in _grouped(sets, "day", SUMS).items():
        into = totals[_bucket(day, bucket)]
        for name, value in counts.items():
            into[name] = into.get(name, 0) + value
    return [Point(day, measures_from(counts)) for day, counts in sorted(totals.items())]


def top_categories(
    *,
    region: Region,
    start: Day,
    end: Day,
    level: int = 2,
    limit: int = TOP,
    channel: str | None = None,
) -> list[tuple[str, int]]:
    """高频诉求分类 of a node: the ticket's own category (``level=2``) or its first-level
    category (``level=1``), most received first, ties by code."""
    sets = _region_sets(region, start, end, None, channel, by_category=True)
    grouped = _grouped(sets, "category_pk", {"n": Sum("received")})
    if level == 2:
        return _top_from(grouped, limit)
    return _first_level({pk: c["n"] for pk, c in grouped.items() if pk}, limit)


def _first_level(per_category: dict[int, int], limit: int) -> list[tuple[str, int]]:
    counts: dict[Category, int] = {}
    by_pk = {c.pk: c for c in Category.objects.select_related("parent")}
    for pk, n in per_category.items():
        cat = by_pk.get(pk)
        if cat is None or not n:
            continue
        top = cat.parent or cat
        counts[top] = counts.get(top, 0) + n
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0].code))
    return [(c.name, n) for c, n in ranked[:limit]]


def hot_estates(*, region: Region, start: Day, end: Day, limit: int = TOP) -> list[tuple[str, int]]:
    """高投诉小区 of a node: the estates with the most received tickets, ties by estate code."""
    sets = _row_sets("estate", start, end, Q(region_id=region.pk))
    counts = {
        pk: c["n"]
        for pk, c in _grouped(sets, "estate_id", {"n": Sum("received")}).items()
        if c["n"]
    }
    if not counts:
        return []
    # Every estate at or above the limit-th count, so that ties are cut by code.
    cut = sorted(counts.values(), reverse=True)[:limit][-1]
    candidates = {pk: n for pk, n in counts.items() if n >= cut}
    estates = {e.pk: e for e in Estate.objects.filter(pk__in=candidates)}
    ranked = sorted(
        ((estates[pk], n) for pk, n in candidates.items() if pk in estates),
        key=lambda item: (-item[1], item[0].code),
    )
    return [(e.name, n) for e, n in ranked[:limit]]
