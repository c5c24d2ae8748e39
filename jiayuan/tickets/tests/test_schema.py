"""What the migrations leave on the ticket tables: the constraints that keep the data right
survive the index pruning of migration 0008 (on both engines)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from jiayuan.tickets.models import Ticket, TicketAssignment

pytestmark = pytest.mark.django_db


def _assign(ticket: Any, department: Any, world: Any, **fields: Any) -> TicketAssignment:
    return TicketAssignment.objects.create(
        ticket=ticket,
        department=department,
        dispatched_from=world.r("street_a"),
        **{"role": "lead", **fields},
    )


def test_one_live_lead_per_ticket_is_still_enforced(world: Any, depts: Any, ticket: Any) -> None:
    _assign(ticket, depts["housing"], world)
    with pytest.raises(IntegrityError), transaction.atomic():
        _assign(ticket, depts["chengguan"], world)
    # A returned lead does not count: another department may lead.
    TicketAssignment.objects.filter(ticket=ticket).update(state="returned")
    _assign(ticket, depts["chengguan"], world)


def test_ticket_number_and_public_token_stay_unique(ticket: Any) -> None:
    for field in ("number", "public_token"):
        other = Ticket.objects.get(pk=ticket.pk)
        other.pk = None
        other.number = f"{ticket.number}x" if field != "number" else ticket.number
        other.public_token = ticket.public_token if field == "public_token" else "t" * 32
        with pytest.raises(IntegrityError), transaction.atomic():
            other.save(force_insert=True)


def test_the_pruned_indexes_are_gone_and_the_covering_ones_stay() -> None:
    with connection.cursor() as cursor:
        names: set[str] = set()
        for table in (
            "tickets_ticket",
            "tickets_ticketevent",
            "tickets_ticketassignment",
            "tickets_submission",
        ):
            constraints = connection.introspection.get_constraints(cursor, table)
            names |= {n for n, info in constraints.items() if info["index"] or info["unique"]}
    assert "tickets_ticket_grid_id_53311085" not in names
    assert "tickets_ticketevent_ticket_id_b572d14b" not in names
    assert "ticketevent_action_at" not in names
    assert not [n for n in names if n.endswith("_like")]
    assert {
        "ticket_grid_created",
        "ticket_owner_state",
        "ticket_owner_user_state",
        "ticketevent_seq_unique",
        "assignment_unique",
        "assignment_one_live_lead",
        "ticketevent_resolve_at",
        "ticketevent_to_region",
        "submission_token_unique",
        "submission_state",
    } <= names
    assert "tickets_submission_ticket_id_02b40d76" not in names


def test_a_sweep_claim_is_a_heap_only_update_on_postgresql(ticket: Any) -> None:
    """Migration 0010 leaves room on each page, and the claim's columns are in no index: the
    two conditions for PostgreSQL to update the row without a new entry in every index."""
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL storage setting")
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'tickets_ticket'")
        assert cursor.fetchone()[0] == ["fillfactor=85"]
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'tickets_ticket' "
            "AND (indexdef LIKE '%%warned_gen%%' OR indexdef LIKE '%%overdue_gen%%')"
        )
        assert cursor.fetchall() == []


def test_the_ticket_key_columns_compare_bytes_on_postgresql(ticket: Any) -> None:
    """Migration 0011: the ASCII key columns have the "C" collation (a later AlterField of one
    of them would quietly put the database's back), and a scope's path range still finds the
    same tickets with it (``~`` ends a range after every digit and ``.``)."""
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL collation")
    from jiayuan.core.scoping import PATH_END
    from jiayuan.tickets.models import Ticket

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, collation_name FROM information_schema.columns "
            "WHERE table_name = 'tickets_ticket' AND collation_name IS NOT NULL"
        )
        collations = dict(cursor.fetchall())
    assert {name: collations.get(name) for name in _C_COLUMNS} == dict.fromkeys(_C_COLUMNS, "C")
    path = ticket.owner_path
    parent = path.rsplit(".", 1)[0]
    found = Ticket.objects.filter(owner_path__gte=parent, owner_path__lt=parent + PATH_END)
    assert ticket in found
    assert ticket not in Ticket.objects.filter(
        owner_path__gte=path + ".", owner_path__lt=path + PATH_END
    )


_C_COLUMNS = ("number", "public_token", "grid_path", "owner_path", "state")
