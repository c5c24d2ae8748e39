"""Rollup measures against ``tickets/measures.py`` and hand-computed answers on the hand-built
week of ``tickets/tests/test_measures.py`` (Mon 2026-11-23 … Sun 11-29)."""

from __future__ import annotations

import datetime as dt

import pytest

from jiayuan.stats import selectors
from jiayuan.stats.services import stats_rebuild, stats_update
from jiayuan.stats.tests.helpers import assert_same, snapshot
from jiayuan.tickets import measures
from jiayuan.tickets.models import Category
from jiayuan.tickets.tests.test_measures import END, START, week  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db
DAY0, DAY7 = dt.date(2026, 11, 23), dt.date(2026, 11, 30)


def test_district_figures_equal_the_hand_computed_ones(world, week):  # noqa: F811
    stats_update()
    m = selectors.node_measures(region=world.r("district"), start=DAY0, end=DAY7)
    assert (m.received, m.resolved, m.on_time_resolved, m.rated, m.satisfied) == (6, 5, 4, 4, 3)
    assert (m.default_satisfied, m.solved, m.resolved_in_grid, m.resolved_in_community) == (
        1,
        4,
        3,
        4,
    )
    assert m.mean_first_response_hours == 1.5
    assert m.mean_resolution_hours == pytest.approx(31.2)
    assert m.top_categories == [("物业管理", 4), ("噪音扰民", 2)]
    assert m.hot_estates == [("友谊小区", 3), ("建昌小区", 1)]


@pytest.mark.parametrize(
    "node", ["city", "district", "street_a", "street_b", "comm_a1", "comm_a2", "grid_a1_1"]
)
def test_every_node_equals_the_ticket_table_measures(world, week, node):  # noqa: F811
    stats_update()
    region = world.r(node)
    expected = measures.region_measures(region=region, start=START, end=END)
    got = selectors.node_measures(region=region, start=START, end=END)
    assert_same(got.as_dict(), expected.as_dict())


def test_department_and_rankings_equal_the_ticket_table_measures(world, week):  # noqa: F811
    stats_update()
    housing = world.departments["housing"]
    expected = measures.department_measures(department=housing, start=START, end=END)
    got = selectors.department_measures(department=housing, start=DAY0, end=DAY7)
    assert_same(got.as_dict(), expected.as_dict() | {"hot_estates": []})
    ranked = selectors.child_rankings(region=world.r("district"), start=DAY0, end=DAY7)
    expected_ranked = measures.child_rankings(region=world.r("district"), start=START, end=END)
    assert [r.region.code for r in ranked] == [r.region.code for r in expected_ranked]
    for got_r, exp_r in zip(ranked, expected_ranked, strict=True):
        exp = exp_r.measures.as_dict() | {"top_categories": [], "hot_estates": []}
        assert_same(got_r.measures.as_dict(), exp)
    (dept,) = selectors.department_rankings(departments=[housing], start=DAY0, end=DAY7)
    assert dept.measures.received == 1


def test_filters_series_and_top_lists(world, week):  # noqa: F811
    stats_update()
    city = world.r("city")
    noise = Category.objects.get(code="noise")
    environment = noise.parent
    assert selectors.node_measures(region=city, start=DAY0, end=DAY7, category=noise).received == 2
    assert (
        selectors.node_measures(region=city, start=DAY0, end=DAY7, category=environment).received
        == 2
    )
    assert selectors.node_measures(region=city, start=DAY0, end=DAY7, channel="web").received == 0
    days = selectors.series(region=city, start=DAY0, end=DAY7)
    assert [p.measures.received for p in days] == [3, 1, 1, 1, 0, 0, 0]
    (weekly,) = selectors.series(region=city, start=DAY0, end=DAY7, bucket="week")
    assert weekly.start == DAY0 and weekly.measures.received == 6
    assert selectors.top_categories(region=city, start=DAY0, end=DAY7, level=1) == [
        ("城乡建设", 4),
        ("环境保护", 2),
    ]
    extra = selectors.node_extra(region=city, start=DAY0, end=DAY7)
    assert (extra.overdue, extra.supervised) == (0, 1)  # T4: unsatisfied past the reopen limit


def test_a_period_must_be_whole_days(world):
    with pytest.raises(ValueError):
        selectors.node_measures(region=world.r("city"), start=START.replace(hour=8), end=END)


def test_a_second_pass_and_a_rebuild_change_nothing(world, week):  # noqa: F811
    first = stats_update()
    assert first.events > 0
    before = snapshot()
    again = stats_update()
    assert again.events == 0
    assert snapshot() == before
    stats_rebuild()
    assert snapshot() == before
