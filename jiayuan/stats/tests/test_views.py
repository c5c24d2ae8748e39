"""The dashboard pages, their exports and the big screen, on the hand-built week of
``tickets/tests/test_measures.py`` (Mon 2026-11-23 … Sun 11-29): hand-computed figures, scoping
(out of scope is a 404), filters, drill-down, Excel content and formula-injection safety."""

from __future__ import annotations

import datetime as dt
import io
import json
import zoneinfo
from typing import Any

import pytest
import time_machine
from openpyxl import load_workbook

from jiayuan.staff.models import Department
from jiayuan.stats.services import stats_update
from jiayuan.tickets.models import Category, Ticket
from jiayuan.tickets.services import ticket_create
from jiayuan.tickets.tests.test_measures import week  # noqa: F401 (fixture)
from jiayuan.tickets.workflow import transition

pytestmark = pytest.mark.django_db
SH = zoneinfo.ZoneInfo("Asia/Shanghai")
WEEK = "period=custom&start=2026-11-23&end=2026-11-29"
AFTER_WEEK = dt.datetime(2026, 12, 10, 9, tzinfo=SH)  # every deadline of the week is past


def region_url(world: Any, key: str, query: str = WEEK) -> str:
    return f"/stats/region/{world.r(key).pk}/?{query}"


