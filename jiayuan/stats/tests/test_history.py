"""The history generator: chains that verify, rows that agree with their events, rollups equal
to a rebuild and to the ticket-table measures, believable proportions; the demo-data option;
on a generated history, a street's open-ticket lists and the indexes that serve them."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from io import StringIO

import pytest
from django.core.management import call_command

from jiayuan.staff.models import Department
from jiayuan.stats import selectors
from jiayuan.stats.history import generate_history
from jiayuan.stats.models import Watermark
from jiayuan.stats.services import stats_rebuild, stats_update
from jiayuan.stats.tests.helpers import assert_same, snapshot
from jiayuan.tickets import measures
from jiayuan.tickets.events import verify_chain
from jiayuan.tickets.models import Ticket, TicketAssignment, TicketEvent

pytestmark = pytest.mark.django_db
SH = zoneinfo.ZoneInfo("Asia/Shanghai")
END = dt.datetime(2026, 11, 25, 15, 30, tzinfo=SH)


@pytest.fixture
def departments(world):
    district = world.r("district")
    Department.objects.filter(pk=world.departments["housing"].pk).update(code="370602-zj")
    for slug in ("cg", "gr", "rs", "jy", "scjg", "wj", "jt", "mz", "ga", "sthj", "gs", "gd"):
        Department.objects.create(
            code=f"370602-{slug}", name=f"芝罘区{slug}", short_name=slug, region=district
        )


def test_generated_histories_verify_and_roll_up_like_a_rebuild(world, departments):
    result = generate_history(tickets=600, years=0.5, seed=7, end=END)
    assert result.tickets == Ticket.objects.count() == 600
    assert result.events == TicketEvent.objects.count()
    assert result.events > 600 * 3
    assert TicketAssignment.objects.count() == result.assignments > 0
    for ticket in Ticket.objects.prefetch_related("events"):
        assert verify_chain(ticket) is None, ticket.number
    assert Watermark.objects.get().last_event_id == TicketEvent.objects.latest("pk").pk
    generated = snapshot()
    assert stats_update().events == 0
    stats_rebuild()
    assert snapshot() == generated

    city = world.r("city")
    start, end = dt.date(2026, 5, 1), dt.date(2026, 11, 26)
    expected = measures.region_measures(
        region=city,
        start=dt.datetime.combine(start, dt.time(), SH),
        end=dt.datetime.combine(end, dt.time(), SH),
    )
    got = selectors.node_measures(region=city, start=start, end=end)
    assert_same(got.as_dict(), expected.as_dict())
    # Believable: most resolved in the grid, most raters satisfied, some open at the end.
    assert got.received == 600 - Ticket.objects.filter(state="cancelled").count()
    assert 0.55 < (got.grid_share or 0) < 0.85
    assert 0.8 < (got.satisfaction_rate or 0) < 0.97
    assert 0.85 < (got.resolution_rate or 0) < 1
    assert Ticket.objects.filter(state__in=["assigned", "in_progress", "called_up"]).exists()


def test_the_same_seed_gives_the_same_history(world, departments):
    generate_history(tickets=50, years=0.1, seed=3, end=END)
    first = list(Ticket.objects.order_by("pk").values_list("number", "state", "last_hash"))
    assert len({h for _, _, h in first}) == 50


def test_tickets_land_after_existing_ones_and_the_sweeper_leaves_old_deadlines(world, departments):
    from jiayuan.tickets.sweep import sla_sweep

    generate_history(tickets=100, years=0.2, seed=1, end=END)
    generate_history(tickets=100, years=0.2, seed=2, end=END)
    numbers = list(Ticket.objects.values_list("number", flat=True))
    assert len(set(numbers)) == 200
    before = TicketEvent.objects.count()
    sla_sweep(now=END)
    # Only deadlines still ahead at the end of the history can be swept (none are past here).
    assert (
        TicketEvent.objects.count() - before
        <= Ticket.objects.filter(resolve_due__gte=END).count() * 2
    )


def test_demo_data_tickets_option(world, departments):
    out = StringIO()
    call_command("demo-data", "--tickets", "40", "--years", "0.1", stdout=out)
    assert "历史工单已生成：40 张" in out.getvalue()
    assert Ticket.objects.count() == 40


def _index_definitions() -> list[tuple[str, str]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid::regclass::text LIKE ANY (ARRAY['tickets_ticket%%', 'stats_%%'])"
        )
        indexes = sorted(cursor.fetchall())
        cursor.execute(
            "SELECT relname, coalesce(array_to_string(reloptions, ','), '') FROM pg_class "
            "WHERE relname LIKE ANY (ARRAY['tickets_ticket%%', 'stats_%%'])"
        )
        options = sorted(cursor.fetchall())
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint "
            "WHERE conrelid::regclass::text LIKE ANY (ARRAY['tickets_ticket%%', 'stats_%%'])"
        )
        return indexes + options + sorted(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_a_parallel_bulk_load_numbers_in_order_and_restores_the_indexes(
    world, departments, monkeypatch
):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the parallel bulk load is PostgreSQL's")
    from jiayuan.stats import history

    monkeypatch.setattr(history, "CHUNK", 40)  # several chunks for each of the two workers
    before = _index_definitions()
    assert any(name == "ticketevent_seq_unique" for name, _ in before)
    result = generate_history(tickets=400, years=0.3, seed=5, end=END, workers=2)
    assert result.workers == 2
    assert _index_definitions() == before
    jobs = dict(result.slowest_jobs)
    assert len(jobs) == 8 and all(seconds >= 0 for seconds in jobs.values())
    assert any(name.startswith(("rollup", "ticket")) for name in jobs)
    assert result.tickets == Ticket.objects.count() == 400
    assert result.events == TicketEvent.objects.count()
    # Ids dense and in the tickets' order, whichever worker wrote a chunk.
    rows = list(TicketEvent.objects.order_by("pk").values_list("pk", "ticket_id", "seq"))
    assert [pk for pk, _, _ in rows] == list(range(rows[0][0], rows[0][0] + len(rows)))
    assert rows == sorted(rows, key=lambda r: (r[1], r[2]))
    for ticket in Ticket.objects.prefetch_related("events"):
        assert verify_chain(ticket) is None, ticket.number
        assert ticket.version == len(ticket.events.all())
    assert Watermark.objects.get().last_event_id == rows[-1][0]
    generated = snapshot()
    stats_rebuild()
    assert snapshot() == generated


def _bulk_index_names() -> set[str]:
    from django.db import connection

    from jiayuan.stats import history

    tables = [m._meta.db_table for m in history.BULK_MODELS]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text FROM pg_index "
            "WHERE indrelid = ANY(%s::regclass[]) AND NOT indisprimary",
            [tables],
        )
        return {name.strip('"') for (name,) in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_the_bulk_load_drops_every_index_but_those_it_keeps(world, departments):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the parallel bulk load is PostgreSQL's")
    from jiayuan.stats import history

    before = _index_definitions()
    names = _bulk_index_names()
    # A renamed index would silently be dropped and rebuilt again: every kept name exists.
    assert names >= history.KEPT_DURING_LOAD
    assert len(names - history.KEPT_DURING_LOAD) >= 10  # the rest is rebuilt
    restore = history._Restore.drop_indexes(history.BULK_MODELS)
    try:
        assert _bulk_index_names() == history.KEPT_DURING_LOAD
    finally:
        restore.run()
    assert _index_definitions() == before


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("failing", ["month job", "key build"])
def test_a_failed_parallel_rollup_leaves_no_half_rollups_and_says_rebuild(
    world, departments, monkeypatch, failing
):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the parallel bulk load is PostgreSQL's")
    from jiayuan.core.errors import JiayuanError
    from jiayuan.stats import history
    from jiayuan.stats.models import RegionDay

    plan_init = history._RollupPlan.__init__

    def fails(self, *args, **kwargs):
        plan_init(self, *args, **kwargs)
        if failing == "month job":
            self.jobs.insert(len(self.jobs) // 2, ("failing", [("SELECT 1 / 0", [])]))  # mid-way
        else:  # after some keys were built as indexes, not yet attached to their tables
            jobs = self.key_jobs
            self.key_jobs = lambda: [*jobs(), ("failing", ("SELECT 1 / 0", []))]

    monkeypatch.setattr(history, "CHUNK", 40)
    monkeypatch.setattr(history._RollupPlan, "__init__", fails)
    before = _index_definitions()
    with pytest.raises(JiayuanError) as failed:
        generate_history(tickets=400, years=0.3, seed=5, end=END, workers=2)
    assert failed.value.code == "history_rollups_failed"
    assert "stats rebuild" in str(failed.value)
    assert _index_definitions() == before  # keys and indexes all back
    assert not RegionDay.objects.exists()
    # Not moved past the new events (they are not in the rollups).
    assert Watermark.objects.get().last_event_id < TicketEvent.objects.order_by("pk")[0].pk
    assert Ticket.objects.count() == 400  # the tickets stay; the rebuild sums them
    stats_rebuild()
    node, start, end = world.r("district"), dt.date(2025, 1, 1), dt.date(2027, 1, 1)
    got = selectors.node_measures(region=node, start=start, end=end).received
    expected = measures.region_measures(
        region=node,
        start=dt.datetime(2025, 1, 1, tzinfo=SH),
        end=dt.datetime(2027, 1, 1, tzinfo=SH),
    ).received
    assert got == expected > 300


def test_a_street_finds_its_open_tickets_without_reading_its_closed_ones(world, departments):
    """The 超期 / 督办 lists of a street: the same tickets as a plain filter, and on PostgreSQL
    readable through the open-ticket path indexes. Without them a street whose deadline and
    督办 indexes are not chosen reads its whole range of the all-ticket path indexes before
    checking the state: 8,000 pages, 24 ms a query at 10 M tickets (docs/dashboards.md)."""
    from django.db import connection

    from jiayuan.stats import dashboard
    from jiayuan.tickets.choices import OPEN_STATES

    generate_history(tickets=1500, years=1, seed=11, end=END)
    street = world.r("street_a")
    now = END + dt.timedelta(days=3)
    prefix = street.path + "."
    mine = [
        t
        for t in Ticket.objects.filter(state__in=OPEN_STATES)
        if t.grid_path.startswith(prefix) or t.owner_path.startswith(prefix)
    ]
    user = world.users["command_center"]
    overdue = dashboard.current_tickets(user, kind="overdue", region=street, now=now)
    expected = sorted(
        (t.resolve_due, t.pk)
        for t in mine
        if (t.resolve_due and t.resolve_due < now)
        or (t.state in dashboard.WAITING_STATES and t.accept_due and t.accept_due < now)
    )
    assert expected, "the history leaves some of the street's tickets overdue"
    assert [(t.resolve_due, t.pk) for t in overdue] == expected
    if connection.vendor != "postgresql":
        return
    assert Ticket.objects.exclude(state__in=OPEN_STATES).count() > 10 * len(mine)
    with connection.cursor() as cursor:
        # What the planner picks depends on the sizes; take away the other open-ticket indexes
        # (in this test's transaction) to see that the open path indexes serve these queries.
        for name in ("ticket_open_resolve_due", "ticket_waiting_accept_due", "ticket_supervised"):
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute("ANALYZE tickets_ticket")
        cursor.execute("SET LOCAL enable_seqscan = off")
        for kind in ("overdue", "supervised"):
            listed = dashboard.current_tickets(user, kind=kind, region=street, now=now)
            for query in (listed, listed.values("pk")[: dashboard.COUNT_CAP + 1]):
                sql, params = query.query.sql_with_params()
                cursor.execute("EXPLAIN " + sql, params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                assert "ticket_open_grid_path" in plan or "ticket_open_owner_path" in plan, plan
                assert "ticket_grid_path_state" not in plan, plan
                assert "ticket_owner_path_state" not in plan, plan
