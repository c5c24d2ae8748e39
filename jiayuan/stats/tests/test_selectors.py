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


def test_split_period_reads_whole_months_from_the_month_rows():
    split = selectors.split_period
    assert split(dt.date(2026, 11, 23), dt.date(2026, 11, 30)) == (
        [(dt.date(2026, 11, 23), dt.date(2026, 11, 30))],
        None,
    )
    assert split(dt.date(2026, 11, 1), dt.date(2026, 12, 1)) == (
        [],
        (dt.date(2026, 11, 1), dt.date(2026, 12, 1)),
    )
    assert split(dt.date(2025, 12, 2), dt.date(2026, 12, 2)) == (
        [(dt.date(2025, 12, 2), dt.date(2026, 1, 1)), (dt.date(2026, 12, 1), dt.date(2026, 12, 2))],
        (dt.date(2026, 1, 1), dt.date(2026, 12, 1)),
    )
    assert split(dt.date(2026, 11, 5), dt.date(2026, 11, 5)) == ([], None)


@pytest.fixture
def months(world):
    """Tickets across three months (Oct–Dec 2026), at the edges of months included."""
    from jiayuan.regions.models import Building, Estate
    from jiayuan.tickets.tests.test_measures import SH, new
    from jiayuan.tickets.workflow import transition

    e1 = Estate.objects.get(code="E1")
    Building.objects.filter(pk=world.buildings["a1_1"].pk).update(estate=e1)
    world.buildings["a1_1"].refresh_from_db()
    admin = world.users["admin"]
    made = []
    for i, (month, day, hour, building) in enumerate(
        [
            (10, 15, 9, "a1_1"),
            (10, 31, 23, "a1_2"),
            (11, 1, 0, "a2_1"),
            (11, 15, 10, "a1_1"),
            (11, 30, 23, "b1_1"),
            (12, 1, 0, "a1_1"),
            (12, 20, 15, "a1_1b"),
        ]
    ):
        created = dt.datetime(2026, month, day, hour, 30, tzinfo=SH)
        ticket = new(world, building, "property" if i % 2 else "noise", created)
        if i % 3 != 2:
            transition(ticket, "accept", actor=admin, now=created + dt.timedelta(hours=1))
            transition(
                ticket, "resolve", actor=admin, now=created + dt.timedelta(hours=5), result="好"
            )
        made.append(ticket)
    return made


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ((2026, 10, 1), (2027, 1, 1)),  # whole months only
        ((2026, 10, 20), (2026, 12, 25)),  # ragged ends around November
        ((2026, 10, 31), (2026, 12, 2)),
        ((2026, 11, 1), (2026, 12, 1)),
    ],
)
def test_periods_over_months_equal_the_ticket_table(world, months, first, last):
    from jiayuan.tickets.tests.test_measures import SH

    stats_update()
    start, end = dt.date(*first), dt.date(*last)
    aware = [dt.datetime(d.year, d.month, d.day, tzinfo=SH) for d in (start, end)]
    for node in ("city", "street_a", "comm_a1", "grid_a1_1"):
        region = world.r(node)
        expected = measures.region_measures(region=region, start=aware[0], end=aware[1])
        got = selectors.node_measures(region=region, start=start, end=end)
        assert_same(got.as_dict(), expected.as_dict())
    ranked = selectors.child_rankings(region=world.r("street_a"), start=start, end=end)
    expected_ranked = measures.child_rankings(
        region=world.r("street_a"), start=aware[0], end=aware[1]
    )
    assert [(r.region.code, r.measures.received) for r in ranked] == [
        (r.region.code, r.measures.received) for r in expected_ranked
    ]
    monthly = selectors.series(region=world.r("city"), start=start, end=end, bucket="month")
    daily = selectors.series(region=world.r("city"), start=start, end=end, bucket="day")
    by_month: dict[dt.date, int] = {}
    for p in daily:
        by_month[p.start.replace(day=1)] = (
            by_month.get(p.start.replace(day=1), 0) + p.measures.received
        )
    assert {p.start: p.measures.received for p in monthly} == by_month


def test_grids_and_communities_keep_day_rows_only(world, months):
    """Month rows and totals only for the levels above the community; a grid's monthly series
    is then summed from its day rows and equals its daily one."""
    from jiayuan.stats.models import RegionDay, RegionDayTotal, RegionMonth, RegionMonthTotal

    stats_update()
    for node, summarised in (("grid_a1_1", False), ("comm_a1", False), ("street_a", True)):
        pk = world.r(node).pk
        assert RegionDay.objects.filter(region_id=pk).exists(), node
        for model in (RegionMonth, RegionDayTotal, RegionMonthTotal):
            assert model.objects.filter(region_id=pk).exists() is summarised, (node, model)
    start, end = dt.date(2026, 10, 1), dt.date(2027, 1, 1)
    grid = world.r("grid_a1_1")
    monthly = selectors.series(region=grid, start=start, end=end, bucket="month")
    daily = selectors.series(region=grid, start=start, end=end, bucket="day")
    by_month: dict[dt.date, int] = {}
    for p in daily:
        month = p.start.replace(day=1)
        by_month[month] = by_month.get(month, 0) + p.measures.received
    assert {p.start: p.measures.received for p in monthly} == by_month
    assert sum(by_month.values()) == 4  # a1_1 three times and a1_1b: all in grid a1_1


def test_the_migration_deletes_the_summaries_of_day_rows_only_nodes(world, months):
    import importlib

    from django.apps import apps

    from jiayuan.stats.models import RegionDay, RegionDayTotal, RegionMonth, RegionMonthTotal

    stats_update()
    grid, street = world.r("grid_a1_1").pk, world.r("street_a").pk
    day = dt.date(2026, 11, 1)
    for model in (RegionMonth, RegionDayTotal, RegionMonthTotal):  # as the old updater wrote
        extra = {"category_pk": 1, "channel": "qr"} if model is RegionMonth else {}
        model.objects.create(region_id=grid, day=day, received=1, **extra)
    street_rows = RegionMonthTotal.objects.filter(region_id=street).count()
    days = RegionDay.objects.count()
    migration = importlib.import_module("jiayuan.stats.migrations.0005_day_rows_only")
    migration.forwards(apps, None)
    for model in (RegionMonth, RegionDayTotal, RegionMonthTotal):
        assert not model.objects.filter(region_id=grid).exists()
    assert RegionMonthTotal.objects.filter(region_id=street).count() == street_rows > 0
    assert RegionDay.objects.count() == days
