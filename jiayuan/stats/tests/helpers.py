"""Test helpers: the whole content of the rollups, comparable across runs."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from jiayuan.regions.models import Region
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
    TicketFact,
    TicketFactDepartment,
)


def summed(
    model: Any,
    keys: tuple[str, ...],
    counters: tuple[str, ...],
    *,
    keep: int,
    month: bool,
    where: Q | None = None,
) -> list[tuple[Any, ...]]:
    """The rows of a rollup table (those matching ``where``) summed per their first ``keep``
    key fields (the day moved to the first of its month when ``month``), sorted like a table's
    rows."""
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in model.objects.filter(where or Q()).values_list(*keys, *counters):
        key = tuple(
            k.replace(day=1) if month and name == "day" else k
            for name, k in zip(keys[:keep], row, strict=False)
        )
        into = sums.setdefault(key, [0] * len(counters))
        for i, v in enumerate(row[len(keys) :]):
            into[i] += v
    return sorted((*k, *v) for k, v in sums.items())


def assert_months_sum_days() -> None:
    """Every month row is the sum of its day rows, every total the sum of its rows over
    categories and channels, and there is no other row: none at all for the nodes that keep
    day rows only (``DAY_ROWS_ONLY``)."""
    region_keys = ("region_id", "day", "category_pk", "channel")
    department_keys = ("department_id", "day", "category_pk", "channel")
    estate_keys = ("region_id", "day", "estate_id")
    fine = Region.objects.filter(level__in=DAY_ROWS_ONLY).values("pk")
    summarised = ~Q(region_id__in=fine)
    for source, target, keys, counters, keep, month, where in (
        (RegionDay, RegionMonth, region_keys, COUNTERS, 4, True, summarised),
        (DepartmentDay, DepartmentMonth, department_keys, COUNTERS, 4, True, None),
        (EstateDay, EstateMonth, estate_keys, ("received",), 3, True, None),
        (RegionDay, RegionDayTotal, region_keys, COUNTERS, 2, False, summarised),
        (RegionMonth, RegionMonthTotal, region_keys, COUNTERS, 2, False, None),
        (DepartmentDay, DepartmentDayTotal, department_keys, COUNTERS, 2, False, None),
        (DepartmentMonth, DepartmentMonthTotal, department_keys, COUNTERS, 2, False, None),
    ):
        got = sorted(target.objects.values_list(*keys[:keep], *counters))
        expected = summed(source, keys, counters, keep=keep, month=month, where=where)
        assert got == expected, target.__name__


def snapshot() -> dict[str, Any]:
    """The content of every rollup (checking on the way that the month rows sum the days)."""
    assert_months_sum_days()
    return {
        "regions": sorted(
            RegionDay.objects.values_list("region_id", "day", "category_pk", "channel", *COUNTERS)
        ),
        "departments": sorted(
            DepartmentDay.objects.values_list(
                "department_id", "day", "category_pk", "channel", *COUNTERS
            )
        ),
        "estates": sorted(
            EstateDay.objects.values_list("region_id", "day", "estate_id", "received")
        ),
        "facts": sorted(
            TicketFact.objects.values_list(
                "ticket_id",
                "region_id",
                "day",
                "category_pk",
                "channel",
                "estate_id",
                "flags",
                "first_response_seconds",
                "resolution_seconds",
            )
        ),
        "fact_departments": sorted(
            TicketFactDepartment.objects.values_list("ticket_id", "department_id", "day")
        ),
    }


def assert_same(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal field by field; means compared to 1e-9 (seconds are summed as integers)."""
    import pytest

    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-9), key
        else:
            assert got[key] == value, key
