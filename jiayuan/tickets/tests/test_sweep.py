"""The SLA sweep: warnings before a deadline, the policy's action after it, archiving unrated
tickets, each exactly once however often and however many sweepers run."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import zoneinfo
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.db.models import F

from jiayuan.notifications.models import Kind, Notification
from jiayuan.tickets import sweep
from jiayuan.tickets.choices import Level, Rating, State
from jiayuan.tickets.models import Category, SlaPolicy, Ticket, TicketEvent
from jiayuan.tickets.services import ticket_create
from jiayuan.tickets.sweep import sla_sweep
from jiayuan.tickets.workflow import BatchOutcome as sweep_batch_outcome
from jiayuan.tickets.workflow import Conflict, transition

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db

MONDAY = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SH)  # accept by Tue 10:00, resolve by Wed 10:00


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=SH)


def new_ticket(world: Any, *, created: dt.datetime = MONDAY, building: str = "a1_1") -> Ticket:
    return ticket_create(
        channel="qr",
        title="楼道灯坏了",
        description="3单元楼道灯不亮",
        building=world.buildings[building],
        reporter_phone="13900000001",
        category=Category.objects.get(code="property"),
        created_at=created,
    ).ticket


def set_policy(action: str) -> None:
    SlaPolicy.objects.filter(region__isnull=True, category__isnull=True).update(auto_action=action)


def warnings_of(ticket: Ticket) -> list[tuple[str, str]]:
    return sorted(
        Notification.objects.filter(ticket=ticket, kind=Kind.WARNING).values_list(
            "recipient__username", "body"
        )
    )


def actions_of(ticket: Ticket) -> list[str]:
    return list(ticket.events.order_by("seq").values_list("action", flat=True))


def test_nothing_happens_before_the_warning_window(world):
    t = new_ticket(world)
    result = sla_sweep(now=at(24, 5, 59))  # accept_due Tue 10:00, warn 4 h before
    assert (result.warned, result.overdue_actions, result.archived) == (0, 0, 0)
    assert Notification.objects.count() == 0
    t.refresh_from_db()
    assert (t.warned_gen, t.overdue_gen) == (0, 0)


def test_warning_tells_the_grid_handlers_once_and_changes_no_state(world):
    t = new_ticket(world)
    result = sla_sweep(now=at(24, 6, 30))
    assert (result.warned, result.overdue_actions) == (1, 0)
    body = "签收期限 2026-11-24 10:00，请抓紧办理"
    assert warnings_of(t) == [("grid_worker", body), ("grid_worker_masked", body)]
    t.refresh_from_db()
    assert (t.state, t.version, t.warned_gen, t.overdue_gen) == (State.ASSIGNED, 1, 3, 0)
    assert sla_sweep(now=at(24, 7)).warned == 0
    assert sla_sweep(now=at(24, 9, 59)).warned == 0
    assert Notification.objects.filter(kind=Kind.WARNING).count() == 2


def test_overdue_accept_is_supervised_once_by_the_default_policy(world):
    t = new_ticket(world)
    now = at(24, 11)
    result = sla_sweep(now=now)
    assert (result.warned, result.overdue_actions, result.conflicts) == (0, 1, 0)
    t.refresh_from_db()
    assert (t.state, t.supervised, t.supervise_due) == (State.ASSIGNED, True, at(25, 11))
    ev = t.events.get(seq=2)
    assert (ev.action, ev.actor_id, ev.actor_label, ev.note, ev.at, ev.data) == (
        "supervise",
        None,
        "系统",
        "超期自动督办",
        now,
        {"days": 1, "auto": True},
    )
    # Past the deadline a warning is moot: none was sent, and none will be for this deadline.
    assert warnings_of(t) == []
    for later in (at(24, 12), at(24, 23)):
        assert sla_sweep(now=later).overdue_actions == 0
    assert actions_of(t) == ["submit", "supervise"]


def test_a_missed_supervision_deadline_warns_then_tells_overdue_without_a_new_event(world):
    t = new_ticket(world)
    sla_sweep(now=at(24, 11))  # supervised, due Wed 11:00
    assert sla_sweep(now=at(25, 7, 30)).warned == 1
    assert warnings_of(t) == [
        ("grid_worker", "督办期限 2026-11-25 11:00，请抓紧办理"),
        ("grid_worker_masked", "督办期限 2026-11-25 11:00，请抓紧办理"),
    ]
    result = sla_sweep(now=at(25, 11, 1))
    assert (result.warned, result.overdue_actions) == (0, 1)
    overdue = Notification.objects.filter(ticket=t, kind=Kind.OVERDUE)
    assert sorted(overdue.values_list("recipient__username", "body")) == [
        ("grid_worker", "督办期限已过，请尽快办理"),
        ("grid_worker_masked", "督办期限已过，请尽快办理"),
    ]
    assert sla_sweep(now=at(26, 11)).overdue_actions == 0
    assert actions_of(t) == ["submit", "supervise"]


def test_accepting_switches_to_the_resolve_deadline_which_warns_and_acts_again(world):
    t = new_ticket(world)
    assert sla_sweep(now=at(24, 7)).warned == 1  # accept_due Tue 10:00
    transition(t, "accept", actor=world.users["grid_worker"], now=at(24, 8))
    # The same deadline_gen, another deadline: resolve_due Wed 10:00 gets its own warning,
    # told to the worker who accepted it.
    assert sla_sweep(now=at(24, 12)).warned == 0
    assert sla_sweep(now=at(25, 6, 30)).warned == 1
    assert warnings_of(t) == [
        ("grid_worker", "办结期限 2026-11-25 10:00，请抓紧办理"),
        ("grid_worker", "签收期限 2026-11-24 10:00，请抓紧办理"),
        ("grid_worker_masked", "签收期限 2026-11-24 10:00，请抓紧办理"),
    ]
    assert sla_sweep(now=at(25, 10, 30)).overdue_actions == 1
    assert actions_of(t) == ["submit", "accept", "supervise"]


def test_call_up_policy_calls_an_overdue_grid_ticket_up_to_the_community(world):
    set_policy("call_up")
    t = new_ticket(world)
    transition(t, "accept", actor=world.users["grid_worker"], now=at(23, 11))
    now = at(25, 10, 30)
    assert sla_sweep(now=now).overdue_actions == 1
    t.refresh_from_db()
    assert (t.state, t.level, t.owner_region, t.called_from, t.deadline_gen) == (
        State.CALLED_UP,
        Level.COMMUNITY,
        world.r("comm_a1"),
        world.r("grid_a1_1"),
        2,
    )
    ev = t.events.get(seq=3)
    assert (ev.action, ev.actor_label, ev.note, ev.to_region_id) == (
        "call_up",
        "系统",
        "超期未办结，系统自动呼叫上级",
        world.r("comm_a1").pk,
    )
    # The community's new accept deadline (Thu 10:30) is a new generation: it warns in time.
    assert t.accept_due == at(26, 10, 30)
    assert sla_sweep(now=at(25, 11)).overdue_actions == 0
    assert sla_sweep(now=at(26, 7)).warned == 1


def test_call_up_policy_supervises_what_the_table_cannot_call_up(world):
    set_policy("call_up")
    t = new_ticket(world)  # still assigned: the rule table has no call_up from "assigned"
    assert sla_sweep(now=at(24, 11)).overdue_actions == 1
    assert actions_of(t) == ["submit", "supervise"]


def test_none_policy_only_tells(world):
    set_policy("none")
    t = new_ticket(world)
    result = sla_sweep(now=at(24, 11))
    assert (result.overdue_actions, result.warned) == (1, 0)
    assert actions_of(t) == ["submit"]
    assert sorted(
        Notification.objects.filter(ticket=t, kind=Kind.OVERDUE).values_list(
            "recipient__username", "body"
        )
    ) == [
        ("grid_worker", "签收期限已过，请尽快办理"),
        ("grid_worker_masked", "签收期限已过，请尽快办理"),
    ]
    assert sla_sweep(now=at(24, 12)).overdue_actions == 0


def test_a_claim_that_loses_to_a_concurrent_change_is_logged_and_kept(world, monkeypatch):
    t = new_ticket(world)

    def refused(items, *, now):
        return sweep_batch_outcome([], [(t, Conflict("工单已被他人更新，请刷新后重试"))])

    monkeypatch.setattr(sweep, "transition_claimed_batch", refused)
    result = sla_sweep(now=at(24, 11))
    assert (result.overdue_actions, result.conflicts, result.errors) == (0, 1, 0)
    t.refresh_from_db()
    assert (t.overdue_gen, t.version) == (3, 1)
    assert sla_sweep(now=at(24, 12)).conflicts == 0


def test_an_unexpected_error_rolls_back_the_claim_and_the_sweep_goes_on(world, monkeypatch):
    first, second = new_ticket(world), new_ticket(world)
    real, real_batch = sweep.transition, sweep.transition_claimed_batch

    def broken_for_first(ticket, *args, **kwargs):
        if ticket.pk == first.pk:
            raise RuntimeError("boom")
        return real(ticket, *args, **kwargs)

    def batch_fails(items, *, now):
        raise RuntimeError("the fast path broke")

    # The batch fails as a whole and is rolled back; swept again ticket by ticket, the first
    # ticket fails alone and the second is supervised.
    monkeypatch.setattr(sweep, "transition_claimed_batch", batch_fails)
    monkeypatch.setattr(sweep, "transition", broken_for_first)
    result = sla_sweep(now=at(24, 11))
    assert (result.overdue_actions, result.errors) == (1, 1)
    first.refresh_from_db()
    assert first.overdue_gen == 0  # retried by the next sweep
    assert actions_of(second) == ["submit", "supervise"]
    monkeypatch.setattr(sweep, "transition", real)
    monkeypatch.setattr(sweep, "transition_claimed_batch", real_batch)
    assert sla_sweep(now=at(24, 12)).overdue_actions == 1
    assert actions_of(first) == ["submit", "supervise"]


def test_a_batch_is_one_claim_one_event_insert_and_one_notification_task(world):
    from django_tasks_db.models import DBTaskResult

    from jiayuan.tickets.events import verify_chain

    tickets = [new_ticket(world) for _ in range(3)]
    DBTaskResult.objects.all().delete()
    result = sla_sweep(now=at(24, 11))
    assert result.overdue_actions == 3
    for t in tickets:
        t.refresh_from_db()
        assert actions_of(t) == ["submit", "supervise"] and t.supervised
        assert verify_chain(t) is None
    (task,) = DBTaskResult.objects.all()
    assert task.task_path.endswith("notify_ticket_events_task")
    assert sorted(task.args_kwargs["kwargs"]["pairs"]) == sorted([[t.pk, 2] for t in tickets])


def test_a_ticket_changed_after_it_was_read_is_not_claimed(world, monkeypatch):
    t = new_ticket(world)
    real_batches = sweep._batches

    def read_then_changed(qs, size, keep):
        for batch in real_batches(qs, size, keep):
            # Someone accepts the ticket between the sweeper's read and its claim.
            Ticket.objects.filter(pk=t.pk).update(version=F("version") + 1)
            yield batch

    monkeypatch.setattr(sweep, "_batches", read_then_changed)
    result = sla_sweep(now=at(24, 11))
    assert (result.overdue_actions, result.conflicts, result.errors) == (0, 0, 0)
    t.refresh_from_db()
    assert t.overdue_gen == 0  # left for the next sweep, which reads it afresh


def test_unrated_resolved_tickets_are_archived_as_satisfied_after_the_feedback_deadline(world):
    gw = world.users["grid_worker"]
    unrated, rated = new_ticket(world), new_ticket(world)
    for t in (unrated, rated):
        transition(t, "accept", actor=gw, now=at(23, 11))
        transition(t, "resolve", actor=gw, now=at(23, 12), result="已更换灯泡")
    Ticket.objects.filter(pk=rated.pk).update(rating=Rating.BASIC)  # rated, not yet closed
    assert sla_sweep(now=at(26, 9, 59)).archived == 0  # feedback_due Thu 10:00
    result = sla_sweep(now=at(26, 10))
    assert result.archived == 1
    unrated.refresh_from_db()
    assert (unrated.state, unrated.rating, unrated.closed_at) == (
        State.ARCHIVED,
        Rating.SATISFIED,
        at(26, 10),
    )
    ev = unrated.events.get(seq=4)
    assert (ev.action, ev.note, ev.data) == (
        "archive",
        "逾期未评价，默认满意归档",
        {"default_rating": True},
    )
    assert sla_sweep(now=at(27, 10)).archived == 0


def test_repeated_sweeps_over_many_tickets_act_once_per_ticket(world):
    warn = [new_ticket(world, created=at(23, 10)) for _ in range(7)]
    late = [new_ticket(world, created=at(23, 9)) for _ in range(9)]  # accept_due Tue 09:00
    totals = [sla_sweep(now=at(24, 9, 30), batch_size=4) for _ in range(3)]
    assert [(r.warned, r.overdue_actions) for r in totals] == [(7, 9), (0, 0), (0, 0)]
    for t in warn:
        assert len(warnings_of(t)) == 2
        assert actions_of(t) == ["submit"]
    for t in late:
        assert actions_of(t) == ["submit", "supervise"]
        assert warnings_of(t) == []


def test_the_calendar_warning_comes_with_the_result():
    # 2027 is not loaded: within 60 days of it the command centre is warned; in June it is not.
    assert "2027" in (sla_sweep(now=at(24, 9)).calendar_warning or "")
    assert sla_sweep(now=dt.datetime(2026, 6, 1, 9, tzinfo=SH)).calendar_warning is None


def test_the_command_sweeps_at_the_given_time(world):
    t = new_ticket(world)
    out, err = io.StringIO(), io.StringIO()
    call_command("sla", "sweep", "--now", "2026-11-24T11:00", stdout=out, stderr=err)
    assert json.loads(out.getvalue()) == {
        "warned": 0,
        "overdue_actions": 1,
        "archived": 0,
        "conflicts": 0,
        "errors": 0,
        "calendar_warning": err.getvalue().strip(),
    }
    assert actions_of(t) == ["submit", "supervise"]


def test_the_command_refuses_a_bad_time(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="不是 ISO 时间"):
        call_command("sla", "sweep", "--now", "tuesday")


# --- four sweepers at once (PostgreSQL) ---------------------------------------------------------

SWEEPERS = 4
N = 40


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_concurrent_sweepers_act_exactly_once_per_ticket():
    if connection.vendor != "postgresql":
        pytest.skip("row locks under concurrent sweepers are a PostgreSQL matter")
    from jiayuan.core.testing import build_world

    world = build_world()
    warn_ids = [new_ticket(world, created=at(23, 10)).pk for _ in range(N)]
    late_ids = [new_ticket(world, created=at(23, 9)).pk for _ in range(N)]
    barrier = threading.Barrier(SWEEPERS)
    results: list[sweep.SweepResult] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(sla_sweep(now=at(24, 9, 30), batch_size=8))
        except BaseException as exc:  # reported below; a thread must not die silently
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(SWEEPERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert len(results) == SWEEPERS
    assert sum(r.warned for r in results) == N
    assert sum(r.overdue_actions for r in results) == N
    assert sum(r.errors for r in results) == 0
    supervise = TicketEvent.objects.filter(action="supervise")
    assert sorted(supervise.values_list("ticket_id", flat=True)) == sorted(late_ids)
    assert TicketEvent.objects.filter(ticket_id__in=warn_ids).exclude(action="submit").count() == 0
    warnings = Notification.objects.filter(kind=Kind.WARNING)
    per_ticket = sorted(warnings.values_list("ticket_id", "recipient__username"))
    assert per_ticket == sorted(
        (t, u) for t in warn_ids for u in ("grid_worker", "grid_worker_masked")
    )