def sheet(response: Any) -> list[tuple[Any, ...]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return [tuple(row) for row in book.active.iter_rows(values_only=True)]


@pytest.fixture
def rolled(world, week):  # noqa: F811
    stats_update()
    return week


def test_district_dashboard_shows_the_hand_computed_figures(world, rolled, login):
    client = login("command_center")
    response = client.get(region_url(world, "district"))
    assert response.status_code == 200
    board = response.context["board"]
    m = board.measures
    assert (m.received, m.resolved, m.on_time_resolved, m.rated, m.satisfied) == (6, 5, 4, 4, 3)
    assert (m.solved, m.resolved_in_grid, m.resolved_in_community) == (4, 3, 4)
    assert (m.mean_first_response_hours, round(m.mean_resolution_hours, 6)) == (1.5, 31.2)
    assert m.top_categories == [("物业管理", 4), ("噪音扰民", 2)]
    assert m.hot_estates == [("友谊小区", 3), ("建昌小区", 1)]
    assert (board.summary.extra.overdue, board.summary.extra.supervised) == (0, 1)
    assert [
        (r.region.name, r.measures.received, r.measures.resolution_rate) for r in board.children
    ] == [
        ("向阳街道", 5, 1.0),
        ("毓璜顶街道", 1, 0.0),
    ]
    assert [(d.department.code, d.measures.received) for d in board.departments] == [("zfcj", 1)]
    assert [p.measures.received for p in board.series] == [3, 1, 1, 1, 0, 0, 0]
    assert board.first_level == [("城乡建设", 4), ("环境保护", 2)]
    html = response.content.decode()
    for shown in ("83.3%", "80.0%", "75.0%", "66.7%", "1.5 小时", "31.2 小时", "60.0%"):
        assert shown in html  # 办结率 5/6, 按期 4/5, 满意 3/4, 化解 4/6, 小事不出网格 3/5
    charts = response.context["charts"]
    assert charts["series"]["received"] == [3, 1, 1, 1, 0, 0, 0]
    assert charts["map"][str(world.r("street_a").pk)]["received"] == 5


def test_the_dashboard_reads_a_fixed_number_of_queries(
    world, rolled, login, django_assert_max_num_queries
):
    client = login("command_center")
    client.get(region_url(world, "city"))  # warm the per-process caches
    with django_assert_max_num_queries(30):
        assert client.get(region_url(world, "city")).status_code == 200


def test_stats_home_opens_the_users_top_node(world, rolled, login):
    assert login("command_center").get("/stats/").url == f"/stats/region/{world.r('city').pk}/"
    assert login("street_officer").get("/stats/?period=7").url == (
        f"/stats/region/{world.r('street_a').pk}/?period=7"
    )
    assert login("department_officer").get("/stats/").url == (
        f"/stats/department/{world.departments['housing'].pk}/"
    )


@pytest.mark.parametrize(
    ("user", "node", "status"),
    [
        ("grid_worker", "city", 404),
        ("grid_worker", "district", 404),
        ("grid_worker", "grid_a1_1", 200),
        ("grid_worker", "grid_a1_2", 404),
        ("community_secretary", "comm_a1", 200),
        ("community_secretary", "comm_a2", 404),
        ("street_officer", "street_a", 200),
        ("street_officer", "comm_a2", 200),
        ("street_officer", "grid_a2_1", 200),
        ("street_officer", "street_b", 404),
        ("street_officer", "district", 404),
        ("command_center", "grid_b1_1", 200),
        ("resident", "grid_a1_2", 404),
        ("outsider", "city", 404),
    ],
)
def test_a_post_sees_its_own_node_and_below(world, rolled, login, user, node, status):
    client = login(user)
    pk = world.r(node).pk
    assert client.get(region_url(world, node)).status_code == status
    assert client.get(f"/stats/region/{pk}/export/measures.xlsx").status_code == status
    assert client.get(f"/stats/region/{pk}/list/overdue/").status_code == status


def test_a_missing_node_and_an_anonymous_visitor(world, client, login):
    assert client.get("/stats/region/1/").status_code == 302  # to the login page
    assert login("command_center").get("/stats/region/999999/").status_code == 404
    assert login("resident").get("/stats/").status_code == 404


def test_department_dashboards_are_scoped(world, rolled, login):
    housing = world.departments["housing"]
    other = Department.objects.create(
        code="other", name="莱山区住建局", short_name="住建", region=world.r("city")
    )
    officer = login("department_officer")
    response = officer.get(f"/stats/department/{housing.pk}/?{WEEK}")
    assert response.status_code == 200
    m = response.context["board"].measures
    assert (m.received, m.resolved, m.satisfied, m.mean_resolution_hours) == (1, 1, 1, 24.0)
    assert officer.get(f"/stats/department/{other.pk}/").status_code == 404
    assert login("grid_worker").get(f"/stats/department/{housing.pk}/").status_code == 404
    assert login("command_center").get(f"/stats/department/{other.pk}/").status_code == 200


def test_street_officer_drills_from_his_street_to_a_grid(world, rolled, login):
    client = login("street_officer")
    page = client.get(region_url(world, "street_a")).content.decode()
    comm = world.r("comm_a1")
    link = f'href="/stats/region/{comm.pk}/?{WEEK.replace("&", "&amp;")}"'
    assert link in page  # the ranking keeps the filters
    board = client.get(region_url(world, "comm_a1")).context["board"]
    assert [c.name for c in board.crumbs] == ["向阳街道"]  # not the district: out of his scope
    assert [(r.region.name, r.measures.received) for r in board.children] == [
        ("友谊街社区第一网格", 3),
        ("友谊街社区第二网格", 1),
    ]
    grid = client.get(region_url(world, "grid_a1_1")).context["board"]
    assert (grid.measures.received, grid.children) == (3, [])
    # The map of the community draws its grids from the grid map's GeoJSON, in scope.
    geo = client.get(f"/map/grids.geojson?parent={comm.pk}").json()
    assert {f["properties"]["id"] for f in geo["features"]} == {
        world.r("grid_a1_1").pk,
        world.r("grid_a1_2").pk,
    }


def test_filters_category_channel_and_periods(world, rolled, login):
    client = login("command_center")
    noise = Category.objects.get(code="noise")
    by_category = client.get(region_url(world, "city", f"{WEEK}&category={noise.pk}"))
    assert by_category.context["board"].measures.received == 2
    first_level = client.get(region_url(world, "city", f"{WEEK}&category={noise.parent_id}"))
    assert first_level.context["board"].measures.received == 2
    assert (
        client.get(region_url(world, "city", f"{WEEK}&channel=web"))
        .context["board"]
        .measures.received
        == 0
    )
    monthly = client.get(region_url(world, "city", f"{WEEK}&bucket=month")).context["board"]
    assert [(p.start, p.measures.received) for p in monthly.series] == [(dt.date(2026, 11, 1), 6)]
    with time_machine.travel(dt.datetime(2026, 11, 29, 20, tzinfo=SH), tick=False):
        client = login("command_center")  # sessions last 8 hours
        week_preset = client.get(region_url(world, "city", "period=7")).context["board"]
        assert (week_preset.filters.start, week_preset.filters.end) == (
            dt.date(2026, 11, 23),
            dt.date(2026, 11, 30),
        )
        assert week_preset.measures.received == 6
        assert client.get(region_url(world, "city", "")).context["board"].filters.days == 30


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("period=custom&start=2026-11-29&end=2026-11-23", "开始日期不能晚于结束日期"),
        ("period=custom&start=2026-11-23", "自定义周期请填写开始日期和结束日期"),
        ("period=custom&start=2000-01-01&end=2026-11-23", "统计周期最长十年"),
        ("period=12", "统计周期"),
        ("channel=fax", "来源渠道"),
    ],
)
def test_bad_filters_answer_400_with_a_chinese_message(world, login, query, message):
    response = login("command_center").get(region_url(world, "city", query))
    assert response.status_code == 400
    assert message in response.content.decode()


