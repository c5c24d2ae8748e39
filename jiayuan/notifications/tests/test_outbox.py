"""The task row of a notification is written in the transaction of the event that causes it."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from jiayuan.notifications.tests.test_services import new_ticket
from jiayuan.tickets.models import Ticket
from jiayuan.tickets.services import next_ticket_number

pytestmark = pytest.mark.django_db


class Rollback(Exception):
    pass


def test_the_task_row_commits_with_the_ticket(world: Any) -> None:
    with transaction.atomic():
        ticket = new_ticket(world)
        # Visible inside the transaction, before any commit: no on_commit hook is involved.
        queued = DBTaskResult.objects.filter(args_kwargs__kwargs__ticket_id=ticket.pk)
        assert queued.count() == 1


def test_a_rolled_back_ticket_leaves_no_task_and_no_number(world: Any) -> None:
    before = DBTaskResult.objects.count()
    first = new_ticket(world).number
    with pytest.raises(Rollback), transaction.atomic():
        new_ticket(world)
        raise Rollback
    assert Ticket.objects.count() == 1
    assert DBTaskResult.objects.count() == before + 1
    # The counter bump rolled back too: the next number follows the first one.
    assert int(new_ticket(world).number[-6:]) == int(first[-6:]) + 1


def test_numbers_follow_each_other_within_a_day(world: Any) -> None:
    from django.utils import timezone

    now = timezone.now()
    numbers = [next_ticket_number(now=now) for _ in range(3)]
    assert [int(n[-6:]) for n in numbers] == [1, 2, 3]
    assert numbers[0].startswith("J" + timezone.localtime(now).strftime("%Y%m%d"))
