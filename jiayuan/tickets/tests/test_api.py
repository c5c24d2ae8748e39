"""The tickets JSON API over HTTP: intake with Idempotency-Key, the scoped list and its filters,
detail with masking, allowed actions per role, action errors, the whole ladder, verify, OpenAPI."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from jiayuan.core.models import AccessLog
from jiayuan.tickets.models import Category, Ticket, TicketEvent
from jiayuan.tickets.services import ticket_create

API = "/api/v1"


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    # Action idempotency keys live in the cache; user ids repeat across rolled-back tests.
    cache.clear()


def post(client: Any, url: str, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(API + url, data=body, content_type="application/json", headers=headers)


def act(client: Any, number: str, action: str, key: str | None = None, **body: Any) -> Any:
    return post(client, f"/tickets/{number}/actions/{action}", body, key)


def make(world: Any, building: str | None, **kw: Any) -> Ticket:
    return ticket_create(
        channel=kw.pop("channel", "web"),
        title=kw.pop("title", "楼道灯坏了"),
        description=kw.pop("description", "楼道灯不亮"),
        building=world.buildings[building] if building else None,
        reporter_phone=kw.pop("reporter_phone", "13900000001"),
        **kw,
    ).ticket


@pytest.fixture
def spread(world: Any) -> dict[str, Ticket]:
    """One ticket in each grid and one unlocated (in triage at the city)."""
    return {
        "a1_1": make(world, "a1_1", category=Category.objects.get(code="property")),
        "a1_2": make(world, "a1_2", category=Category.objects.get(code="noise")),
        "a2_1": make(world, "a2_1", description="路面塌陷"),
        "b1_1": make(world, "b1_1"),
        "none": make(world, None, channel="hotline", description="某路口路灯不亮"),
    }


# --- intake ----------------------------------------------------------------------------------


BODY = {
    "title": "楼道灯坏了",
    "description": "3单元楼道灯不亮，晚上看不见",
    "category": "property",
    "reporter_name": "李女士",
    "reporter_phone": "13900000001",
}


def test_create_then_retry_with_the_same_key_returns_the_same_ticket(world, login):
    client = login("resident")
    first = post(client, "/tickets", {**BODY, "building": world.buildings["a1_1"].code}, "key-1")
    assert first.status_code == 201
    body = first.json()
    assert (body["channel"], body["state"], body["grid_id"], body["category"]) == (
        "api",
        "assigned",
        world.r("grid_a1_1").pk,
        "property",
    )
    assert body["reporter_phone"] == "139****0001"
    retry = post(client, "/tickets", {**BODY, "building": world.buildings["a1_1"].code}, "key-1")
    assert retry.status_code == 200
    assert retry.json() == body
    assert Ticket.objects.count() == 1
    ticket = Ticket.objects.get()
    assert (ticket.reporter, ticket.idempotency_scope, ticket.idempotency_key) == (
        world.users["resident"],
        f"user:{world.users['resident'].pk}",
        "key-1",
    )


def test_the_same_key_from_another_user_is_another_ticket(world, login):
    post(login("resident"), "/tickets", BODY, "key-1")
    response = post(login("grid_worker"), "/tickets", BODY, "key-1")
    assert response.status_code == 201
    assert Ticket.objects.count() == 2


def test_without_a_key_each_post_is_a_new_ticket(world, login):
    client = login("resident")
    numbers = {post(client, "/tickets", BODY).json()["number"] for _ in range(2)}
    assert len(numbers) == 2


def test_an_overlong_key_is_refused(world, login):
    response = post(login("resident"), "/tickets", BODY, "k" * 101)
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_idempotency_key",
        "message": "Idempotency-Key 不能超过 100 个字符",
        "field": "Idempotency-Key",
    }
    assert Ticket.objects.count() == 0


def test_a_resident_may_report_on_any_building_by_id(world, login):
    building = world.buildings["b1_1"]
    response = post(login("resident"), "/tickets", {**BODY, "building": building.pk})
    assert response.status_code == 201
    assert response.json()["grid_id"] == world.r("grid_b1_1").pk


def test_staff_must_have_the_building_in_scope(world, login):
    code = world.buildings["b1_1"].code
    response = post(login("grid_worker"), "/tickets", {**BODY, "building": code})
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "楼栋不存在或不在您的管辖范围内",
        "field": "building",
    }
    assert Ticket.objects.count() == 0


def test_a_resident_may_not_choose_a_staff_channel(world, login):
    response = post(login("resident"), "/tickets", {**BODY, "channel": "hotline"})
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert response.json()["field"] == "channel"


def test_staff_relay_a_hotline_call_for_the_caller(world, login):
    body = {**BODY, "channel": "hotline", "building": world.buildings["a1_2"].code}
    response = post(login("command_center"), "/tickets", body)
    assert response.status_code == 201
    ticket = Ticket.objects.get()
    assert (ticket.channel, ticket.reporter, ticket.reporter_phone) == (
        "hotline",
        None,
        "13900000001",
    )
    assert ticket.events.get().actor_label == "12345 热线·command_center"


def test_a_patrol_report_is_the_grid_workers_own(world, login):
    body = {"description": "井盖缺失", "channel": "patrol", "building": world.buildings["a1_1"].pk}
    response = post(login("grid_worker"), "/tickets", body)
    assert response.status_code == 201
    assert Ticket.objects.get().reporter == world.users["grid_worker"]


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"description": " "}, 400, "required", "description"),
        ({"category": "nope"}, 400, "invalid_choice", "category"),
        ({"channel": "qr"}, 400, "invalid_choice", "channel"),
        ({"reporter_phone": ""}, 201, None, None),  # a logged-in reporter needs no phone
        ({"lat": 91}, 400, "invalid", "lat"),
        ({"urgency": "very"}, 422, "invalid", "urgency"),
    ],
)
def test_create_errors(world, login, change, status, code, field):
    response = post(login("resident"), "/tickets", {**BODY, **change})
    assert response.status_code == status
    if code:
        assert (response.json()["code"], response.json()["field"]) == (code, field)


def test_anonymous_callers_get_401(client, world):
    response = post(client, "/tickets", BODY)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


# --- list and detail -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("grid_worker", ["a1_1"]),
        ("community_secretary", ["a1_1", "a1_2"]),
        ("community_worker", ["a2_1"]),
        ("street_officer", ["a1_1", "a1_2", "a2_1"]),
        ("department_officer", []),
        ("command_center", ["a1_1", "a1_2", "a2_1", "b1_1", "none"]),
        ("admin", ["a1_1", "a1_2", "a2_1", "b1_1", "none"]),
        ("outsider", []),
        ("resident", []),
    ],
)
def test_list_is_scoped_per_role(world, login, spread, user, expected):
    response = login(user).get(API + "/tickets")
    assert response.status_code == 200
    body = response.json()
    by_number = {t.number: key for key, t in spread.items()}
    assert body["count"] == len(expected)
    assert sorted(by_number[i["number"]] for i in body["items"]) == expected
    assert (body["page"], body["page_size"]) == (1, 50)


def test_list_filters(world, login, spread):
    client = login("command_center")
    old = make(world, "a1_1", created_at=timezone.now() - dt.timedelta(days=20))
    Ticket.objects.filter(pk=spread["a1_2"].pk).update(supervised=True)

    def numbers(**params: Any) -> list[str]:
        response = client.get(API + "/tickets", params)
        assert response.status_code == 200, response.json()
        return sorted(i["number"] for i in response.json()["items"])

    assert numbers(state="triage") == [spread["none"].number]
    assert numbers(category="environment") == [spread["a1_2"].number]  # parent includes children
    assert numbers(category="property") == [spread["a1_1"].number]
    assert numbers(channel="hotline") == [spread["none"].number]
    assert numbers(q="塌陷") == [spread["a2_1"].number]
    assert numbers(q=spread["b1_1"].number) == [spread["b1_1"].number]
    assert numbers(overdue="true") == [old.number]
    assert numbers(supervised="true") == [spread["a1_2"].number]
    assert numbers(region=world.r("comm_a1").pk) == sorted(
        [spread["a1_1"].number, spread["a1_2"].number, old.number]
    )
    assert numbers(created_before=(timezone.now() - dt.timedelta(days=1)).isoformat()) == [
        old.number
    ]
    assert len(numbers(created_after=(timezone.now() - dt.timedelta(days=1)).isoformat())) == 5
    assert numbers(level="district") == [spread["none"].number]


def test_list_region_outside_scope_is_404(world, login, spread):
    response = login("grid_worker").get(API + "/tickets", {"region": world.r("comm_b1").pk})
    assert response.status_code == 404
    assert response.json()["field"] == "region"


def test_list_paginates_and_refuses_bad_pages(world, login, spread):
    client = login("command_center")
    body = client.get(API + "/tickets", {"page": 2, "page_size": 2}).json()
    assert (body["count"], len(body["items"]), body["page"]) == (5, 2, 2)
    response = client.get(API + "/tickets", {"page_size": 1000})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_page_size")


def test_list_query_count_does_not_grow_with_the_page(
    world, login, spread, django_assert_max_num_queries
):
    client = login("command_center")
    for _ in range(10):
        make(world, "a1_1")
    # +1: the tree's root paths, read once a minute per process
    with django_assert_max_num_queries(9):
        response = client.get(API + "/tickets")
    assert response.json()["count"] == 15


def test_detail_outside_scope_is_404(world, login, spread):
    response = login("community_worker").get(f"{API}/tickets/{spread['a1_1'].number}")
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "工单不存在或不在您的管辖范围内",
        "field": None,
    }
    assert login("community_worker").get(f"{API}/tickets/J00000000000000").status_code == 404


def test_detail_masks_the_phone_and_logs_an_unmasked_view(world, login, ticket):
    client = login("grid_worker")
    body = client.get(f"{API}/tickets/{ticket.number}").json()
    assert (body["reporter_phone"], body["masked"], body["reporter_name"]) == (
        "139****0001",
        True,
        "李女士",
    )
    assert [(e["seq"], e["action"], e["action_label"]) for e in body["events"]] == [
        (1, "submit", "提交")
    ]
    assert AccessLog.objects.count() == 0
    body = client.get(f"{API}/tickets/{ticket.number}", {"unmask": "true"}).json()
    assert (body["reporter_phone"], body["masked"]) == ("13900000001", False)
    log = AccessLog.objects.get()
    assert (log.user, log.action, log.model, log.object_ids, log.fields) == (
        world.users["grid_worker"],
        "api",
        "tickets.Ticket",
        str(ticket.pk),
        "reporter_phone",
    )


def test_unmask_without_the_right_is_403_and_not_logged(world, login, ticket):
    response = login("grid_worker_masked").get(f"{API}/tickets/{ticket.number}?unmask=true")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert AccessLog.objects.count() == 0


# --- actions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("grid_worker", ["triage", "accept", "transfer", "merge"]),
        ("community_secretary", ["transfer", "supervise", "merge"]),
        ("street_officer", ["transfer", "supervise", "merge"]),
        ("command_center", ["transfer", "supervise", "merge"]),
        ("admin", ["triage", "accept", "transfer", "supervise", "merge"]),
    ],
)
def test_allowed_actions_per_role(world, login, ticket, user, expected):
    response = login(user).get(f"{API}/tickets/{ticket.number}/actions")
    assert response.status_code == 200
    assert [a["action"] for a in response.json()] == expected


def test_allowed_actions_carry_labels_and_fields(world, login, ticket):
    actions = login("grid_worker").get(f"{API}/tickets/{ticket.number}/actions").json()
    assert actions[1] == {"action": "accept", "label": "签收", "fields": ["note"]}


def test_allowed_actions_outside_scope_is_404(world, login, ticket):
    assert (
        login("department_officer").get(f"{API}/tickets/{ticket.number}/actions").status_code == 404
    )


def test_action_errors_have_codes(world, login, ticket):
    number = ticket.number
    street = login("street_officer")
    response = act(street, number, "accept")
    assert response.status_code == 403
    assert response.json() == {
        "code": "permission_denied",
        "message": "您的岗位不能对该工单执行“签收”",
        "field": None,
    }
    gw = login("grid_worker")
    response = act(gw, number, "respond")
    assert response.status_code == 409
    assert response.json() == {
        "code": "invalid_transition",
        "message": "工单当前为“待签收”，不能响应",
        "field": None,
    }
    assert act(gw, number, "accept").status_code == 200
    response = act(gw, number, "handle")
    assert response.status_code == 400
    assert response.json() == {"code": "required", "message": "请填写办理进展", "field": "note"}
    response = act(gw, number, "fly")
    assert (response.status_code, response.json()["code"]) == (400, "unknown_action")
    response = act(gw, number, "request_extension", days="many")
    assert (response.status_code, response.json()["code"]) == (422, "invalid")
    assert ticket.events.count() == 2


def test_action_outside_scope_is_404(world, login, ticket):
    response = act(login("community_worker"), ticket.number, "accept")
    assert response.status_code == 404


def test_action_answers_the_ticket_and_the_new_event(world, login, ticket):
    body = act(login("grid_worker"), ticket.number, "accept", note="马上去看").json()
    assert (body["ticket"]["state"], body["ticket"]["owner_user"], body["ticket"]["version"]) == (
        "in_progress",
        "grid_worker",
        2,
    )
    event = body["event"]
    assert (event["seq"], event["action"], event["from_state"], event["to_state"]) == (
        2,
        "accept",
        "assigned",
        "in_progress",
    )
    assert event["note"] == "马上去看"
    assert [e["seq"] for e in body["ticket"]["events"]] == [1, 2]


def test_a_retried_action_with_the_same_key_returns_the_first_result(world, login, ticket):
    gw = login("grid_worker")
    first = act(gw, ticket.number, "accept", key="acc-1", note="收到")
    assert first.status_code == 200
    retry = act(gw, ticket.number, "accept", key="acc-1", note="收到")
    assert retry.status_code == 200
    assert retry.json()["event"] == first.json()["event"]
    assert retry.json()["ticket"]["version"] == 2
    assert TicketEvent.objects.filter(ticket=ticket).count() == 2
    # Without the key a second accept is what it is: a refused transition.
    assert act(gw, ticket.number, "accept").status_code == 409
    # The same key for another action is a client bug.
    response = act(gw, ticket.number, "handle", key="acc-1", note="进展")
    assert (response.status_code, response.json()["code"]) == (409, "idempotency_key_reused")


def test_a_failed_action_does_not_burn_its_key(world, login, ticket):
    gw = login("grid_worker")
    assert act(gw, ticket.number, "accept").status_code == 200
    assert act(gw, ticket.number, "handle", key="h-1").status_code == 400
    response = act(gw, ticket.number, "handle", key="h-1", note="已联系物业")
    assert response.status_code == 200
    assert response.json()["event"]["note"] == "已联系物业"


def test_merge_takes_a_ticket_number_in_scope(world, login, spread):
    gw = login("community_secretary")
    response = act(gw, spread["a1_2"].number, "merge", into=spread["b1_1"].number)
    assert (response.status_code, response.json()["field"]) == (404, "into")
    response = act(gw, spread["a1_2"].number, "merge", into=spread["a1_1"].number)
    assert response.status_code == 200
    assert response.json()["ticket"]["merged_into"] == spread["a1_1"].number


def test_the_whole_ladder_through_the_api(world, login, depts):
    resident = login("resident")
    created = post(resident, "/tickets", {**BODY, "building": world.buildings["a1_1"].code}, "r-1")
    assert created.status_code == 201
    number = created.json()["number"]
    assert [a["action"] for a in resident.get(f"{API}/tickets/{number}/actions").json()] == [
        "cancel"
    ]

    def step(user: str, action: str, **body: Any) -> dict[str, Any]:
        response = act(login(user), number, action, **body)
        assert response.status_code == 200, (action, response.json())
        return response.json()["ticket"]

    assert step("grid_worker", "accept")["state"] == "in_progress"
    assert step("grid_worker", "call_up", note="需要社区协调物业")["level"] == "community"
    assert step("community_secretary", "respond")["state"] == "in_progress"
    assert step("community_secretary", "call_up", note="涉及管网改造")["level"] == "street"
    step("street_officer", "respond")
    t = step("street_officer", "dispatch", lead=depts["housing"].pk, co=[depts["chengguan"].pk])
    assert (t["state"], t["level"]) == ("dispatched", "department")
    assert [(a["department_id"], a["role"], a["state"]) for a in t["assignments"]] == [
        (depts["housing"].pk, "lead", "pending"),
        (depts["chengguan"].pk, "co", "pending"),
    ]
    step("department_officer", "dept_accept")
    step("chengguan", "dept_accept")
    assert step("department_officer", "dept_finish", result="已更换管道")["state"] == "dispatched"
    assert step("chengguan", "dept_finish", result="已清理占道")["state"] == "resolved"
    resident = login("resident")
    assert [a["action"] for a in resident.get(f"{API}/tickets/{number}/actions").json()] == ["rate"]
    t = step("resident", "rate", rating="satisfied", comment="很及时")
    assert (t["state"], t["rating"], t["rating_comment"]) == ("closed", "satisfied", "很及时")
    assert [e["action"] for e in t["events"]] == [
        "submit",
        "accept",
        "call_up",
        "respond",
        "call_up",
        "respond",
        "dispatch",
        "dept_accept",
        "dept_accept",
        "dept_finish",
        "dept_finish",
        "rate",
    ]
    verified = login("command_center").get(f"{API}/tickets/{number}/verify").json()
    assert verified == {"number": number, "ok": True, "events": 12, "broken": None}


# --- verify, categories, OpenAPI -------------------------------------------------------------


def test_verify_reports_the_first_broken_link(world, login, ticket):
    client = login("grid_worker")
    act(client, ticket.number, "accept", note="收到")
    TicketEvent.objects.filter(ticket=ticket, seq=2).update(note="改过的说明")
    response = client.get(f"{API}/tickets/{ticket.number}/verify")
    assert response.json() == {
        "number": ticket.number,
        "ok": False,
        "events": 2,
        "broken": {"seq": 2, "reason": "记录内容被修改"},
    }
    assert login("community_worker").get(f"{API}/tickets/{ticket.number}/verify").status_code == 404


def test_categories_are_a_two_level_tree(world, login):
    body = login("resident").get(API + "/categories").json()
    assert [c["code"] for c in body] == [
        "urban",
        "environment",
        "transport",
        "education",
        "labour",
        "commerce",
        "health",
        "community",
    ]
    assert [c["code"] for c in body[1]["children"]] == ["noise", "garbage", "sewage", "air"]
    gas = next(c for c in body[0]["children"] if c["code"] == "gas_leak")
    assert (gas["name"], gas["urgent"], gas["children"]) == ("燃气安全", True, [])


def test_openapi_lists_the_ticket_endpoints_and_the_docs_page_renders(world, login):
    client = login("grid_worker")
    schema = client.get(API + "/openapi.json").json()
    for path in [
        "/api/v1/tickets",
        "/api/v1/tickets/{number}",
        "/api/v1/tickets/{number}/actions",
        "/api/v1/tickets/{number}/actions/{action}",
        "/api/v1/tickets/{number}/verify",
        "/api/v1/categories",
    ]:
        assert path in schema["paths"], path
    assert schema["paths"]["/api/v1/tickets"]["post"]["tags"] == ["诉求工单"]
    assert client.get(API + "/docs").status_code == 200
