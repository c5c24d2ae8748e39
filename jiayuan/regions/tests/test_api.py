"""The base-data API: scoping, masking with its log, errors with codes."""

from __future__ import annotations

import pytest

from jiayuan.core.models import AccessLog
from jiayuan.regions.models import Resident


def test_api_requires_login(client, world):
    resp = client.get("/api/v1/residents")
    assert resp.status_code == 401
    assert resp.json()["code"] == "unauthenticated"


def test_resident_list_is_scoped_and_masked(login, world):
    client = login("grid_worker")
    body = client.get("/api/v1/residents").json()
    expected = Resident.objects.filter(grid=world.r("grid_a1_1")).count()
    assert body["count"] == expected == 8
    first = body["items"][0]
    full = Resident.objects.get(pk=first["id"])
    assert first["id_number"] == full.id_number[:6] + "********" + full.id_number[-4:]
    assert first["phone"] == full.phone[:3] + "****" + full.phone[-4:]
    assert first["masked"] is True
    assert AccessLog.objects.count() == 0


def test_unmask_is_logged_for_a_permitted_post(login, world):
    client = login("grid_worker")
    body = client.get("/api/v1/residents", {"unmask": "true", "page_size": 3}).json()
    ids = [item["id"] for item in body["items"]]
    assert [i["id_number"] for i in body["items"]] == list(
        Resident.objects.filter(pk__in=ids).order_by("id").values_list("id_number", flat=True)
    )
    log = AccessLog.objects.get()
    assert (log.username, log.action, log.model, log.count) == (
        "grid_worker",
        "api",
        "regions.Resident",
        3,
    )
    assert log.object_ids == ",".join(str(i) for i in ids)


def test_unmask_refused_without_the_right(login, world):
    client = login("grid_worker_masked")
    resp = client.get("/api/v1/residents", {"unmask": "true"})
    assert resp.status_code == 403
    assert resp.json()["code"] == "permission_denied"
    assert AccessLog.objects.count() == 0


@pytest.mark.parametrize(
    "name,building,status",
    [
        ("grid_worker", "a1_1", 200),
        ("grid_worker", "a1_2", 404),
        ("community_worker", "a1_1", 404),
        ("street_officer", "a2_1", 200),
        ("street_officer", "b1_1", 404),
        ("department_officer", "b1_1", 200),
        ("department_officer", "a1_1", 404),
        ("outsider", "a1_1", 404),
    ],
)
def test_building_detail_outside_scope_is_404(login, world, name, building, status):
    resp = login(name).get(f"/api/v1/buildings/{world.buildings[building].pk}")
    assert resp.status_code == status
    if status == 404:
        assert resp.json() == {
            "code": "not_found",
            "message": "对象不存在或不在您的管辖范围内",
            "field": None,
        }


def test_missing_and_out_of_scope_answer_the_same(login, world):
    client = login("grid_worker")
    other = client.get(
        f"/api/v1/residents/{Resident.objects.filter(grid=world.r('grid_b1_1')).first().pk}"
    )
    missing = client.get("/api/v1/residents/999999")
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()


def test_bad_filter_answers_a_code_and_chinese_message(login, world):
    client = login("street_officer")
    resp = client.get("/api/v1/households", {"rental_status": "castle"})
    assert resp.status_code == 400
    assert resp.json() == {
        "code": "invalid_choice",
        "message": "居住状态不正确",
        "field": "rental_status",
    }
    resp = client.get("/api/v1/residents", {"page_size": 1000})
    assert resp.status_code == 400
    assert resp.json()["field"] == "page_size"
    resp = client.get("/api/v1/residents", {"page": "abc"})
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid"


def test_region_filter_outside_scope_is_404(login, world):
    client = login("street_officer")
    resp = client.get("/api/v1/residents", {"region": world.r("street_b").pk})
    assert resp.status_code == 404


def test_region_children_and_detail(login, world):
    client = login("street_officer")
    body = client.get("/api/v1/regions", {"parent": world.r("comm_a1").pk}).json()
    assert [r["code"] for r in body["items"]] == ["370602001001001", "370602001001002"]
    detail = client.get(f"/api/v1/regions/{world.r('grid_a1_1').pk}").json()
    assert detail["path"] == [
        "370600000000",
        "370602000000",
        "370602001000",
        "370602001001",
        "370602001001001",
    ]
    assert detail["boundary"]["type"] == "Polygon"


def test_me_lists_posts(login, world):
    body = login("department_officer").get("/api/v1/me").json()
    assert body["posts"][0]["role"] == "department_officer"
    assert body["posts"][0]["department"] == "芝罘区住房和城乡建设局"
    assert body["sees_everything"] is False


def test_resident_list_query_count_does_not_grow(login, world, django_assert_max_num_queries):
    client = login("command_center")
    with django_assert_max_num_queries(8):
        body = client.get("/api/v1/residents", {"page_size": 200}).json()
    assert body["count"] == 20


def test_openapi_schema_is_served(client, world):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    assert "/api/v1/residents" in resp.json()["paths"]
