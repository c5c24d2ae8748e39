"""Measures on a hand-built week with known answers (Mon 2026-11-23 … Sun 11-29)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest

from jiayuan.regions.models import Building, Estate
from jiayuan.tickets.measures import (
    Measures,
    child_rankings,
    department_measures,
    region_measures,
)
from jiayuan.tickets.models import Category, SlaPolicy, Ticket
from jiayuan.tickets.services import ticket_create
from jiayuan.tickets.workflow import transition

pytestmark = pytest.mark.django_db
SH = zoneinfo.ZoneInfo("Asia/Shanghai")
START = dt.datetime(2026, 11, 23, tzinfo=SH)
END = dt.datetime(2026, 11, 30, tzinfo=SH)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=SH)


def new(world: Any, building: str, category: str, created: dt.datetime) -> Ticket:
    return ticket_create(
        channel="qr",
        title="诉求",
        description="诉求内容",
        building=world.buildings[building],
        reporter_phone="13900000001",
        category=Category.objects.get(code=category),
        created_at=created,
    ).ticket


@pytest.fixture
def week(world: Any) -> dict[str, Ticket]:
    """Six tickets received in the week, one withdrawn, two outside it (see each comment)."""
    SlaPolicy.objects.filter(region__isnull=True, category__isnull=True).update(max_reopen=0)
    e1 = Estate.objects.get(code="E1")  # 友谊小区
    e2 = Estate.objects.create(code="E2", name="建昌小区", community=world.r("comm_a2"))
    Building.objects.filter(
        pk__in=[world.buildings["a1_1"].pk, world.buildings["a1_1b"].pk]
    ).update(estate=e1)
    Building.objects.filter(pk=world.buildings["a2_1"].pk).update(estate=e2)
    for key in ("a1_1", "a1_1b", "a2_1"):
        world.buildings[key].refresh_from_db()
    gw, sec, street, admin = (
        world.users[u] for u in ("grid_worker", "community_secretary", "street_officer", "admin")
    )
    housing = world.departments["housing"]

    # T1: answered in the grid: 1 h to accept, 4 h to resolve, 满意.
    t1 = new(world, "a1_1", "property", at(23, 10))
    transition(t1, "accept", actor=gw, now=at(23, 11))
    transition(t1, "resolve", actor=gw, now=at(23, 14), result="已修复")
    transition(t1, "rate", as_reporter=True, now=at(24, 10), rating="satisfied")

    # T2: called up to the community, resolved Wed 12:00: after the grid's deadline (Wed 10:00)
    # but before the community's (Wed 13:00), the one in force: on time. 基本满意.
    t2 = new(world, "a1_1", "property", at(23, 10))
    transition(t2, "accept", actor=gw, now=at(23, 12))
    transition(t2, "call_up", actor=gw, now=at(23, 13), note="需社区协调")
    transition(t2, "respond", actor=sec, now=at(24, 10))
    transition(t2, "resolve", actor=sec, now=at(25, 12), result="已协调")
    transition(t2, "rate", as_reporter=True, now=at(25, 15), rating="basic")

    # T3: late (due Thu 09:00, resolved Fri 09:00), never rated: archived 默认满意.
    t3 = new(world, "a1_2", "noise", at(24, 9))
    transition(t3, "accept", actor=admin, now=at(24, 12))
    transition(t3, "resolve", actor=admin, now=at(27, 9), result="已劝导")
    transition(t3, "archive", system=True, now=at(28, 10))

    # T4: resolved in 6 h, rated 不满意 with no reopening left: closed unsatisfied.
    t4 = new(world, "a2_1", "noise", at(25, 10))
    transition(t4, "accept", actor=admin, now=at(25, 10, 30))
    transition(t4, "resolve", actor=admin, now=at(25, 16), result="已处理")
    transition(t4, "rate", as_reporter=True, now=at(26, 10), rating="unsatisfied")

    # T5: in street B, not yet accepted.
    t5 = new(world, "b1_1", "property", at(26, 10))

    # T8: up the ladder to the housing department, resolved there in 24 h, 满意.
    t8 = new(world, "a1_1b", "property", at(23, 10))
    transition(t8, "accept", actor=gw, now=at(23, 11))
    transition(t8, "call_up", actor=gw, now=at(23, 11, 30), note="需社区协调")
    transition(t8, "respond", actor=sec, now=at(23, 12))
    transition(t8, "call_up", actor=sec, now=at(23, 12, 30), note="需街道协调")
    transition(t8, "respond", actor=street, now=at(23, 13))
    transition(t8, "dispatch", actor=street, now=at(23, 14), lead=housing.pk)
    transition(t8, "dept_accept", actor=world.users["department_officer"], now=at(23, 15))
    transition(
        t8, "dept_finish", actor=world.users["department_officer"], now=at(24, 10), result="已修"
    )
    transition(t8, "rate", as_reporter=True, now=at(24, 12), rating="satisfied")

    # Not received: withdrawn (撤销), the Friday before, and the first instant after the week.
    t6 = new(world, "a1_1", "property", at(23, 10))
    transition(t6, "cancel", as_reporter=True, now=at(23, 10, 30))
    new(world, "a1_1", "property", dt.datetime(2026, 11, 20, 10, tzinfo=SH))
    new(world, "a1_1", "property", END)
    return {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "t5": t5, "t8": t8}


def test_district_measures_of_the_week(world, week, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        m = region_measures(region=world.r("district"), start=START, end=END)
    assert m == Measures(
        received=6,
        resolved=5,
        resolution_rate=5 / 6,
        on_time_resolved=4,
        on_time_rate=4 / 5,
        rated=4,
        satisfied=3,
        satisfaction_rate=3 / 4,
        default_satisfied=1,
        solved=4,
        solved_rate=4 / 6,
        mean_first_response_hours=1.5,  # (1 + 2 + 3 + 0.5 + 1) / 5
        mean_resolution_hours=31.2,  # (4 + 50 + 72 + 6 + 24) / 5
        resolved_in_grid=3,
        grid_share=3 / 5,
        resolved_in_community=4,
        community_share=4 / 5,
        top_categories=[("物业管理", 4), ("噪音扰民", 2)],
        hot_estates=[("友谊小区", 3), ("建昌小区", 1)],
    )


def test_community_measures_cover_its_grids_only(world, week):
    m = region_measures(region=world.r("comm_a1"), start=START, end=END)
    assert (m.received, m.resolved, m.on_time_resolved, m.rated, m.satisfied) == (4, 4, 3, 3, 3)
    assert (m.resolution_rate, m.on_time_rate, m.satisfaction_rate, m.solved_rate) == (
        1.0,
        3 / 4,
        1.0,
        1.0,
    )
    assert m.mean_first_response_hours == 7 / 4
    assert m.hot_estates == [("友谊小区", 3)]


def test_rates_without_a_denominator_are_none(world, week):
    m = region_measures(region=world.r("grid_a1_1"), start=END, end=END + dt.timedelta(days=7))
    assert m == Measures(
        received=1,
        resolution_rate=0.0,
        solved_rate=0.0,
        top_categories=[("物业管理", 1)],
        hot_estates=[("友谊小区", 1)],
    )  # the ticket of the instant the week ends
    assert region_measures(region=world.r("grid_a1_2"), start=END, end=END) == Measures()


def test_children_are_ranked_by_resolution_rate(world, week):
    ranked = child_rankings(region=world.r("district"), start=START, end=END)
    assert [(r.region.name, r.measures.received, r.measures.resolution_rate) for r in ranked] == [
        ("向阳街道", 5, 1.0),
        ("毓璜顶街道", 1, 0.0),
    ]
    empty = child_rankings(region=world.r("street_b"), start=START, end=START)
    assert [(r.region.name, r.measures.received) for r in empty] == [("毓西社区", 0)]


def test_department_measures_count_what_was_dispatched_to_it(world, week):
    m = department_measures(department=world.departments["housing"], start=START, end=END)
    assert (m.received, m.resolved, m.on_time_resolved, m.rated, m.satisfied) == (1, 1, 1, 1, 1)
    assert (m.resolved_in_grid, m.resolved_in_community, m.grid_share) == (0, 0, 0.0)
    assert m.mean_resolution_hours == 24.0
    assert (
        department_measures(
            department=world.departments["housing"], start=END, end=END + dt.timedelta(days=1)
        )
        == Measures()
    )
