"""Measures from the rollups (统计查询): the figures of ``tickets/measures.py`` for any node, any
department and any period of whole days, reading only the rollup rows of that node (never the
ticket table). Periods are ``[start, end)`` in days (Asia/Shanghai); a datetime is accepted when
it is a local midnight.

``category`` filters by a category (a first-level one includes its children) and ``channel`` by
intake channel; 高投诉小区 (``hot_estates``) is kept per node × day × estate only, so it ignores
both filters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from jiayuan.regions.models import Estate, Region
from jiayuan.staff.models import Department
from jiayuan.stats.models import COUNTERS, DepartmentDay, EstateDay, RegionDay
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


def _period(start: Day, end: Day) -> Q:
    return Q(day__gte=as_day(start), day__lt=as_day(end))


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


def _top_categories(rows: QuerySet[Any], limit: int = TOP) -> list[tuple[str, int]]:
    counts = {
        r["category_pk"]: r["n"]
        for r in rows.exclude(category_pk=0).values("category_pk").annotate(n=Sum("received"))
        if r["n"]
    }
    if not counts:
        return []
    names = {c.pk: c for c in Category.objects.filter(pk__in=counts)}
    ranked = sorted(
        ((names[pk], n) for pk, n in counts.items() if pk in names),
        key=lambda item: (-item[1], item[0].code),
    )
    return [(c.name, n) for c, n in ranked[:limit]]


def _region_rows(region: Region, start: Day, end: Day) -> QuerySet[RegionDay]:
    return RegionDay.objects.filter(_period(start, end), region_id=region.pk)


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
    rows = _region_rows(region, start, end).filter(_filters(category, channel))
    return measures_from(
        rows.aggregate(**SUMS),
        top_categories=_top_categories(rows),
        hot_estates=hot_estates(region=region, start=start, end=end),
    )


def node_extra(
    *,
    region: Region,
    start: Day,
    end: Day,
    category: Category | None = None,
    channel: str | None = None,
) -> Extra:
    sums = (
        _region_rows(region, start, end)
        .filter(_filters(category, channel))
        .aggregate(overdue=Sum("overdue"), supervised=Sum("supervised"))
    )
    return Extra(overdue=sums["overdue"] or 0, supervised=sums["supervised"] or 0)


def department_measures(
    *,
    department: Department,
    start: Day,
    end: Day,
    category: Category | None = None,
    channel: str | None = None,
) -> Measures:
    """The measures of a department over the tickets dispatched to it in ``[start, end)``."""
    rows = DepartmentDay.objects.filter(
        _period(start, end), _filters(category, channel), department_id=department.pk
    )
    return measures_from(rows.aggregate(**SUMS), top_categories=_top_categories(rows))


def _rank_key(code: str, m: Measures) -> tuple[bool, float, int, str]:
    return (m.resolution_rate is None, -(m.resolution_rate or 0.0), -m.received, code)


def child_rankings(
    *,
    region: Region,
    start: Day,
    end: Day,
    category: Category | None = None,
    channel: str | None = None,
) -> list[Ranked]:
    """红黑榜 of the direct children of ``region``: best 办结率 first, then most received, then
    code; children without tickets last (as ``tickets.measures.child_rankings``, without the
    two top lists)."""
    children = list(Region.objects.filter(parent=region).order_by("code"))
    sums = {
        row.pop("region_id"): row
        for row in RegionDay.objects.filter(
            _period(start, end),
            _filters(category, channel),
            region_id__in=[c.pk for c in children],
        )
        .values("region_id")
        .annotate(**SUMS)
    }
    ranked = [Ranked(c, measures_from(sums.get(c.pk, {}))) for c in children]
    ranked.sort(key=lambda r: _rank_key(r.region.code, r.measures))
    return ranked


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
    sums = {
        row.pop("department_id"): row
        for row in DepartmentDay.objects.filter(
            _period(start, end),
            _filters(category, channel),
            department_id__in=[d.pk for d in departments],
        )
        .values("department_id")
        .annotate(**SUMS)
    }
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
    region: Region,
    start: Day,
    end: Day,
    bucket: str = "day",
    category: Category | None = None,
    channel: str | None = None,
) -> list[Point]:
    """Measures per day, week (from Monday) or month of ``[start, end)``; buckets without
    tickets are present with zeros, the first and last may be partial."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {BUCKETS}")
    first, last = as_day(start), as_day(end)
    totals: dict[dt.date, dict[str, int]] = {}
    day = first
    while day < last:
        totals.setdefault(_bucket(day, bucket), {})
        day += dt.timedelta(days=1)
    rows = (
        _region_rows(region, first, last)
        .filter(_filters(category, channel))
        .values("day")
        .annotate(**SUMS)
    )
    for row in rows:
        into = totals[_bucket(row.pop("day"), bucket)]
        for name, value in row.items():
            into[name] = into.get(name, 0) + (value or 0)
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
    rows = _region_rows(region, start, end).filter(_filters(None, channel))
    if level == 2:
        return _top_categories(rows, limit)
    counts: dict[Category, int] = {}
    by_pk = {c.pk: c for c in Category.objects.select_related("parent")}
    for row in rows.exclude(category_pk=0).values("category_pk").annotate(n=Sum("received")):
        cat = by_pk.get(row["category_pk"])
        if cat is None or not row["n"]:
            continue
        top = cat.parent or cat
        counts[top] = counts.get(top, 0) + row["n"]
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0].code))
    return [(c.name, n) for c, n in ranked[:limit]]


def hot_estates(*, region: Region, start: Day, end: Day, limit: int = TOP) -> list[tuple[str, int]]:
    """高投诉小区 of a node: the estates with the most received tickets, ties by estate code."""
    per_estate = (
        EstateDay.objects.filter(_period(start, end), region_id=region.pk)
        .values("estate_id")
        .annotate(n=Sum("received"))
    )
    # The limit-th count first, then every estate at or above it, so ties are cut by code.
    cut = list(per_estate.order_by("-n").values_list("n", flat=True)[limit - 1 : limit])
    candidates = {
        r["estate_id"]: r["n"]
        for r in (per_estate.filter(n__gte=cut[0]) if cut else per_estate)
        if r["n"]
    }
    estates = {e.pk: e for e in Estate.objects.filter(pk__in=candidates)}
    ranked = sorted(
        ((estates[pk], n) for pk, n in candidates.items() if pk in estates),
        key=lambda item: (-item[1], item[0].code),
    )
    return [(e.name, n) for e, n in ranked[:limit]]