def test_exports_hold_the_dashboard_tables(world, rolled, login):
    client = login("command_center")
    base = f"/stats/region/{world.r('district').pk}/export"
    measures = dict(sheet(client.get(f"{base}/measures.xlsx?{WEEK}")))
    assert (measures["受理量"], measures["办结率"], measures["满意率"]) == (6, 0.8333, 0.75)
    assert (measures["平均办结时长(小时)"], measures["督办"]) == (31.2, 1)
    children = sheet(client.get(f"{base}/children.xlsx?{WEEK}"))
    assert children[0][:5] == ("名次", "区域", "编码", "受理量", "办结量")
    assert [row[:5] for row in children[1:]] == [
        (1, "向阳街道", "370602001000", 5, 5),
        (2, "毓璜顶街道", "370602002000", 1, 0),
    ]
    assert sheet(client.get(f"{base}/categories.xlsx?{WEEK}"))[1:] == [
        ("物业管理", 4),
        ("噪音扰民", 2),
    ]
    assert sheet(client.get(f"{base}/estates.xlsx?{WEEK}"))[1:] == [
        ("友谊小区", 3),
        ("建昌小区", 1),
    ]
    assert [r[:2] for r in sheet(client.get(f"{base}/departments.xlsx?{WEEK}"))[1:]] == [
        (1, "芝罘区住房和城乡建设局")
    ]
    series = sheet(client.get(f"{base}/series.xlsx?{WEEK}"))
    assert [(r[0].date(), r[1]) for r in series[1:4]] == [
        (dt.date(2026, 11, 23), 3),
        (dt.date(2026, 11, 24), 1),
        (dt.date(2026, 11, 25), 1),
    ]
    assert client.get(f"{base}/nothing.xlsx").status_code == 404


def test_lists_and_their_exports_are_current_tickets_and_formula_safe(world, rolled, login):
    evil = ticket_create(
        channel="web",
        title='=HYPERLINK("http://evil.example","点我")',
        description="内容",
        building=world.buildings["a2_1"],
        reporter_phone="13900000002",
        category=Category.objects.get(code="noise"),
        created_at=dt.datetime(2026, 11, 27, 9, tzinfo=SH),
    ).ticket
    transition(
        evil,
        "supervise",
        actor=world.users["command_center"],
        now=dt.datetime(2026, 11, 27, 10, tzinfo=SH),
        days=1,
    )
    stats_update()
    with time_machine.travel(AFTER_WEEK, tick=False):
        client = login("street_officer")
        page = client.get(region_url(world, "street_a")).context["board"]
        overdue, supervised = page.lists
        assert (overdue.kind, supervised.kind) == ("overdue", "supervised")
        assert {t.number for t in overdue.rows} == {evil.number, *_open_in_street_a()}
        assert [t.number for t in supervised.rows] == [evil.number]
        rows = sheet(client.get(f"/stats/region/{world.r('street_a').pk}/export/supervised.xlsx"))
        full = client.get(f"/stats/region/{world.r('street_a').pk}/list/overdue/?page=1")
    assert rows[0][:3] == ("工单编号", "标题", "状态")
    assert rows[1][0] == evil.number
    assert rows[1][1] == "'" + evil.title  # text, never a formula
    assert evil.number in full.content.decode()
    # The grid of street B is not his: its ticket is in no list of his.
    t5 = rolled["t5"]
    assert t5.number not in {t.number for t in overdue.rows}


