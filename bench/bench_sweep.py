"""Seconds for one SLA sweep (时限巡检) over 100,000 due tickets.

A fresh database gets the test world and ``--tickets`` tickets made with ``bulk_create`` (no
submit events: the sweep does not read them). ``--mode overdue`` (the headline) puts every
accept deadline in the past, so the default policy supervises each ticket once: a claim, a
hash-chained ``supervise`` event, the ticket update and a queued notification task per ticket.
``--mode warn`` puts every deadline inside the warning window instead: a claim and a warning to
both grid workers (two notifications, two outbound copies, two queued sends) per ticket.
A second sweep right after shows the cost of finding nothing left to do.

    python bench/bench_sweep.py --engine sqlite --tickets 100000
    python bench/bench_sweep.py --engine postgres --mode warn
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, setup_django, use_database


def measure(*, engine: str, tickets: int, mode: str) -> dict[str, Any]:
    use_database(engine, f"jiayuan_bench_sweep_{mode}", fresh=True)
    setup_django()
    from django.core.management import call_command
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    from jiayuan.core.testing import build_world
    from jiayuan.notifications.models import Notification, OutboundMessage
    from jiayuan.tickets.models import Category, Ticket, TicketEvent
    from jiayuan.tickets.sweep import sla_sweep

    if connection.vendor == "sqlite":
        # The embedded default of settings.py (WAL, synchronous=NORMAL); a bench database URL
        # gets none of its OPTIONS, and a rollback journal would fsync every commit.
        from django.db.backends.signals import connection_created

        def embedded_pragmas(connection: Any, **kwargs: Any) -> None:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")

        connection_created.connect(embedded_pragmas)
        connection.close()
    call_command("migrate", verbosity=0)
    world = build_world()
    grid = world.r("grid_a1_1")
    category = Category.objects.get(code="property")
    now = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
    due = now - dt.timedelta(hours=1) if mode == "overdue" else now + dt.timedelta(hours=2)

    start = time.perf_counter()
    batch: list[Ticket] = []
    for i in range(tickets):
        batch.append(
            Ticket(
                number=f"B{i:012d}",
                channel="qr",
                category=category,
                title="楼道灯坏了",
                description="3单元楼道灯不亮",
                reporter_phone="13900000001",
                grid=grid,
                state="assigned",
                level="grid",
                owner_region=grid,
                grid_path=grid.path,
                owner_path=grid.path,
                accept_due=due,
                resolve_due=due + dt.timedelta(days=1),
                feedback_due=due + dt.timedelta(days=2),
                deadline_gen=1,
                version=1,
                created_at=now - dt.timedelta(days=1),
                updated_at=now - dt.timedelta(days=1),
            )
        )
        if len(batch) == 5000:
            Ticket.objects.bulk_create(batch)
            batch = []
    if batch:
        Ticket.objects.bulk_create(batch)
    setup_seconds = time.perf_counter() - start

    start, cpu = time.perf_counter(), time.process_time()
    first = sla_sweep(now=now)
    sweep_seconds = time.perf_counter() - start
    sweep_cpu = time.process_time() - cpu
    start = time.perf_counter()
    second = sla_sweep(now=now)
    idle_seconds = time.perf_counter() - start

    return {
        "benchmark": "sla_sweep",
        "engine": engine,
        "database": (
            f"sqlite {connection.Database.sqlite_version}"  # type: ignore[attr-defined]
            if connection.vendor == "sqlite"
            else f"postgresql {connection.pg_version}"  # type: ignore[attr-defined]
        ),
        "mode": mode,
        "due_tickets": tickets,
        "setup_seconds": round(setup_seconds, 1),
        "sweep_seconds": round(sweep_seconds, 1),
        # CPU time of this process: the share of the wall time not spent waiting (for the
        # database, or for a core on a busy machine).
        "sweep_cpu_seconds": round(sweep_cpu, 1),
        "tickets_per_second": round(tickets / sweep_seconds) if sweep_seconds else None,
        "target_seconds": 60,
        "result": first.as_dict(),
        "second_sweep": {"seconds": round(idle_seconds, 2), **second.as_dict()},
        "written": {
            "events": TicketEvent.objects.count(),
            "notifications": Notification.objects.count(),
            "outbound": OutboundMessage.objects.count(),
            "queued_tasks": DBTaskResult.objects.count(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--mode", choices=["overdue", "warn"], default="overdue")
    args = parser.parse_args()
    emit(measure(engine=args.engine, tickets=args.tickets, mode=args.mode))


if __name__ == "__main__":
    main()
