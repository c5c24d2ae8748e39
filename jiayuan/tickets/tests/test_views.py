"""The ticket pages: the resident's report, follow-up, rating and cancel (no login, rate
limited), and the staff inbox, ticket page, actions, reveal and bulk assignment (scoped)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jiayuan.core.models import AccessLog
from jiayuan.tickets import selectors
from jiayuan.tickets.choices import AssignmentState, State
from jiayuan.tickets.models import Category, Ticket, TicketAssignment
from jiayuan.tickets.services import ticket_create
from jiayuan.tickets.workflow import transition

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _media_and_cache(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    cache.clear()


def post_report(client: Any, token: str, **extra: Any) -> Any:
    data = {
        "description": "楼道灯不亮",
        "name": "李女士",
        "phone": "13900000001",
        "key": uuid.uuid4().hex,
        **extra,
    }
    return client.post(f"/r/{token}/", data)


def make(world: Any, building: str = "a1_1", **kw: Any) -> Ticket:
    kw.setdefault("reporter_phone", "13900000001")
    return ticket_create(
        channel="qr",
        title=kw.pop("title", "楼道灯坏了"),
        description=kw.pop("description", "楼道灯不亮"),
        building=world.buildings[building],
        **kw,
    ).ticket


def text(response: Any) -> str:
    return response.content.decode()


# ---------------------------------------------------------------------------------------------
# Residents: report


def test_qr_form_shows_the_building_and_a_fresh_key(client, world):
    b = world.buildings["a1_1"]
    response = client.get(f"/r/{b.qr_token}/")
    assert response.status_code == 200
    body = text(response)
    assert b.address in body
    assert "友谊街社区 · 友谊街社区第一网格" in body
    keys = re.findall(r'name="key" value="([0-9a-f]{32})"', body)
    assert len(keys) == 1
    again = re.findall(r'name="key" value="([0-9a-f]{32})"', text(client.get(f"/r/{b.qr_token}/")))
    assert again != keys
    assert '<option value="" selected>不清楚</option>' in body
    assert '<optgroup label="城乡建设">' in body


def test_unknown_qr_token_is_404(client, world):
    assert client.get("/r/no-such-token/").status_code == 404


def test_submit_creates_one_ticket_in_the_buildings_grid(client, world):
    b = world.buildings["a1_1"]
    cat = Category.objects.get(code="property")
    response = post_report(client, b.qr_token, category=str(cat.pk), confidential="on")
    t = Ticket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/report/done/{t.public_token}/"
    assert (t.channel, t.state, t.grid, t.owner_region, t.building, t.category) == (
        "qr",
        State.ASSIGNED,
        world.r("grid_a1_1"),
        world.r("grid_a1_1"),
        b,
        cat,
    )
    assert (t.reporter_name, t.reporter_phone, t.anonymous, t.confidential) == (
        "李女士",
        "13900000001",
        False,
        True,
    )
    assert (t.description, t.title, t.idempotency_scope) == ("楼道灯不亮", "楼道灯不亮", "form")
    done = client.get(response["Location"])
    assert t.number in text(done)
    assert f'href="/track/{t.number}/"' in text(done)


def test_double_submit_with_the_same_key_creates_one_ticket(client, world):
    key = uuid.uuid4().hex
    token = world.buildings["a1_1"].qr_token
    first = post_report(client, token, key=key)
    second = post_report(client, token, key=key)
    assert Ticket.objects.count() == 1
    assert first["Location"] == second["Location"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"description": "   "}, "请填写问题描述"),
        ({"phone": "12345"}, "请填写正确的手机号或固定电话"),
        ({"phone": ""}, "请留下联系电话，或选择匿名反映"),
        ({"key": "not-a-uuid"}, "表单已失效，请刷新页面后重新提交"),
        ({"category": "999999"}, "选择一个有效的选项"),
    ],
)
def test_bad_input_is_a_form_error_and_creates_nothing(client, world, extra, message):
    response = post_report(client, world.buildings["a1_1"].qr_token, **extra)
    assert response.status_code == 400
    assert message in text(response)
    assert Ticket.objects.count() == 0


def test_anonymous_report_needs_no_phone_and_keeps_none(client, world):
    response = post_report(
        client, world.buildings["a1_1"].qr_token, phone="13911112222", anonymous="on"
    )
    assert response.status_code == 302
    t = Ticket.objects.get()
    assert (t.anonymous, t.reporter_name, t.reporter_phone) == (True, "", "")


def test_report_without_a_building_goes_to_triage_and_needs_an_address(client, world):
    data = {"description": "路口井盖丢了", "phone": "13900000009", "key": uuid.uuid4().hex}
    missing = client.post("/report/", data)
    assert missing.status_code == 400
    assert "请填写问题地点" in text(missing)
    response = client.post("/report/", {**data, "address": "南大街与文化路路口"})
    assert response.status_code == 302
    t = Ticket.objects.get()
    assert (t.channel, t.state, t.grid, t.owner_region, t.address) == (
        "web",
        State.TRIAGE,
        None,
        world.r("city"),
        "南大街与文化路路口",
    )


def test_rate_limit_answers_429_and_keeps_earlier_tickets(client, world, settings):
    settings.JIAYUAN_RATE_LIMITS = {"report": (3, 600)}
    token = world.buildings["a1_1"].qr_token
    for _ in range(3):
        assert post_report(client, token).status_code == 302
    response = post_report(client, token)
    assert response.status_code == 429
    assert "操作过于频繁：每 10 分钟最多 3 次，请稍后再试" in text(response)
    assert "您此前已提交的诉求均已受理" in text(response)
    assert Ticket.objects.count() == 3
    # Another address is not affected.
    other = {"description": "另一处", "phone": "13900000003", "key": uuid.uuid4().hex}
    assert client.post(f"/r/{token}/", other, REMOTE_ADDR="10.0.0.9").status_code == 302
    assert Ticket.objects.count() == 4


# ---------------------------------------------------------------------------------------------
# Residents: follow, rate, cancel


def test_track_with_the_right_phone_opens_the_ticket(client, world):
    t = make(world)
    response = client.post("/track/", {"number": t.number.lower(), "phone": "139 0000 0001"})
    assert response.status_code == 302
    assert response["Location"] == f"/track/{t.number}/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "待签收" in text(page)
    assert "撤销诉求" in text(page)


@pytest.mark.parametrize("which", ["wrong_phone", "unknown_number"])
def test_track_with_a_wrong_phone_or_number_says_the_same(client, world, which):
    t = make(world)
    number, phone = (
        (t.number, "13900000002") if which == "wrong_phone" else ("J20990101000001", "13900000001")
    )
    response = client.post("/track/", {"number": number, "phone": phone})
    assert response.status_code == 400
    assert "工单编号或联系电话不正确" in text(response)
    assert client.get(f"/track/{t.number}/")["Location"] == f"/track/?number={t.number}"


def test_track_lookups_are_rate_limited(client, world, settings):
    settings.JIAYUAN_RATE_LIMITS = {"track": (2, 600)}
    t = make(world)
    for _ in range(2):
        assert client.post("/track/", {"number": t.number, "phone": "1"}).status_code == 400
    response = client.post("/track/", {"number": t.number, "phone": "13900000001"})
    assert response.status_code == 429


def test_public_timeline_shows_roles_not_names_nor_internal_notes(client, world):
    gw = world.users["grid_worker"]
    gw.last_name, gw.first_name = "王", "网格"
    gw.save()
    t = make(world)
    transition(t, "accept", actor=gw)
    transition(t, "request_extension", actor=gw, days=2, reason="需等待配件到货，内部协调")
    transition(t, "handle", actor=gw, note="已联系物业，明天更换灯泡")
    client.post("/track/", {"number": t.number, "phone": "13900000001"})
    body = text(client.get(f"/track/{t.number}/"))
    assert "王网格" not in body and "grid_worker" not in body
    assert "网格员 · " in body  # the role, with the region after it
    assert "申请延期" in body and "需等待配件到货" not in body
    assert "已联系物业，明天更换灯泡" in body


def test_the_reporter_rates_a_resolved_ticket_without_giving_the_phone_again(client, world):
    t = make(world)
    transition(t, "accept", actor=world.users["grid_worker"])
    transition(t, "resolve", actor=world.users["grid_worker"], result="已更换灯泡")
    client.post("/track/", {"number": t.number, "phone": "13900000001"})
    page = client.get(f"/track/{t.number}/")
    assert "请评价办理结果" in text(page) and "已更换灯泡" in text(page)
    missing = client.post(f"/track/{t.number}/rate/", {})
    assert missing.status_code == 400
    assert "请选择满意、基本满意或不满意" in text(missing)
    response = client.post(f"/track/{t.number}/rate/", {"rating": "satisfied", "comment": "很及时"})
    assert response.status_code == 302
    t.refresh_from_db()
    assert (t.state, t.rating, t.rating_comment) == (State.CLOSED, "satisfied", "很及时")
    event = t.events.order_by("-seq").first()
    assert (event.action, event.actor_id, event.actor_label) == ("rate", None, "诉求人")
    assert "您的评价" in text(client.get(f"/track/{t.number}/"))


def test_rating_needs_the_verified_session(client, world):
    t = make(world)
    transition(t, "accept", actor=world.users["grid_worker"])
    transition(t, "resolve", actor=world.users["grid_worker"], result="已处理")
    response = client.post(f"/track/{t.number}/rate/", {"rating": "satisfied"})
    assert response.status_code == 302
    assert response["Location"] == f"/track/?number={t.number}"
    t.refresh_from_db()
    assert t.state == State.RESOLVED


def test_the_reporter_cancels_before_acceptance_but_not_after(client, world):
    t = make(world)
    client.post("/track/", {"number": t.number, "phone": "13900000001"})
    assert client.post(f"/track/{t.number}/cancel/", {"reason": "已自行解决"}).status_code == 302
    t.refresh_from_db()
    assert t.state == State.CANCELLED
    t2 = make(world)
    client.post("/track/", {"number": t2.number, "phone": "13900000001"})
    transition(t2, "accept", actor=world.users["grid_worker"])
    response = client.post(f"/track/{t2.number}/cancel/", {})
    assert response.status_code == 409
    assert "工单当前为“办理中”，不能撤销" in text(response)


def test_the_report_page_session_can_follow_an_anonymous_ticket(client, world):
    response = post_report(client, world.buildings["a1_1"].qr_token, anonymous="on")
    t = Ticket.objects.get()
    assert client.get(response["Location"]).status_code == 200
    assert client.get(f"/track/{t.number}/").status_code == 200


# ---------------------------------------------------------------------------------------------
# Staff: inbox


@pytest.fixture
def tickets(world: Any, depts: Any) -> dict[str, Ticket]:
    gw, sec = world.users["grid_worker"], world.users["community_secretary"]
    t1 = make(world, title="t1")  # waiting at grid A1-1
    t2 = make(world, title="t2")
    transition(t2, "accept", actor=gw)  # the grid worker's own
    t3 = make(world, title="t3")
    transition(t3, "accept", actor=gw)
    transition(t3, "call_up", actor=gw, note="需社区协调")  # waiting at community A1
    t4 = make(world, "b1_1", title="t4")  # street B
    t6 = make(world, "a1_1b", title="t6")
    transition(t6, "accept", actor=gw)
    transition(t6, "call_up", actor=gw, note="需社区协调")
    transition(t6, "respond", actor=sec)
    transition(t6, "dispatch", actor=sec, lead=depts["housing"].pk)  # waiting at 住建
    return {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "t6": t6}


def tab_set(user: Any, tab: str, **kw: Any) -> set[str]:
    return {t.title for t in selectors.inbox(user, tab=tab, **kw).rows}


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (
            "grid_worker",
            {
                "todo": {"t1"},
                "mine": {"t2"},
                "supervised": set(),
                "returned": set(),
                "all": {"t1", "t2", "t3", "t6"},
            },
        ),
        (
            "community_secretary",
            {
                "todo": {"t3"},
                "mine": set(),
                "supervised": set(),
                "returned": set(),
                "all": {"t1", "t2", "t3", "t6"},
            },
        ),
        (
            "street_officer",
            {
                "todo": set(),
                "mine": set(),
                "supervised": set(),
                "returned": set(),
                "all": {"t1", "t2", "t3", "t6"},
            },
        ),
        (
            "department_officer",
            {"todo": {"t6"}, "mine": set(), "supervised": set(), "returned": set(), "all": {"t6"}},
        ),
        (
            "command_center",
            {
                "todo": set(),
                "mine": set(),
                "supervised": set(),
                "returned": set(),
                "all": {"t1", "t2", "t3", "t4", "t6"},
            },
        ),
        (
            "outsider",
            {"todo": set(), "mine": set(), "supervised": set(), "returned": set(), "all": set()},
        ),
    ],
)
def test_inbox_tabs_per_role(world, tickets, user, expected):
    u = world.users[user]
    assert {tab: tab_set(u, tab) for tab in expected} == expected
    counts = selectors.inbox(u).counts
    assert {k: counts[k] for k in expected} == {k: len(v) for k, v in expected.items()}


def test_overdue_supervised_and_returned_tabs(world, tickets):
    gw, sec, street = (
        world.users["grid_worker"],
        world.users["community_secretary"],
        world.users["street_officer"],
    )
    later = timezone.now() + dt.timedelta(days=30)
    assert tab_set(gw, "overdue") == set()
    assert tab_set(gw, "overdue", now=later) == {"t1", "t2", "t3", "t6"}
    transition(tickets["t1"], "supervise", actor=street, days=2, note="请尽快处理")
    assert tab_set(gw, "supervised") == {"t1"}
    transition(
        tickets["t6"], "return", actor=world.users["department_officer"], reason="非本部门职责"
    )
    assert tab_set(sec, "returned") == {"t6"}
    assert tab_set(gw, "returned") == set()
    accept = tickets["t6"].assignments.get()
    assert accept.state == AssignmentState.RETURNED


def test_tab_counts_read_once_equal_counting_each_tab(world, tickets, monkeypatch):
    """Narrow views count every tab in one aggregate over the open tickets in view; wide views
    and busy narrow ones count tab by tab. Both give the rows' numbers."""
    street, sec = world.users["street_officer"], world.users["community_secretary"]
    transition(tickets["t1"], "supervise", actor=street, days=2, note="请尽快处理")
    transition(
        tickets["t6"], "return", actor=world.users["department_officer"], reason="非本部门职责"
    )
    later = timezone.now() + dt.timedelta(days=30)
    for user in (world.users["grid_worker"], sec, street, world.users["command_center"]):
        page = selectors.inbox(user, now=later)
        expected = {t.key: len(tab_set(user, t.key, now=later)) for t in selectors.TABS}
        assert page.counts == expected, user
    assert selectors.inbox(sec, now=later).counts["returned"] == 1
    # A street with more open tickets than the cap: each tab on its own, capped.
    monkeypatch.setattr(selectors, "COUNT_CAP", 2)
    counts = selectors.inbox(street, now=later).counts
    assert counts["all"] == 3 and counts["overdue"] == 3 and counts["supervised"] == 1
    assert selectors.inbox(street, now=later).count_label("all") == "2+"