def _open_in_street_a() -> set[str]:
    return set(
        Ticket.objects.filter(
            grid_path__startswith="370600000000.370602000000.370602001000",
            state__in=["triage", "assigned", "in_progress", "called_up", "dispatched"],
        ).values_list("number", flat=True)
    )


def test_the_big_screen_json(world, rolled, login):
    with time_machine.travel(dt.datetime(2026, 11, 30, 12, tzinfo=SH), tick=False):
        client = login("command_center")
        page = client.get("/stats/screen/")
        data = client.get("/stats/screen/data.json").json()
    assert page.status_code == 200
    assert 'data-refresh="30"' in page.content.decode()
    assert data["region"]["name"] == "烟台市"
    # Today: the ticket of the instant the week ends (Mon 30th 00:00).
    assert data["today"] == {"received": 1, "resolved": 0}
    # Open now, all at the grid: T5, the Friday-before ticket and today's.
    assert data["open"] == 3
    assert {lv["level"]: lv["open"] for lv in data["ladder"]} == {
        "grid": 3,
        "community": 0,
        "street": 0,
        "district": 0,
        "department": 0,
    }
    assert data["overdue"] == 2  # T5 and the Friday-before ticket are past their acceptance
    assert data["supervised"] == 0
    assert data["period"] == {"start": "2026-11-01", "end": "2026-11-30"}
    assert data["measures"]["received"] == 8  # the week's 6, the Friday's and today's
    assert [c["name"] for c in data["children"]] == ["芝罘区"]
    assert json.dumps(data, ensure_ascii=False)


def test_the_big_screen_is_scoped(world, rolled, login):
    street = login("street_officer")
    assert street.get("/stats/screen/data.json").json()["region"]["name"] == "向阳街道"
    assert street.get(f"/stats/screen/data.json?region={world.r('city').pk}").status_code == 404
    assert login("resident").get("/stats/screen/").status_code == 404


def test_the_menu_links_to_the_dashboards(world, login):
    assert "数据看板" in login("grid_worker").get("/").content.decode()
    html = login("command_center").get("/").content.decode()
    assert "数据看板" in html and 'href="/stats/screen/"' in html
    assert 'href="/stats/screen/"' not in login("street_officer").get("/").content.decode()


def test_a_long_department_ranking_shows_its_two_ends():
    from jiayuan.stats.dashboard import Filters, RegionDashboard
    from jiayuan.stats.selectors import Extra, RankedDepartment, Summary
    from jiayuan.tickets.measures import Measures

    ranked = [RankedDepartment(Department(code=f"d{i:02d}"), Measures()) for i in range(25)]
    board = RegionDashboard(
        region=None,  # type: ignore[arg-type]
        filters=Filters(start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 2)),
        summary=Summary(Measures(), Extra(0, 0)),
        children=[],
        departments=ranked,
        series=[],
        first_level=[],
        lists=[],
    )
    assert [rank for rank, _ in board.department_rows] == [*range(1, 11), *range(16, 26)]
    assert board.departments_hidden == 5


def test_a_list_export_reads_a_fixed_number_of_queries(
    world, rolled, login, django_assert_max_num_queries
):
    for i in range(5):
        ticket_create(
            channel="web",
            title=f"诉求{i}",
            description="内容",
            building=world.buildings["a1_1"],
            reporter_phone="13900000002",
            category=Category.objects.get(code="noise"),
            created_at=dt.datetime(2026, 11, 27, 9, tzinfo=SH),
        )
    with time_machine.travel(AFTER_WEEK, tick=False):
        client = login("command_center")
        url = f"/stats/region/{world.r('city').pk}/export/overdue.xlsx"
        with django_assert_max_num_queries(12):
            rows = sheet(client.get(url))
    assert len(rows) == 1 + 8  # the five, T5, the Friday's and the one of the week's end
    assert rows[1][6] in ("环境保护/噪音扰民", "城乡建设/物业管理")
