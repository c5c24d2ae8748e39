"""Who is told about each ticket event, once; outbound copies sent once, retried on failure."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest

from jiayuan.core.testing import UserFactory
from jiayuan.notifications.models import Kind, Notification, OutboundMessage
from jiayuan.notifications.services import (
    MAX_ATTEMPTS,
    notify_ticket_event,
    send_outbound,
)
from jiayuan.staff.choices import Role
from jiayuan.staff.models import Department, Post
from jiayuan.tickets.models import Category, Ticket
from jiayuan.tickets.services import ticket_create
from jiayuan.tickets.workflow import transition

pytestmark = pytest.mark.django_db
SH = zoneinfo.ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SH)


def told(ticket: Ticket, seq: int) -> list[tuple[str, str]]:
    """(username, kind) of the notifications written for one event."""
    return sorted(
        Notification.objects.filter(dedupe_key__startswith=f"{ticket.pk}:{seq}:").values_list(
            "recipient__username", "kind"
        )
    )


def new_ticket(world: Any, *, reporter: Any = None, building: str = "a1_1") -> Ticket:
    return ticket_create(
        channel="web",
        title="楼道灯坏了",
        description="3单元楼道灯不亮",
        building=world.buildings[building] if building else None,
        reporter=reporter,
        reporter_phone="13900000001",
        category=Category.objects.get(code="property"),
        created_at=T0,
    ).ticket


@pytest.fixture
def chengguan(world: Any) -> Department:
    dept = Department.objects.create(
        code="zfcg", name="芝罘区综合行政执法局", short_name="城管", region=world.r("district")
    )
    user: Any = UserFactory(username="chengguan")
    Post.objects.create(user=user, role=Role.DEPARTMENT_OFFICER, department=dept)
    return dept


def test_a_located_ticket_tells_the_grid_handlers(world, outbox):
    t = new_ticket(world)
    assert notify_ticket_event(ticket_id=t.pk, seq=1) == 2
    assert told(t, 1) == [("grid_worker", Kind.ASSIGNED), ("grid_worker_masked", Kind.ASSIGNED)]
    n = Notification.objects.get(recipient=world.users["grid_worker"])
    assert (n.title, n.ticket_id, n.url, n.read_at) == (
        f"新工单待签收：{t.number} 楼道灯坏了",
        t.pk,
        f"/tickets/{t.number}/",
        None,
    )


def test_an_unlocated_ticket_tells_the_command_centre(world, outbox):
    t = new_ticket(world, building="")
    notify_ticket_event(ticket_id=t.pk, seq=1)
    assert told(t, 1) == [("command_center", Kind.TRIAGE)]


def test_each_step_up_the_ladder_tells_who_must_act_next(world, outbox, chengguan):
    reporter = world.users["resident"]
    t = new_ticket(world, reporter=reporter)
    gw, sec, street = (
        world.users[u] for u in ("grid_worker", "community_secretary", "street_officer")
    )
    housing = world.departments["housing"]
    transition(t, "accept", actor=gw)  # seq 2: nobody to tell
    transition(t, "call_up", actor=gw, note="需要社区协调")  # 3
    transition(t, "respond", actor=sec)  # 4
    transition(t, "call_up", actor=sec, note="需街道协调")  # 5
    transition(t, "respond", actor=street)  # 6
    transition(t, "supervise", actor=world.users["command_center"], note="请抓紧")  # 7
    transition(t, "dispatch", actor=street, lead=housing.pk, co=[chengguan.pk])  # 8
    transition(t, "return", actor=world.users["department_officer"], reason="不属本部门")  # 9
    for seq in range(1, 10):
        notify_ticket_event(ticket_id=t.pk, seq=seq)
    assert told(t, 2) == []
    assert told(t, 3) == [("community_secretary", Kind.CALLED_UP)]
    assert told(t, 4) == []
    assert told(t, 5) == [("street_officer", Kind.CALLED_UP)]
    assert told(t, 7) == [("street_officer", Kind.SUPERVISED)]  # the one who responded holds it
    assert told(t, 8) == [("chengguan", Kind.DISPATCHED), ("department_officer", Kind.DISPATCHED)]
    assert told(t, 9) == [("street_officer", Kind.RETURNED)]  # back to the dispatcher
    transition(t, "resolve", actor=street, result="已协调物业修复")  # 10
    notify_ticket_event(ticket_id=t.pk, seq=10)
    assert told(t, 10) == [("resident", Kind.RESOLVED)]
    transition(t, "rate", actor=reporter, rating="unsatisfied", comment="灯还是不亮")  # 11
    notify_ticket_event(ticket_id=t.pk, seq=11)
    assert told(t, 11) == [("street_officer", Kind.REOPENED)]


def test_the_actor_is_not_told_about_their_own_action(world, outbox):
    t = new_ticket(world)
    transition(t, "accept", actor=world.users["grid_worker"])
    transition(t, "supervise", actor=world.users["community_secretary"], note="请抓紧")
    notify_ticket_event(ticket_id=t.pk, seq=3)
    assert told(t, 3) == [("grid_worker", Kind.SUPERVISED)]
    transition(t, "resolve", actor=world.users["grid_worker"], result="已修复")
    assert notify_ticket_event(ticket_id=t.pk, seq=4) == 0  # no reporter account to tell


def test_notifying_twice_writes_one_row_and_sends_once(
    world, outbox, immediate_tasks, django_capture_on_commit_callbacks
):
    t = new_ticket(world)
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_ticket_event(ticket_id=t.pk, seq=1) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_ticket_event(ticket_id=t.pk, seq=1) == 0
    assert Notification.objects.count() == 2
    assert sorted(OutboundMessage.objects.values_list("channel", "state", "attempts")) == [
        ("log", "sent", 1),
        ("log", "sent", 1),
    ]
    assert sorted(m["recipient"] for m in outbox.sent) == ["grid_worker", "grid_worker_masked"]


def test_a_transition_queues_the_notification_after_commit(
    world, outbox, immediate_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        t = new_ticket(world)
    assert len(callbacks) >= 1
    assert told(t, 1) == [("grid_worker", Kind.ASSIGNED), ("grid_worker_masked", Kind.ASSIGNED)]
    with django_capture_on_commit_callbacks(execute=False):
        transition(t, "accept", actor=world.users["grid_worker"])
        transition(t, "call_up", actor=world.users["grid_worker"], note="需要社区协调")
    # Not committed (the callbacks did not run): nothing was queued, nobody told.
    assert told(t, 3) == []
    assert len(outbox.sent) == 2


def test_a_sent_message_is_never_sent_again(world, outbox):
    t = new_ticket(world)
    notify_ticket_event(ticket_id=t.pk, seq=1)
    out = OutboundMessage.objects.order_by("id").first()
    assert out is not None
    assert send_outbound(outbound_id=out.pk) == "sent"
    assert send_outbound(outbound_id=out.pk) == "sent"
    out.refresh_from_db()
    assert (out.state, out.attempts, out.last_error) == ("sent", 1, "")
    assert outbox.calls == 1


def test_a_failed_send_is_retried_with_backoff_then_succeeds(world, outbox):
    outbox.fail_times = 2
    t = new_ticket(world)
    notify_ticket_event(ticket_id=t.pk, seq=1)
    out = OutboundMessage.objects.order_by("id").first()
    assert out is not None
    start = out.next_attempt_at
    assert send_outbound(outbound_id=out.pk, now=start) == "pending"
    out.refresh_from_db()
    assert (out.state, out.attempts, out.next_attempt_at, out.last_error) == (
        "pending",
        1,
        start + dt.timedelta(minutes=1),
        "DeliveryError: 网关不可用（第1次）",
    )
    # Too early: nobody may claim it.
    assert send_outbound(outbound_id=out.pk, now=start + dt.timedelta(seconds=30)) == "pending"
    assert outbox.calls == 1
    assert send_outbound(outbound_id=out.pk, now=start + dt.timedelta(minutes=1)) == "pending"
    out.refresh_from_db()
    assert (out.attempts, out.next_attempt_at) == (2, start + dt.timedelta(minutes=6))
    assert send_outbound(outbound_id=out.pk, now=start + dt.timedelta(minutes=6)) == "sent"
    out.refresh_from_db()
    assert (out.state, out.attempts, out.last_error) == ("sent", 3, "")
    assert [m["recipient"] for m in outbox.sent] == ["grid_worker"]


def test_a_send_that_keeps_failing_gives_up_after_the_last_attempt(world, outbox):
    outbox.fail_times = 99
    t = new_ticket(world)
    notify_ticket_event(ticket_id=t.pk, seq=1)
    out = OutboundMessage.objects.order_by("id").first()
    assert out is not None
    now = out.next_attempt_at
    states = []
    for _ in range(MAX_ATTEMPTS + 1):
        states.append(send_outbound(outbound_id=out.pk, now=now))
        now += dt.timedelta(hours=1)
    assert states == ["pending", "pending", "pending", "failed", "failed"]
    out.refresh_from_db()
    assert (out.state, out.attempts, out.last_error) == (
        "failed",
        4,
        "DeliveryError: 网关不可用（第4次）",
    )
    assert outbox.calls == 4
