"""The declared workflow: the ladder, who may do what, deadlines, the hash chain."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from jiayuan.core.errors import JiayuanError, PermissionDenied
from jiayuan.tickets.choices import AssignmentState, Level, State
from jiayuan.tickets.events import verify_chain
from jiayuan.tickets.models import Category, Ticket, TicketEvent
from jiayuan.tickets.services import ticket_create
from jiayuan.tickets.workflow import (
    Conflict,
    InvalidTransition,
    allowed_actions,
    transition,
)

SH = zoneinfo.ZoneInfo("Asia/Shanghai")


def test_intake_assigns_to_the_buildings_grid_with_123_deadlines(world):
    # Monday 2026-11-23 10:00 local: accept by Tue 10:00, resolve by Wed, feed back by Thu.
    now = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SH)
    t = ticket_create(
        channel="qr",
        title="",
        description="下水道堵了",
        building=world.buildings["a1_1"],
        reporter_phone="13900000001",
        created_at=now,
    ).ticket
    assert (t.state, t.level, t.owner_region, t.grid) == (
        State.ASSIGNED,
        Level.GRID,
        world.r("grid_a1_1"),
        world.r("grid_a1_1"),
    )
    assert t.number == "J20261123000001"
    assert t.title == "下水道堵了"
    assert t.accept_due == dt.datetime(2026, 11, 24, 10, 0, tzinfo=SH)
    assert t.resolve_due == dt.datetime(2026, 11, 25, 10, 0, tzinfo=SH)
    assert t.feedback_due == dt.datetime(2026, 11, 26, 10, 0, tzinfo=SH)
    ev = t.events.get()
    assert (ev.seq, ev.action, ev.to_state, ev.to_region_id) == (
        1,
        "submit",
        "assigned",
        world.r("grid_a1_1").pk,
    )
    assert verify_chain(t) is None


def test_urgent_category_counts_hours(world):
    now = dt.datetime(2026, 11, 28, 22, 0, tzinfo=SH)  # a Saturday night
    t = ticket_create(
        channel="web",
        title="燃气味",
        description="楼道里有很重的燃气味",
        building=world.buildings["a1_1"],
        reporter_phone="13900000001",
        category=Category.objects.get(code="gas_leak"),
        created_at=now,
    ).ticket
    assert t.urgency == "urgent"
    assert t.accept_due == now + dt.timedelta(hours=1)
    assert t.resolve_due == now + dt.timedelta(hours=24)


def test_unlocated_ticket_goes_to_triage_and_is_assigned_by_the_command_centre(world):
    t = ticket_create(
        channel="hotline", title="路灯", description="某路口路灯不亮", reporter_phone="13900000002"
    ).ticket
    assert (t.state, t.owner_region) == (State.TRIAGE, world.r("city"))
    with pytest.raises(PermissionDenied):
        transition(t, "assign", actor=world.users["street_officer"], region=world.r("grid_a1_2").pk)
    transition(t, "assign", actor=world.users["command_center"], region=world.r("grid_a1_2").pk)
    assert (t.state, t.owner_region, t.grid, t.level) == (
        State.ASSIGNED,
        world.r("grid_a1_2"),
        world.r("grid_a1_2"),
        Level.GRID,
    )


def test_the_whole_ladder_with_lead_and_co_departments(world, depts, ticket):
    t = ticket
    gw, sec, street = (
        world.users["grid_worker"],
        world.users["community_secretary"],
        world.users["street_officer"],
    )
    transition(t, "accept", actor=gw)
    assert (t.state, t.owner_user) == (State.IN_PROGRESS, gw)
    transition(t, "call_up", actor=gw, note="需要社区协调物业")
    assert (t.state, t.level, t.owner_region, t.called_from) == (
        State.CALLED_UP,
        Level.COMMUNITY,
        world.r("comm_a1"),
        world.r("grid_a1_1"),
    )
    with pytest.raises(PermissionDenied):
        transition(t, "respond", actor=gw)
    transition(t, "respond", actor=sec)
    transition(t, "call_up", actor=sec, note="涉及管网改造，需街道协调")
    transition(t, "respond", actor=street)
    transition(t, "dispatch", actor=street, lead=depts["housing"].pk, co=[depts["chengguan"].pk])
    assert (t.state, t.level) == (State.DISPATCHED, Level.DEPARTMENT)
    housing, cg = world.users["department_officer"], world.users["chengguan"]
    assert Ticket.objects.visible_to(housing).filter(pk=t.pk).exists()
    with pytest.raises(InvalidTransition):
        transition(t, "dept_finish", actor=housing, result="已修复")  # must accept first
    transition(t, "dept_accept", actor=housing)
    transition(t, "dept_accept", actor=cg)
    transition(t, "dept_finish", actor=housing, result="已更换管道")
    assert t.state == State.DISPATCHED  # the co-handler has not reported yet
    transition(t, "dept_finish", actor=cg, result="已清理占道")
    assert (t.state, t.resolved_level, t.result) == (State.RESOLVED, Level.DEPARTMENT, "已更换管道")
    transition(t, "rate", as_reporter=True, rating="satisfied", comment="很快")
    assert (t.state, t.rating) == (State.CLOSED, "satisfied")
    transition(t, "archive", actor=world.users["command_center"])
    assert t.state == State.ARCHIVED
    actions = list(t.events.values_list("action", flat=True))
    assert actions == [
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
        "archive",
    ]
    assert verify_chain(t) is None
    assert t.version == 13


def test_whistle_calls_several_departments_at_once_from_the_grid(world, depts, ticket):
    gw = world.users["grid_worker"]
    transition(ticket, "accept", actor=gw)
    ev = transition(
        ticket,
        "call_up",
        actor=gw,
        note="吹哨：违建加占道",
        lead=depts["chengguan"].pk,
        co=[depts["housing"].pk],
    )
    assert ev.data == {"lead": depts["chengguan"].pk, "co": [depts["housing"].pk], "whistle": True}
    assert ticket.state == State.DISPATCHED
    assert sorted(ticket.assignments.values_list("role", flat=True)) == ["co", "lead"]


def test_grid_cannot_dispatch_without_whistle(world, depts, ticket):
    gw = world.users["grid_worker"]
    transition(ticket, "accept", actor=gw)
    with pytest.raises(InvalidTransition):
        transition(ticket, "dispatch", actor=gw, lead=depts["housing"].pk)


def test_lead_return_goes_back_to_the_dispatcher(world, depts, ticket):
    gw, sec = world.users["grid_worker"], world.users["community_secretary"]
    transition(ticket, "accept", actor=gw)
    transition(ticket, "call_up", actor=gw, note="x")
    transition(ticket, "respond", actor=sec)
    transition(ticket, "dispatch", actor=sec, lead=depts["housing"].pk)
    with pytest.raises(JiayuanError) as err:
        transition(ticket, "return", actor=world.users["department_officer"])
    assert err.value.field == "reason"
    transition(ticket, "return", actor=world.users["department_officer"], reason="不属于住建职责")
    assert (ticket.state, ticket.owner_region, ticket.level) == (
        State.IN_PROGRESS,
        world.r("comm_a1"),
        Level.COMMUNITY,
    )
    assert ticket.assignments.get().state == AssignmentState.RETURNED
    with pytest.raises(PermissionDenied):  # a returned department can no longer act on it
        transition(
            ticket, "request_extension", actor=world.users["department_officer"], days=1, reason="x"
        )


def test_upper_level_returns_a_call_up_to_the_caller(world, ticket):
    gw, sec = world.users["grid_worker"], world.users["community_secretary"]
    transition(ticket, "accept", actor=gw)
    transition(ticket, "call_up", actor=gw, note="请社区处理")
    transition(ticket, "return", actor=sec, reason="网格可自行处理")
    assert (ticket.state, ticket.owner_region) == (State.IN_PROGRESS, world.r("grid_a1_1"))


def test_unsatisfied_rating_reopens_until_the_policy_limit(world, ticket):
    gw = world.users["grid_worker"]
    transition(ticket, "accept", actor=gw)
    for n in range(1, 3):
        transition(ticket, "resolve", actor=gw, result=f"第{n}次处理")
        transition(ticket, "rate", as_reporter=True, rating="unsatisfied")
        assert (ticket.state, ticket.reopen_count, ticket.owner_region) == (
            State.IN_PROGRESS,
            n,
            world.r("grid_a1_1"),
        )
    transition(ticket, "resolve", actor=gw, result="第3次处理")
    transition(ticket, "rate", as_reporter=True, rating="unsatisfied")
    assert (ticket.state, ticket.supervised, ticket.reopen_count) == (State.CLOSED, True, 2)


def test_extension_request_and_approval_moves_the_deadline(world, ticket):
    gw, sec = world.users["grid_worker"], world.users["community_secretary"]
    transition(ticket, "accept", actor=gw)
    before = ticket.resolve_due
    with pytest.raises(JiayuanError):
        transition(ticket, "request_extension", actor=gw, days=99, reason="x")
    transition(ticket, "request_extension", actor=gw, days=3, reason="等待配件")
    with pytest.raises(PermissionDenied):
        transition(ticket, "approve_extension", actor=gw)
    transition(ticket, "approve_extension", actor=sec, approve=True)
    assert ticket.extension_requested_days is None
    assert ticket.resolve_due > before
    assert ticket.deadline_gen == 2


def test_supervise_by_upper_levels_only(world, ticket):
    with pytest.raises(PermissionDenied):
        transition(ticket, "supervise", actor=world.users["grid_worker"])
    transition(ticket, "supervise", actor=world.users["street_officer"], days=1, note="尽快")
    assert ticket.supervised and ticket.supervise_due is not None


def test_cancel_by_reporter_only_before_acceptance(world, ticket):
    with pytest.raises(PermissionDenied):
        transition(ticket, "cancel", actor=world.users["grid_worker"])
    transition(ticket, "cancel", as_reporter=True, reason="已自行解决")
    assert ticket.state == State.CANCELLED
    with pytest.raises(InvalidTransition):
        transition(ticket, "accept", actor=world.users["grid_worker"])


def test_merge_duplicates(world, ticket):
    other = ticket_create(
        channel="web",
        title="灯坏",
        description="楼道灯坏了",
        building=world.buildings["a1_1"],
        reporter_phone="13900000003",
    ).ticket
    transition(other, "merge", actor=world.users["grid_worker"], into=ticket.pk)
    assert (other.state, other.merged_into) == (State.MERGED, ticket)


def test_transfer_between_grids_by_the_community(world, ticket):
    with pytest.raises(JiayuanError):
        transition(
            ticket,
            "transfer",
            actor=world.users["community_secretary"],
            region=world.r("comm_a2").pk,
            note="x",
        )
    transition(
        ticket,
        "transfer",
        actor=world.users["community_secretary"],
        region=world.r("grid_a1_2").pk,
        note="位置在二网格",
    )
    assert (ticket.state, ticket.owner_region, ticket.grid) == (
        State.ASSIGNED,
        world.r("grid_a1_2"),
        world.r("grid_a1_2"),
    )


@pytest.mark.parametrize(
    "user",
    [
        "grid_worker_masked",
        "community_worker",
        "street_officer",
        "department_officer",
        "outsider",
        "resident",
    ],
)
def test_only_the_grids_handler_may_accept(world, ticket, user):
    actor = world.users[user]
    if user == "grid_worker_masked":
        # holds a grid_worker post on the same grid: a handler too
        transition(ticket, "accept", actor=actor)
        return
    with pytest.raises(PermissionDenied):
        transition(ticket, "accept", actor=actor)
    assert Ticket.objects.get(pk=ticket.pk).state == State.ASSIGNED
    assert TicketEvent.objects.filter(ticket=ticket).count() == 1


def test_allowed_actions_lists_what_the_post_may_do(world, ticket):
    assert [r.action for r in allowed_actions(ticket, world.users["grid_worker"])] == [
        "triage",
        "accept",
        "transfer",
        "merge",
    ]
    assert [r.action for r in allowed_actions(ticket, world.users["street_officer"])] == [
        "transfer",
        "supervise",
        "merge",
    ]
    assert allowed_actions(ticket, world.users["outsider"]) == []


def test_a_stale_copy_gets_a_conflict_and_writes_nothing(world, ticket):
    stale = Ticket.objects.get(pk=ticket.pk)
    transition(ticket, "accept", actor=world.users["grid_worker"])
    with pytest.raises(Conflict):
        transition(stale, "triage", actor=world.users["grid_worker"], note="不是本网格")
    assert ticket.events.count() == 2


def test_tampering_is_detected_at_the_first_broken_link(world, ticket):
    gw = world.users["grid_worker"]
    transition(ticket, "accept", actor=gw)
    transition(ticket, "handle", actor=gw, note="已联系物业")
    assert verify_chain(ticket) is None
    TicketEvent.objects.filter(ticket=ticket, seq=2).update(note="篡改")
    broken = verify_chain(ticket)
    assert (broken.seq, broken.reason) == (2, "记录内容被修改")
    TicketEvent.objects.filter(ticket=ticket, seq=2).update(note="")
    assert verify_chain(ticket) is None
    TicketEvent.objects.filter(ticket=ticket, seq=3).delete()
    broken = verify_chain(ticket)
    assert broken.reason == "工单与最后一条记录不一致"
    Ticket.objects.filter(pk=ticket.pk).update(state="closed")
    t = Ticket.objects.get(pk=ticket.pk)
    assert verify_chain(t) is not None


def test_idempotency_key_returns_the_same_ticket(world):
    kwargs = dict(
        channel="api",
        title="t",
        description="d",
        reporter_phone="13900000001",
        idempotency_scope="user:1",
        idempotency_key="abc",
    )
    a = ticket_create(**kwargs)
    b = ticket_create(**kwargs)
    assert a.created and not b.created and a.ticket.pk == b.ticket.pk
    assert Ticket.objects.count() == 1


def test_bad_intake_is_a_clear_error(world):
    with pytest.raises(JiayuanError) as err:
        ticket_create(channel="qr", title="", description="  ", reporter_phone="1")
    assert (err.value.code, err.value.field) == ("required", "description")
    with pytest.raises(JiayuanError) as err:
        ticket_create(channel="qr", title="", description="x")
    assert err.value.field == "phone"
    assert Ticket.objects.count() == 0


def test_assign_and_dispatch_stay_inside_the_actors_reach(world, depts):
    from jiayuan.core.testing import UserFactory, post
    from jiayuan.regions.models import Region
    from jiayuan.staff.models import Department

    t = ticket_create(channel="hotline", title="x", description="y", reporter_phone="139").ticket
    district_cc = UserFactory(username="district_cc")
    post(district_cc, "command_center", region=world.r("district"))
    other_district = Region.objects.create(
        code="370611000000", name="福山区", level="district", parent=world.r("city")
    )
    other_street = Region.objects.create(
        code="370611001000", name="清洋街道", level="street", parent=other_district
    )
    # the district's own triage queue (a district-wide hotline batch lands there)
    Ticket.objects.filter(pk=t.pk).update(owner_region=world.r("district"))
    t.refresh_from_db()
    with pytest.raises(JiayuanError) as err:
        transition(t, "assign", actor=district_cc, region=other_street.pk)
    assert err.value.code == "out_of_scope"
    transition(t, "assign", actor=district_cc, region=world.r("street_a").pk)
    transition(t, "accept", actor=world.users["street_officer"])
    foreign = Department.objects.create(
        code="fs-zj", name="福山区住建局", short_name="住建", region=other_district
    )
    with pytest.raises(JiayuanError) as err:
        transition(t, "dispatch", actor=world.users["street_officer"], lead=foreign.pk)
    assert (err.value.code, err.value.field) == ("out_of_scope", "lead")
    transition(t, "dispatch", actor=world.users["street_officer"], lead=depts["housing"].pk)
    assert t.state == State.DISPATCHED
