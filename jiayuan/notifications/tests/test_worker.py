"""``jiayuan worker``: a round sweeps, then runs the queued tasks of the database backend; a
deferred retry waits for its time; SIGTERM stops the loop cleanly."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import threading
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from jiayuan.notifications.models import Kind, Notification, OutboundMessage
from jiayuan.tickets.models import Category, Ticket
from jiayuan.tickets.services import ticket_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_connection(monkeypatch: Any) -> None:
    # The worker drops stale connections between rounds; inside a test transaction that would
    # close the test's own connection.
    import django_tasks_db.management.commands.db_worker as db_worker

    from jiayuan.core.management.commands import worker

    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)
    monkeypatch.setattr(worker, "close_old_connections", lambda: None)


def run_worker(*args: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    call_command("worker", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def new_ticket(world: Any, created: dt.datetime) -> Ticket:
    return ticket_create(
        channel="qr",
        title="楼道灯坏了",
        description="3单元楼道灯不亮",
        building=world.buildings["a1_1"],
        reporter_phone="13900000001",
        category=Category.objects.get(code="property"),
        created_at=created,
    ).ticket


def test_a_round_sweeps_then_runs_the_queued_tasks(
    world, outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        t = new_ticket(world, timezone.now() - dt.timedelta(days=10))
    assert DBTaskResult.objects.filter(status="READY").count() == 1  # notify about the submit
    with django_capture_on_commit_callbacks(execute=True):
        (summary,) = run_worker("--once")
    assert summary["sweep"]["overdue_actions"] == 1
    # The task rows are written in the transactions that cause them (an outbox), so the same
    # round also runs what the sweep and the tasks themselves queued: the two notifications
    # (submit, supervise) and the four outbound messages they made.
    assert summary["tasks"] == 6
    assert list(t.events.values_list("action", flat=True)) == ["submit", "supervise"]
    with django_capture_on_commit_callbacks(execute=True):
        (summary,) = run_worker("--once", "--no-sweep")
    assert "sweep" not in summary
    assert summary["tasks"] == 0
    assert sorted(Notification.objects.values_list("recipient__username", "kind")) == [
        ("grid_worker", Kind.ASSIGNED),
        ("grid_worker", Kind.SUPERVISED),
        ("grid_worker_masked", Kind.ASSIGNED),
        ("grid_worker_masked", Kind.SUPERVISED),
    ]
    assert sorted(OutboundMessage.objects.values_list("state", flat=True)) == ["sent"] * 4
    assert len(outbox.sent) == 4
    assert DBTaskResult.objects.exclude(status="SUCCESSFUL").count() == 0


def test_a_failed_send_is_retried_by_a_deferred_task(
    world, outbox, django_capture_on_commit_callbacks
):
    outbox.fail_times = 1
    with django_capture_on_commit_callbacks(execute=True):
        new_ticket(world, timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        run_worker("--once", "--no-sweep")  # writes the notifications, queues two sends
    with django_capture_on_commit_callbacks(execute=True):
        run_worker("--once", "--no-sweep")  # one send fails and queues its retry in a minute
    assert sorted(OutboundMessage.objects.values_list("state", "attempts")) == [
        ("pending", 1),
        ("sent", 1),
    ]
    retry = DBTaskResult.objects.get(status="READY")
    failed = OutboundMessage.objects.get(state="pending")
    assert (retry.args_kwargs["kwargs"], retry.run_after) == (
        {"outbound_id": failed.pk},
        failed.next_attempt_at,
    )
    run_worker("--once", "--no-sweep")  # not due yet
    assert OutboundMessage.objects.filter(state="pending").count() == 1
    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    OutboundMessage.objects.filter(pk=failed.pk).update(next_attempt_at=timezone.now())
    run_worker("--once", "--no-sweep")
    assert sorted(OutboundMessage.objects.values_list("state", "attempts")) == [
        ("sent", 1),
        ("sent", 2),
    ]
    assert outbox.calls == 3


def test_sigterm_stops_the_loop_cleanly():
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)
    out = io.StringIO()
    started = timezone.now()
    timer.start()
    try:
        call_command("worker", "--interval", "60", "--no-sweep", stdout=out)
    finally:
        timer.cancel()
    assert (timezone.now() - started).total_seconds() < 10
    assert out.getvalue().splitlines()[-1] == "worker stopped"
    assert signal.getsignal(signal.SIGTERM) is before