def test_department_mine_tab_lists_accepted_assignments(world, tickets):
    officer = world.users["department_officer"]
    transition(tickets["t6"], "dept_accept", actor=officer)
    assert (tab_set(officer, "todo"), tab_set(officer, "mine")) == (set(), {"t6"})


def test_inbox_page_filters_tabs_and_htmx_table(login, world, tickets):
    client = login("grid_worker")
    page = client.get("/tickets/")
    assert page.status_code == 200
    body = text(page)
    assert tickets["t1"].number in body and tickets["t2"].number not in body
    assert re.search(r'data-tab="all"[^>]*>全部<span class="count">4</span>', body)
    all_tab = text(client.get("/tickets/?tab=all&q=t3"))
    assert tickets["t3"].number in all_tab and tickets["t1"].number not in all_tab
    by_number = text(client.get(f"/tickets/?tab=all&q={tickets['t2'].number.lower()}"))
    assert tickets["t2"].number in by_number and tickets["t1"].number not in by_number
    called = text(client.get("/tickets/?tab=all&state=called_up"))
    assert tickets["t3"].number in called and tickets["t2"].number not in called
    fragment = client.get("/tickets/?tab=all", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    assert "<html" not in text(fragment) and 'id="inbox-table"' in text(fragment)


@pytest.mark.parametrize("user", ["grid_worker", "street_officer", "command_center"])
def test_inbox_query_count_does_not_grow_with_tickets(login, world, tickets, user):
    client = login(user)
    client.get("/tickets/?tab=all")  # warm the session
    with CaptureQueriesContext(connection) as few:
        assert client.get("/tickets/?tab=all").status_code == 200
    for i in range(12):
        make(world, "a1_1b", title=f"more{i}")
    with CaptureQueriesContext(connection) as many:
        assert client.get("/tickets/?tab=all").status_code == 200
    assert len(many) == len(few)
    assert len(few) <= 14


# ---------------------------------------------------------------------------------------------
# Staff: ticket page, actions, reveal


def test_detail_shows_the_ticket_with_masked_phone_and_actions(login, world, tickets):
    body = text(login("grid_worker").get(f"/tickets/{tickets['t1'].number}/"))
    assert "139****0001" in body and "13900000001" not in body
    assert 'data-action="accept"' in body
    assert 'data-action="dispatch"' not in body
    assert "友谊街社区 · 友谊街社区第一网格" in body
    assert "<b>提交</b>" in body


@pytest.mark.parametrize(
    ("user", "key"), [("grid_worker", "t4"), ("outsider", "t1"), ("department_officer", "t1")]
)
def test_detail_out_of_scope_is_404(login, world, tickets, user, key):
    client = login(user)
    assert client.get(f"/tickets/{tickets[key].number}/").status_code == 404
    assert client.post(f"/tickets/{tickets[key].number}/act/accept/").status_code == 404


def test_detail_needs_login(client, world, tickets):
    response = client.get(f"/tickets/{tickets['t1'].number}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_accept_via_htmx_swaps_the_detail(login, world, tickets):
    t = tickets["t1"]
    response = login("grid_worker").post(f"/tickets/{t.number}/act/accept/", **HTMX)
    assert response.status_code == 200
    assert 'id="flash">已签收<' in text(response) and "<html" not in text(response)
    t.refresh_from_db()
    assert (t.state, t.owner_user) == (State.IN_PROGRESS, world.users["grid_worker"])


def test_plain_post_redirects_back_to_the_ticket(login, world, tickets):
    t = tickets["t1"]
    response = login("grid_worker").post(f"/tickets/{t.number}/act/accept/")
    assert response.status_code == 302 and response["Location"] == f"/tickets/{t.number}/"


def test_refused_action_is_403_with_the_message(login, world, tickets):
    t = tickets["t1"]
    response = login("community_secretary").post(f"/tickets/{t.number}/act/accept/", **HTMX)
    assert response.status_code == 403
    assert "您的岗位不能对该工单执行“签收”" in text(response)
    t.refresh_from_db()
    assert t.state == State.ASSIGNED


def test_action_in_the_wrong_state_is_409(login, world, tickets):
    t = tickets["t2"]  # already in progress
    response = login("grid_worker").post(f"/tickets/{t.number}/act/accept/", **HTMX)
    assert response.status_code == 409
    assert "工单当前为“办理中”，不能签收" in text(response)


def test_missing_data_is_400_with_the_field_error(login, world, tickets):
    t = tickets["t2"]
    client = login("grid_worker")
    response = client.post(f"/tickets/{t.number}/act/handle/", {"note": ""}, **HTMX)
    assert response.status_code == 400
    assert 'data-field="note"' in text(response) and "请填写办理进展" in text(response)
    response = client.post(f"/tickets/{t.number}/act/call_up/", {"note": "  "}, **HTMX)
    assert response.status_code == 400
    assert "请说明需要上级协调解决的事项" in text(response)
    assert t.events.count() == 2


def test_unknown_action_is_404(login, world, tickets):
    assert login("grid_worker").post(f"/tickets/{tickets['t1'].number}/act/fly/").status_code == 404


def test_the_ladder_through_the_pages(login, world, tickets, depts):
    t = tickets["t2"]
    gw = login("grid_worker")
    assert (
        gw.post(f"/tickets/{t.number}/act/call_up/", {"note": "需要协调"}, **HTMX).status_code
        == 200
    )
    sec = login("community_secretary")
    assert sec.post(f"/tickets/{t.number}/act/respond/", **HTMX).status_code == 200
    r = sec.post(f"/tickets/{t.number}/act/call_up/", {"note": "需要街道协调"}, **HTMX)
    assert r.status_code == 200
    street = login("street_officer")
    assert street.post(f"/tickets/{t.number}/act/respond/", **HTMX).status_code == 200
    page = text(street.get(f"/tickets/{t.number}/"))
    assert f'<option value="{depts["housing"].pk}">芝罘区住房和城乡建设局</option>' in page
    missing = street.post(f"/tickets/{t.number}/act/dispatch/", {"co": []}, **HTMX)
    assert missing.status_code == 400 and "请选择主办部门" in text(missing)
    response = street.post(
        f"/tickets/{t.number}/act/dispatch/",
        {"lead": depts["housing"].pk, "co": [depts["chengguan"].pk], "note": "请住建牵头"},
        **HTMX,
    )
    assert response.status_code == 200
    assert set(TicketAssignment.objects.filter(ticket=t).values_list("department_id", "role")) == {
        (depts["housing"].pk, "lead"),
        (depts["chengguan"].pk, "co"),
    }
    for name, result in [("department_officer", "已维修"), ("chengguan", "已清理")]:
        client = login(name)
        assert client.post(f"/tickets/{t.number}/act/dept_accept/", **HTMX).status_code == 200
        r = client.post(f"/tickets/{t.number}/act/dept_finish/", {"result": result}, **HTMX)
        assert r.status_code == 200
    t.refresh_from_db()
    assert (t.state, t.result) == (State.RESOLVED, "已维修")


def test_transfer_out_of_scope_redirects_to_the_inbox(login, world, tickets):
    t = tickets["t1"]
    client = login("grid_worker")
    response = client.post(
        f"/tickets/{t.number}/act/transfer/",
        {"region": world.r("grid_a1_2").pk, "note": "不属于本网格"},
        **HTMX,
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/tickets/"
    t.refresh_from_db()
    assert (t.owner_region, t.grid) == (world.r("grid_a1_2"), world.r("grid_a1_2"))


def test_merge_takes_a_ticket_number_in_scope(login, world, tickets):
    client = login("grid_worker")
    t1, t2, t4 = tickets["t1"], tickets["t2"], tickets["t4"]
    out = client.post(f"/tickets/{t1.number}/act/merge/", {"into": t4.number}, **HTMX)
    assert out.status_code == 400 and "未找到该编号的工单" in text(out)
    ok = client.post(f"/tickets/{t1.number}/act/merge/", {"into": t2.number.lower()}, **HTMX)
    assert ok.status_code == 200
    t1.refresh_from_db()
    assert (t1.state, t1.merged_into) == (State.MERGED, t2)


def test_resolve_with_photos_stores_them_on_the_event(login, world, tickets):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from jiayuan.tickets.tests.test_uploads import image_bytes

    t = tickets["t2"]
    photo = SimpleUploadedFile("done.jpg", image_bytes(exif=True), content_type="image/jpeg")
    response = login("grid_worker").post(
        f"/tickets/{t.number}/act/resolve/", {"result": "已修好", "photos": [photo]}, **HTMX
    )
    assert response.status_code == 200
    t.refresh_from_db()
    assert t.state == State.RESOLVED
    att = t.attachments.get()
    assert att.event_seq == t.version
    assert login("grid_worker").get(f"/tickets/{t.number}/photos/{att.pk}/").status_code == 200
    assert (
        login("street_officer").get(f"/tickets/{tickets['t4'].number}/photos/{att.pk}/").status_code
        == 404
    )


def test_reveal_logs_and_refuses_posts_without_the_right(login, world, tickets):
    t = tickets["t1"]
    response = login("community_secretary").post(f"/tickets/{t.number}/reveal/", **HTMX)
    assert response.status_code == 200
    assert "13900000001" in text(response) and "李女士" not in text(response)  # none given
    log = AccessLog.objects.get()
    assert (log.username, log.model, log.object_ids, log.fields) == (
        "community_secretary",
        "tickets.Ticket",
        str(t.pk),
        "reporter_name,reporter_phone",
    )
    refused = login("grid_worker_masked").post(f"/tickets/{t.number}/reveal/", **HTMX)
    assert refused.status_code == 403
    assert "您的岗位无权查看完整联系方式" in text(refused)
    assert AccessLog.objects.count() == 1
    assert (
        login("street_officer").post(f"/tickets/{tickets['t4'].number}/reveal/").status_code == 404
    )


def test_confidential_reporter_is_hidden_until_revealed(login, world):
    t = make(world, reporter_name="赵先生", confidential=True)
    client = login("grid_worker")
    body = text(client.get(f"/tickets/{t.number}/"))
    assert "（保密）" in body and "赵先生" not in body
    revealed = text(client.post(f"/tickets/{t.number}/reveal/", **HTMX))
    assert "赵先生" in revealed and "13900000001" in revealed


# ---------------------------------------------------------------------------------------------
# Staff: triage queue and bulk assignment


def triage_ticket(n: int) -> Ticket:
    return ticket_create(
        channel="hotline", title=f"路灯{n}", description="路灯不亮", reporter_phone="13900000002"
    ).ticket


def test_bulk_assign_reports_each_ticket(login, world):
    a, b, c = triage_ticket(1), triage_ticket(2), triage_ticket(3)
    transition(c, "assign", actor=world.users["command_center"], region=world.r("grid_a2_1").pk)
    client = login("command_center")
    page = text(client.get("/tickets/triage/"))
    assert a.number in page and b.number in page and c.number not in page
    response = client.post(
        "/tickets/triage/",
        {"ticket": [a.pk, b.pk, c.pk], "region": world.r("grid_a1_2").pk},
    )
    assert response.status_code == 302
    msgs = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert msgs == [
        ("success", f"{a.number}：已分拨至友谊街社区第二网格"),
        ("success", f"{b.number}：已分拨至友谊街社区第二网格"),
        ("error", f"{c.number}：工单当前为“待签收”，不能分拨"),
    ]
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.state, a.grid, b.state, b.grid) == (
        State.ASSIGNED,
        world.r("grid_a1_2"),
        State.ASSIGNED,
        world.r("grid_a1_2"),
    )


def test_bulk_assign_needs_a_region_in_scope_and_a_selection(login, world):
    a = triage_ticket(1)
    client = login("command_center")
    r = client.post("/tickets/triage/", {"ticket": [a.pk], "region": ""}, follow=True)
    assert [str(m) for m in r.context["messages"]] == ["请选择承办网格或社区"]
    r = client.post("/tickets/triage/", {"region": world.r("grid_a1_2").pk}, follow=True)
    assert [str(m) for m in r.context["messages"]] == ["请先勾选要分拨的工单"]
    a.refresh_from_db()
    assert a.state == State.TRIAGE


def test_bulk_assign_by_someone_who_cannot_see_the_tickets(login, world):
    a = triage_ticket(1)
    client = login("street_officer")
    assert a.number not in text(client.get("/tickets/triage/"))
    r = client.post("/tickets/triage/", {"ticket": [a.pk], "region": world.r("grid_a1_1").pk})
    assert [str(m) for m in get_messages(r.wsgi_request)] == [
        f"#{a.pk}：工单不存在或不在您的管辖范围内"
    ]
    a.refresh_from_db()
    assert a.state == State.TRIAGE
