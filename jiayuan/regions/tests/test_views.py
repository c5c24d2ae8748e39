"""The base-data pages: map, grid card, building board, lists, details, reveal and export.

Each test names the behaviour it pins; the world is ``jiayuan.core.testing.build_world``.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from jiayuan.core.masking import mask_id_number, mask_phone
from jiayuan.core.models import AccessLog
from jiayuan.core.testing import building
from jiayuan.party.models import OrgKind, PartyOrg
from jiayuan.regions import page_selectors
from jiayuan.regions.models import Building, CareTagType, Household, Resident
from jiayuan.staff.choices import Role

HX = {"HTTP_HX_REQUEST": "true"}
HX_RESULTS = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}


@pytest.fixture
def staffed(world: Any) -> Any:
    """The world with a named grid worker (work phone), a building leader and a party branch."""
    gw = world.users["grid_worker"]
    gw.last_name, gw.first_name = "王", "网格"  # shown family name first: 王网格
    gw.save(update_fields=["last_name", "first_name"])
    gw.posts.filter(role=Role.GRID_WORKER).update(work_phone="0535-6661234")
    b = world.buildings["a1_1"]
    leader = Resident.objects.filter(household__building=b).order_by("id")[0]
    leader.name = "李楼长"
    leader.is_building_leader = True
    leader.save(update_fields=["name", "is_building_leader"])
    street = PartyOrg.objects.create(
        code="P1",
        name="向阳街道党工委",
        kind=OrgKind.STREET_WORKING_COMMITTEE,
        region=world.r("street_a"),
    )
    comm = PartyOrg.objects.create(
        code="P2",
        name="友谊街社区党委",
        kind=OrgKind.COMMUNITY_COMMITTEE,
        parent=street,
        region=world.r("comm_a1"),
    )
    PartyOrg.objects.create(
        code="P3",
        name="友谊街第一网格党支部",
        kind=OrgKind.GRID_BRANCH,
        parent=comm,
        region=world.r("grid_a1_1"),
        secretary_name="张书记",
    )
    world.leader = leader
    return world


def _residents_of(*buildings: Building) -> list[Resident]:
    return list(Resident.objects.filter(household__building__in=buildings).order_by("id"))


def _text(response: Any) -> str:
    return response.content.decode()


# --- login gate ------------------------------------------------------------------------------


def test_every_staff_page_redirects_anonymous_users_to_login(client, world):
    b = world.buildings["a1_1"]
    h = b.households.first()
    r = h.residents.first()
    urls = [
        reverse("home"),
        reverse("regions:map"),
        reverse("regions:grid_geojson"),
        reverse("regions:grid_card", args=[b.grid_id]),
        reverse("regions:region_list"),
        reverse("regions:building_list"),
        reverse("regions:building_board", args=[b.pk]),
        reverse("regions:building_qr", args=[b.pk]),
        reverse("regions:household_list"),
        reverse("regions:household_detail", args=[h.pk]),
        reverse("regions:resident_list"),
        reverse("regions:resident_detail", args=[r.pk]),
        reverse("regions:resident_reveal", args=[r.pk]),
        reverse("regions:export", args=["residents"]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"{reverse('login')}?next={url}", url
    assert AccessLog.objects.count() == 0


def test_login_page_renders_in_chinese(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert "登录家园" in _text(response)


def test_login_form_logs_in_and_lands_on_home(client, world):
    response = client.post(
        reverse("login"), {"username": "grid_worker", "password": "pass-1234-jiayuan"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


# --- home ------------------------------------------------------------------------------------


def test_home_of_grid_worker_links_to_their_grid_card_and_lists(login, world):
    grid = world.r("grid_a1_1")
    html = _text(login("grid_worker").get(reverse("home")))
    assert "网格员" in html
    assert reverse("regions:grid_card", args=[grid.pk]) in html
    assert f"{reverse('regions:resident_list')}?region={grid.pk}" in html
    assert "友谊街社区第一网格" in html


@pytest.mark.parametrize(
    "name,expected",
    [
        ("community_secretary", "社区书记"),
        ("street_officer", "街道干部"),
        ("department_officer", "芝罘区住房和城乡建设局"),
        ("command_center", "指挥中心"),
        ("resident", "我的住户信息"),
        ("outsider", "您还没有岗位"),
    ],
)
def test_home_renders_for_each_role(login, world, name, expected):
    response = login(name).get(reverse("home"))
    assert response.status_code == 200
    assert expected in _text(response)


# --- map and grid card -----------------------------------------------------------------------


def _geojson(client: Any, **params: Any) -> dict[str, Any]:
    response = client.get(reverse("regions:grid_geojson"), params)
    assert response.status_code == 200
    return json.loads(response.content)


def test_map_page_loads_leaflet_locally_and_points_at_the_geojson(login, world):
    html = _text(login("grid_worker").get(reverse("regions:map")))
    assert "/static/vendor/leaflet/leaflet.js" in html
    assert "/static/vendor/leaflet/leaflet.css" in html
    assert f'data-geojson-url="{reverse("regions:grid_geojson")}"' in html
    assert "http://" not in html.replace(settings.PUBLIC_BASE_URL, "")
    assert "https://" not in html


@pytest.mark.parametrize(
    "name,grids",
    [
        ("grid_worker", {"grid_a1_1"}),
        ("community_secretary", {"grid_a1_1", "grid_a1_2"}),
        ("street_officer", {"grid_a1_1", "grid_a1_2", "grid_a2_1"}),
        ("department_officer", {"grid_b1_1"}),
        ("command_center", {"grid_a1_1", "grid_a1_2", "grid_a2_1", "grid_b1_1"}),
        ("outsider", set()),
        ("resident", set()),
    ],
)
def test_geojson_holds_exactly_the_grids_in_scope(login, world, name, grids):
    data = _geojson(login(name))
    assert data["type"] == "FeatureCollection"
    assert {f["properties"]["id"] for f in data["features"]} == {world.r(g).pk for g in grids}
    for feature in data["features"]:
        assert feature["geometry"]["type"] == "Polygon"
        assert set(feature["properties"]) >= {"id", "name", "code", "kind", "household_count"}


def test_geojson_parent_lists_children_and_out_of_scope_parent_is_404(login, world):
    client = login("street_officer")
    data = _geojson(client, parent=world.r("comm_a1").pk)
    assert {f["properties"]["code"] for f in data["features"]} == {
        world.r("grid_a1_1").code,
        world.r("grid_a1_2").code,
    }
    assert data["properties"]["parent"]["name"] == "友谊街社区"
    assert (
        client.get(reverse("regions:grid_geojson"), {"parent": world.r("comm_b1").pk}).status_code
        == 404
    )
    assert client.get(reverse("regions:grid_geojson"), {"parent": "x"}).status_code == 404


def test_geojson_of_a_wide_scope_climbs_to_a_level_under_the_cap(login, world, monkeypatch):
    monkeypatch.setattr(page_selectors, "MAP_FEATURE_CAP", 2)
    street = world.r("street_a")
    street.center_lng, street.center_lat = 121.41, 37.545
    street.save()
    data = _geojson(login("command_center"))
    assert data["properties"]["level"] == "street"
    # Streets without a boundary are drawn at their centre; those with neither are left out.
    assert [(f["properties"]["name"], f["geometry"]) for f in data["features"]] == [
        ("向阳街道", {"type": "Point", "coordinates": [121.41, 37.545]})
    ]


def test_grid_card_shows_worker_leaders_counts_branch_and_buildings(login, staffed):
    grid = staffed.r("grid_a1_1")
    response = login("grid_worker").get(reverse("regions:grid_card", args=[grid.pk]), **HX)
    html = _text(response)
    assert response.status_code == 200
    assert "<html" not in html  # a fragment for the map's side panel
    assert "友谊街社区第一网格" in html and grid.code in html
    assert "王网格" in html and "0535-6661234" in html
    assert "李楼长" in html
    assert mask_phone(staffed.leader.phone) in html
    assert staffed.leader.phone not in html
    assert "友谊街第一网格党支部" in html and "张书记" in html
    assert "<b>4</b>" in html  # households
    assert "<b>8</b>" in html  # residents
    for key in ("a1_1", "a1_1b"):
        assert reverse("regions:building_board", args=[staffed.buildings[key].pk]) in html
    assert reverse("regions:building_board", args=[staffed.buildings["a1_2"].pk]) not in html


def test_grid_card_without_htmx_is_a_whole_page(login, world):
    html = _text(
        login("grid_worker").get(reverse("regions:grid_card", args=[world.r("grid_a1_1").pk]))
    )
    assert "<html" in html and "网格图" in html


@pytest.mark.parametrize("key", ["grid_a1_2", "grid_b1_1", "comm_a1"])
def test_grid_card_out_of_scope_or_not_a_grid_is_404(login, world, key):
    response = login("grid_worker").get(reverse("regions:grid_card", args=[world.r(key).pk]))
    assert response.status_code == 404


def test_grid_card_of_missing_grid_is_404(login, world):
    assert (
        login("command_center").get(reverse("regions:grid_card", args=[999999])).status_code == 404
    )


# --- building board and public page ----------------------------------------------------------


def test_building_board_is_printable_with_inline_qr_to_public_page(login, staffed):
    b = staffed.buildings["a1_1"]
    response = login("grid_worker").get(reverse("regions:building_board", args=[b.pk]))
    html = _text(response)
    assert response.status_code == 200
    assert "一牌四公开" in html and b.address in html
    assert "王网格" in html and "0535-6661234" in html
    assert "楼栋长：李楼长" in html
    assert "友谊街第一网格党支部" in html
    assert "本楼党员中心户：0 户" in html
    assert 'class="hotline">12345<' in html
    assert '<svg width="' in html and 'class="segno"' in html
    public = settings.PUBLIC_BASE_URL + reverse("regions:building_public", args=[b.qr_token])
    assert public in html
    assert "window.print()" in html
    # No resident's personal data on a board.
    for r in _residents_of(b):
        assert r.id_number not in html and r.phone not in html


def test_building_board_counts_party_member_centres_and_shows_building_group(login, staffed):
    b = staffed.buildings["a1_1"]
    Household.objects.filter(building=b).update(party_member_center=True)
    branch = PartyOrg.objects.get(code="P3")
    PartyOrg.objects.create(
        code="P4",
        name="1号楼党小组",
        kind=OrgKind.BUILDING_GROUP,
        parent=branch,
        region=staffed.r("grid_a1_1"),
        building=b,
        secretary_name="赵组长",
    )
    html = _text(login("grid_worker").get(reverse("regions:building_board", args=[b.pk])))
    assert "本楼党员中心户：2 户" in html
    assert "楼栋党小组：1号楼党小组 · 组长 赵组长" in html


@pytest.mark.parametrize("view", ["regions:building_board", "regions:building_qr"])
def test_board_and_qr_of_out_of_scope_building_are_404(login, world, view):
    b = world.buildings["a1_2"]
    assert login("grid_worker").get(reverse(view, args=[b.pk])).status_code == 404


def test_building_qr_is_an_svg_image(login, world):
    b = world.buildings["a1_1"]
    response = login("grid_worker").get(reverse("regions:building_qr", args=[b.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    body = _text(response)
    assert body.startswith('<?xml version="1.0"')
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in body


def test_public_building_page_needs_no_login_and_shows_only_the_board(client, staffed):
    b = staffed.buildings["a1_1"]
    response = client.get(reverse("regions:building_public", args=[b.qr_token]))
    html = _text(response)
    assert response.status_code == 200
    assert b.address in html
    assert "王网格" in html and "0535-6661234" in html
    assert "李楼长" in html
    assert "12345" in html
    assert f"/r/{b.qr_token}/" in html  # 我要反映问题 opens the report form
    for r in _residents_of(b):
        assert r.id_number not in html and r.phone not in html
        assert mask_phone(r.phone) not in html
    assert "<form" not in html.split("</header>")[1]  # no report form yet


def test_public_building_page_with_unknown_token_is_404(client, world):
    assert client.get(reverse("regions:building_public", args=["nope"])).status_code == 404


# --- lists -----------------------------------------------------------------------------------


def test_building_list_shows_only_buildings_in_scope(login, world):
    html = _text(login("grid_worker").get(reverse("regions:building_list")))
    assert world.buildings["a1_1"].code in html and world.buildings["a1_1b"].code in html
    assert world.buildings["a1_2"].code not in html
    assert "共 <b>2</b> 条" in html


def test_region_list_lists_scope_and_filters_by_level(login, world):
    client = login("street_officer")
    html = _text(client.get(reverse("regions:region_list")))
    assert "向阳街道" in html and "建昌街社区第一网格" in html
    assert "毓西社区" not in html
    html = _text(client.get(reverse("regions:region_list"), {"level": "community"}, **HX_RESULTS))
    assert "共 <b>2</b> 条" in html
    assert "友谊街社区第一网格" not in html


def test_region_list_bad_level_is_400_with_message(login, world):
    response = login("street_officer").get(reverse("regions:region_list"), {"level": "planet"})
    assert response.status_code == 400
    assert "层级不正确" in _text(response)


def test_household_list_filters_by_region_and_party_member_center(login, world):
    b = world.buildings["a1_1"]
    h = b.households.order_by("code").first()
    h.party_member_center = True
    h.save()
    client = login("community_secretary")
    html = _text(client.get(reverse("regions:household_list"), {"party_member_center": "1"}))
    assert "共 <b>1</b> 条" in html and h.code in html
    html = _text(client.get(reverse("regions:household_list"), {"region": world.r("grid_a1_2").pk}))
    assert "共 <b>2</b> 条" in html and h.code not in html
    # The region select offers the secretary's community and its grids, nothing else.
    assert f'<option value="{world.r("grid_a1_2").pk}" selected>' in html
    assert f'<option value="{world.r("grid_a1_1").pk}">' in html
    assert f'<option value="{world.r("grid_a2_1").pk}"' not in html


def test_resident_list_masks_id_numbers_and_phones(login, world):
    residents = _residents_of(world.buildings["a1_1"], world.buildings["a1_1b"])
    response = login("grid_worker").get(reverse("regions:resident_list"))
    html = _text(response)
    assert response.status_code == 200
    assert "共 <b>8</b> 条" in html
    for r in residents:
        assert r.name in html
        assert r.id_number not in html and r.phone not in html
        assert mask_id_number(r.id_number) in html and mask_phone(r.phone) in html
    assert AccessLog.objects.count() == 0


def test_resident_list_filters_care_tag_party_member_and_leader(login, world):
    residents = _residents_of(world.buildings["a1_1"])
    tag = CareTagType.objects.order_by("sort", "code").first()
    residents[0].care_tags.add(tag)
    residents[1].is_party_member = True
    residents[1].save()
    residents[2].is_building_leader = True
    residents[2].save()
    client = login("grid_worker")
    url = reverse("regions:resident_list")
    for params, expected in [
        ({"care_tag": tag.code}, residents[0]),
        ({"party_member": "1"}, residents[1]),
        ({"building_leader": "1"}, residents[2]),
    ]:
        html = _text(client.get(url, params))
        assert "共 <b>1</b> 条" in html, params
        assert f'{reverse("regions:resident_detail", args=[expected.pk])}"' in html, params


@pytest.mark.parametrize(
    "url_name,params,message",
    [
        ("regions:resident_list", {"care_tag": "no-such-tag"}, "特殊人群类型不存在"),
        ("regions:resident_list", {"party_member": "maybe"}, "请填写 是 或 否"),
        ("regions:household_list", {"rental_status": "castle"}, "居住状态不正确"),
        ("regions:household_list", {"party_member_center": "2"}, "请填写 是 或 否"),
    ],
)
def test_bad_filter_answers_400_with_chinese_message(login, world, url_name, params, message):
    client = login("grid_worker")
    response = client.get(reverse(url_name), params)
    assert response.status_code == 400
    html = _text(response)
    assert message in html and "<form" in html  # the page, with its filters, and the message
    response = client.get(reverse(url_name), params, **HX_RESULTS)
    assert response.status_code == 400
    assert message in _text(response) and "<form" not in _text(response)


@pytest.mark.parametrize(
    "url_name",
    [
        "regions:resident_list",
        "regions:household_list",
        "regions:building_list",
        "regions:region_list",
    ],
)
def test_list_filtered_by_out_of_scope_region_is_404(login, world, url_name):
    response = login("grid_worker").get(reverse(url_name), {"region": world.r("grid_b1_1").pk})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "url_name",
    [
        "regions:resident_list",
        "regions:household_list",
        "regions:building_list",
        "regions:region_list",
    ],
)
def test_htmx_filter_request_returns_only_the_table(login, world, url_name):
    response = login("community_secretary").get(reverse(url_name), **HX_RESULTS)
    html = _text(response)
    assert response.status_code == 200
    assert "<table" in html
    assert "<html" not in html and "<form" not in html and "topbar" not in html
    full = _text(login("community_secretary").get(reverse(url_name)))
    assert 'hx-target="#results"' in full and 'hx-push-url="true"' in full
    assert '<div id="results">' in full


def test_resident_list_paginates_fifty_per_page(login, world):
    grid = world.r("grid_a1_1")
    h = world.buildings["a1_1"].households.first()
    Resident.objects.bulk_create(
        Resident(household=h, grid=grid, name=f"批量{i:03d}", id_number=f"37060219900101{i:04d}")
        for i in range(60)
    )
    client = login("grid_worker")
    html = _text(client.get(reverse("regions:resident_list")))
    assert "共 <b>68</b> 条，第 1/2 页" in html
    assert html.count(reverse("regions:resident_detail", args=[0])[:-2]) >= 50
    html = _text(client.get(reverse("regions:resident_list"), {"page": "2"}))
    assert "第 2/2 页" in html and "批量059" in html and "批量000" not in html


def _queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "url_name",
    [
        "regions:resident_list",
        "regions:household_list",
        "regions:building_list",
        "regions:region_list",
    ],
)
def test_list_query_count_does_not_grow_with_rows(
    login, world, url_name, django_assert_max_num_queries
):
    client = login("command_center")
    url = reverse(url_name)
    # +1: the tree's root paths, read once a minute per process
    with django_assert_max_num_queries(12):
        client.get(url)
    before = _queries(client, url)
    tags = list(CareTagType.objects.all()[:2])
    for key in ("a1_1", "a1_2", "a2_1"):
        b = world.buildings[key]
        extra = building(b.grid, households=3, residents_each=3)
        for r in Resident.objects.filter(household__building=extra):
            r.care_tags.set(tags)
    assert _queries(client, url) == before


# --- details and reveal ----------------------------------------------------------------------


def test_household_detail_shows_residents_masked(login, world):
    h = world.buildings["a1_1"].households.first()
    response = login("grid_worker").get(reverse("regions:household_detail", args=[h.pk]))
    html = _text(response)
    assert response.status_code == 200
    assert h.code in html
    for r in h.residents.all():
        assert r.name in html and mask_id_number(r.id_number) in html
        assert r.id_number not in html and r.phone not in html


@pytest.mark.parametrize(
    "view", ["regions:household_detail", "regions:resident_detail", "regions:resident_reveal"]
)
def test_details_out_of_scope_are_404(login, world, view):
    h = world.buildings["a1_2"].households.first()
    pk = h.pk if view == "regions:household_detail" else h.residents.first().pk
    assert login("grid_worker").get(reverse(view, args=[pk])).status_code == 404
    assert AccessLog.objects.count() == 0


def test_resident_sees_own_household_but_not_a_neighbour(login, world):
    mine = Resident.objects.get(user=world.users["resident"]).household
    other = world.buildings["a1_2"].households.exclude(pk=mine.pk).first()
    client = login("resident")
    assert client.get(reverse("regions:household_detail", args=[mine.pk])).status_code == 200
    assert client.get(reverse("regions:household_detail", args=[other.pk])).status_code == 404


def test_resident_detail_is_masked_and_offers_reveal_to_permitted_post(login, world):
    r = _residents_of(world.buildings["a1_1"])[0]
    html = _text(login("grid_worker").get(reverse("regions:resident_detail", args=[r.pk])))
    assert mask_id_number(r.id_number) in html
    assert r.id_number not in html and r.phone not in html
    assert "显示完整信息" in html
    assert f'hx-get="{reverse("regions:resident_reveal", args=[r.pk])}"' in html
    assert AccessLog.objects.count() == 0


def test_resident_detail_offers_no_reveal_to_masked_post(login, world):
    r = _residents_of(world.buildings["a1_1"])[0]
    html = _text(login("grid_worker_masked").get(reverse("regions:resident_detail", args=[r.pk])))
    assert "显示完整信息" not in html and "无权查看完整信息" in html


def test_reveal_shows_full_numbers_and_writes_one_access_log_row(login, world):
    r = _residents_of(world.buildings["a1_1"])[0]
    response = login("grid_worker").get(reverse("regions:resident_reveal", args=[r.pk]), **HX)
    html = _text(response)
    assert response.status_code == 200
    assert r.id_number in html and r.phone in html
    assert "<html" not in html
    log = AccessLog.objects.get()
    assert log.user == world.users["grid_worker"]
    assert log.username == "grid_worker"
    assert (log.action, log.model, log.object_ids, log.count) == (
        "view",
        "regions.Resident",
        str(r.pk),
        1,
    )
    assert log.path == reverse("regions:resident_reveal", args=[r.pk])


def test_reveal_is_forbidden_to_masked_post_and_logs_nothing(login, world):
    r = _residents_of(world.buildings["a1_1"])[0]
    response = login("grid_worker_masked").get(reverse("regions:resident_reveal", args=[r.pk]))
    assert response.status_code == 403
    html = _text(response)
    assert "无权查看完整个人信息" in html and r.id_number not in html
    assert AccessLog.objects.count() == 0


# --- export ----------------------------------------------------------------------------------


def _sheet(response: Any) -> list[list[Any]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    wb = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return [list(row) for row in wb.active.iter_rows(values_only=True)]


def test_resident_export_is_masked_and_logs_nothing(login, world):
    residents = _residents_of(world.buildings["a1_1"], world.buildings["a1_1b"])
    rows = _sheet(login("grid_worker").get(reverse("regions:export", args=["residents"])))
    assert rows[0][:6] == ["编号", "姓名", "性别", "出生日期", "身份证号", "联系电话"]
    assert [row[0] for row in rows[1:]] == [r.pk for r in residents]
    flat = repr(rows)
    for r in residents:
        assert r.id_number not in flat and r.phone not in flat
    assert rows[1][4] == mask_id_number(residents[0].id_number)
    assert AccessLog.objects.count() == 0


def test_resident_export_unmasked_for_permitted_post_logs_one_row(login, world):
    residents = _residents_of(world.buildings["a1_1"])
    url = reverse("regions:export", args=["residents"])
    rows = _sheet(
        login("grid_worker").get(
            url, {"unmask": "1", "region": world.r("grid_a1_1").pk, "q": "居民"}
        )
    )
    assert {row[4] for row in rows[1:]} >= {r.id_number for r in residents}
    log = AccessLog.objects.get()
    assert (log.user, log.action, log.model, log.count) == (
        world.users["grid_worker"],
        "export",
        "regions.Resident",
        8,
    )


def test_resident_export_unmask_forbidden_to_masked_post(login, world):
    url = reverse("regions:export", args=["residents"])
    response = login("grid_worker_masked").get(url, {"unmask": "1"})
    assert response.status_code == 403
    assert "无权导出完整个人信息" in _text(response)
    assert AccessLog.objects.count() == 0


def test_export_keeps_a_formula_looking_name_as_text(login, world):
    r = _residents_of(world.buildings["a1_1"])[0]
    r.name = "=cmd|' /C calc'!A0"
    r.save()
    rows = _sheet(login("grid_worker").get(reverse("regions:export", args=["residents"])))
    names = [row[1] for row in rows[1:]]
    assert "'=cmd|' /C calc'!A0" in names
    assert "=cmd|' /C calc'!A0" not in names


def test_export_follows_the_list_filters(login, world):
    url = reverse("regions:export", args=["households"])
    rows = _sheet(login("community_secretary").get(url, {"region": world.r("grid_a1_2").pk}))
    assert rows[0] == ["户编码", "地址", "户主姓名", "居住状态", "党员中心户", "网格"]
    assert sorted(row[0] for row in rows[1:]) == sorted(
        Household.objects.filter(grid=world.r("grid_a1_2")).values_list("code", flat=True)
    )


@pytest.mark.parametrize("kind,count", [("regions", 1), ("buildings", 2), ("households", 4)])
def test_export_of_each_kind_is_scoped(login, world, kind, count):
    rows = _sheet(login("grid_worker").get(reverse("regions:export", args=[kind])))
    assert len(rows) == count + 1


def test_export_bad_filter_is_400_and_unknown_kind_is_404(login, world):
    client = login("grid_worker")
    response = client.get(reverse("regions:export", args=["households"]), {"rental_status": "x"})
    assert response.status_code == 400 and "居住状态不正确" in _text(response)
    assert client.get(reverse("regions:export", args=["passwords"])).status_code == 404
