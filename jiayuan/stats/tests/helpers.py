"""Test helpers: the whole content of the rollups, comparable across runs."""

from __future__ import annotations

from typing import Any

from jiayuan.stats.models import (
    COUNTERS,
    DepartmentDay,
    EstateDay,
    RegionDay,
    TicketFact,
    TicketFactDepartment,
)


def snapshot() -> dict[str, Any]:
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
