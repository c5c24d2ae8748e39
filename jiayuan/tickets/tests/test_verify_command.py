"""``jiayuan tickets verify``: OK on intact chains; the first broken link and exit 1 if tampered."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jiayuan.tickets.models import Ticket, TicketEvent
from jiayuan.tickets.services import ticket_create
from jiayuan.tickets.workflow import transition


def run(*args: str) -> tuple[str, int]:
    out = io.StringIO()
    try:
        call_command("tickets", "verify", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue() + f"ERROR: {exc}\n", exc.returncode
    return out.getvalue(), 0


@pytest.fixture
def two(world: Any, ticket: Ticket) -> tuple[Ticket, Ticket]:
    transition(ticket, "accept", actor=world.users["grid_worker"], note="收到")
    other = ticket_create(
        channel="web",
        title="噪音",
        description="夜间施工",
        building=world.buildings["a2_1"],
        reporter_phone="13900000002",
    ).ticket
    return ticket, other


def test_intact_chains_verify_ok(two):
    assert run() == ("OK: 2 tickets verified\n", 0)


def test_no_tickets_is_ok(world):
    assert run() == ("OK: 0 tickets verified\n", 0)


def test_a_tampered_note_is_reported_with_exit_1(two):
    edited, intact = two
    TicketEvent.objects.filter(ticket=edited, seq=2).update(note="改过的说明")
    assert run() == (
        f"BROKEN: {edited.number} seq 2: 记录内容被修改\n"
        "ERROR: 1 of 2 tickets have a broken hash chain\n",
        1,
    )
    assert run("--number", intact.number) == ("OK: 1 tickets verified\n", 0)
    assert run("--number", edited.number)[1] == 1


def test_an_edited_first_event_and_an_edited_state_are_reported(two):
    first, second = two
    TicketEvent.objects.filter(ticket=first, seq=1).update(note="x")
    Ticket.objects.filter(pk=second.pk).update(state="closed")
    out, code = run()
    assert code == 1
    assert out.splitlines() == [
        f"BROKEN: {first.number} seq 1: 记录内容被修改",
        f"BROKEN: {second.number} seq 1: 工单状态与流转记录不一致",
        "ERROR: 2 of 2 tickets have a broken hash chain",
    ]


def test_batches_cover_every_ticket(world, monkeypatch):
    from jiayuan.tickets.management.commands import tickets

    monkeypatch.setattr(tickets, "BATCH", 2)
    for i in range(5):
        ticket_create(channel="web", title="", description=f"第{i}件", reporter_phone="13900000003")
    assert run() == ("OK: 5 tickets verified\n", 0)


def test_an_unknown_number_is_an_error(world):
    assert run("--number", "J00000000000000") == ("ERROR: 工单 J00000000000000 不存在\n", 1)
