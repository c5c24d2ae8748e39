"""The city-root dashboard figures (measures + 红黑榜 of the districts) from the rollups, and the
same figures straight from the ticket table (``jiayuan.tickets.measures``), in the same run.

Uses the database of ``bench_history.py`` for the same ``--tickets`` (building it when missing):
the demo city with a generated history of ``--years`` years. Periods: the last 30, 90 and 365
days before the history's end. Reports p50/p95 of each and the ratio, and two wider timings of
the real page: ``dashboard_reads`` (every read of the city dashboard: measures with top lists,
the districts' table, the departments' 红黑榜, the trend, first-level categories, the 超期 and 督办
lists from the ticket table) and ``dashboard_http`` (the whole GET through Django's test client,
templates included), as a command-centre post at the city.

    python bench/bench_stats.py --engine sqlite --tickets 100000
    python bench/bench_stats.py --engine postgres --tickets 1000000 --headline
    python bench/bench_stats.py --engine postgres --tickets 10000000 --periods 30d
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_history import build, database_name
from bench.common import emit, load_average, setup_django, time_calls, use_database

PERIODS = {"30d": 30, "90d": 90, "365d": 365}


def measure(
    *,
    engine: str,
    tickets: int,
    years: float,
    seed: int,
    repeat: int,
    table_repeat: int,
    periods: list[str] | None = None,
) -> dict[str, Any]:
    use_database(engine, database_name(tickets), fresh=False)
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from jiayuan.tickets.models import Ticket

    built: dict[str, Any] = {"reused": True}
    if Ticket.objects.count() < tickets:
        built = build(engine=engine, tickets=tickets, years=years, seed=seed)
        built["reused"] = False
    from django.db import connection
    from django.utils import timezone

    from jiayuan.regions.models import Region
    from jiayuan.stats.services import STATS_MODELS

    # Planner statistics for rollup tables a migration has just filled (autovacuum would get
    # there, but not before the first timed calls).
    with connection.cursor() as cursor:
        for model in STATS_MODELS:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    from jiayuan.stats import selectors
    from jiayuan.tickets import measures

    city = Region.objects.get(parent__isnull=True)
    last = Ticket.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    assert last is not None
    end_day = timezone.localtime(last).date() + dt.timedelta(days=1)
    nodes = busiest_nodes()
    results: dict[str, Any] = {
        "benchmark": "stats",
        "engine": engine,
        "tickets": Ticket.objects.count(),
        "build": built,
        "load_average_before": load_average(),
        "nodes": {level: node.code for level, node in nodes.items()},
        "periods": {},
    }
    user = bench_user(city)
    from django.test import Client

    from jiayuan.stats import dashboard

    client = Client()
    client.force_login(user)
    for label in periods or list(PERIODS):
        days = PERIODS[label]
        start_day = end_day - dt.timedelta(days=days)
        start = timezone.make_aware(dt.datetime.combine(start_day, dt.time()))
        end = timezone.make_aware(dt.datetime.combine(end_day, dt.time()))

        def from_rollups(start_day: dt.date = start_day, days: int = days) -> Any:
            return (
                selectors.node_measures(region=city, start=start_day, end=end_day),
                selectors.child_rankings(region=city, start=start_day, end=end_day),
                selectors.series(
                    region=city,
                    start=start_day,
                    end=end_day,
                    bucket="day" if days <= 31 else "month",
                ),
            )

        def from_tickets(start: dt.datetime = start, end: dt.datetime = end) -> Any:
            return (
                measures.region_measures(region=city, start=start, end=end),
                measures.child_rankings(region=city, start=start, end=end),
            )

        filters = dashboard.Filters(
            start=start_day, end=end_day, bucket=dashboard.auto_bucket(days)
        )

        def page_reads(filters: Any = filters) -> Any:
            return dashboard.region_dashboard(user, region=city, filters=filters)

        query = (
            f"period=custom&start={start_day.isoformat()}"
            f"&end={(end_day - dt.timedelta(days=1)).isoformat()}"
        )

        def page_http(query: str = query) -> Any:
            response = client.get(f"/stats/region/{city.pk}/?{query}", HTTP_HOST="localhost")
            assert response.status_code == 200, response.status_code
            return response

        def node_reads(region: Any, filters: Any = filters) -> Callable[[], Any]:
            return lambda: dashboard.region_dashboard(user, region=region, filters=filters)

        rolled, ranked, _ = from_rollups()
        direct_runs: list[Any] = []

        def from_tickets_kept(fn: Any = from_tickets, runs: list[Any] = direct_runs) -> None:
            runs.append(fn())

        # The ticket table takes seconds a call at this scale: the timed calls give the figures.
        # It gets PostgreSQL's parallel workers (the application's connections have none by
        # default, JIAYUAN_PG_PARALLEL_WORKERS): its best, not a handicap.
        with server_parallelism():
            table_ms = time_calls(from_tickets_kept, repeat=table_repeat, warmup=0)
        direct, direct_ranked = direct_runs[-1]
        same = rolled.as_dict() == direct.as_dict() or all(
            abs((rolled.as_dict()[k] or 0) - (v or 0)) < 1e-9
            for k, v in direct.as_dict().items()
            if not isinstance(v, list)
        )
        rollup_ms = time_calls(from_rollups, repeat=repeat)
        reads_ms = time_calls(page_reads, repeat=repeat)
        http_ms = time_calls(page_http, repeat=max(5, repeat // 3))
        results["periods"][label] = {
            "received": rolled.received,
            "figures_equal": bool(same)
            and [r.region.code for r in ranked] == [r.region.code for r in direct_ranked],
            "measures": {
                k: (round(v, 4) if isinstance(v, float) else v)
                for k, v in rolled.as_dict().items()
                if not isinstance(v, list)
            },
            "rollups": rollup_ms,
            "ticket_table": table_ms,
            "ratio_p50": round(table_ms["p50_ms"] / max(rollup_ms["p50_ms"], 1e-6), 1),
            "dashboard_reads": reads_ms,
            "dashboard_http": http_ms,
            # Every read of the dashboard of the busiest street, community and grid (the last two
            # keep day rows only: docs/stats.md, DAY_ROWS_ONLY).
            "node_dashboard_reads": {
                level: time_calls(node_reads(node), repeat=max(5, repeat // 3))
                for level, node in nodes.items()
            },
            # The whole page against the same figures read straight from the ticket table.
            "ratio_http_p50": round(table_ms["p50_ms"] / max(http_ms["p50_ms"], 1e-6), 1),
            "load_average": load_average(),
        }
    results["load_average_after"] = load_average()
    return results


def busiest_nodes() -> dict[str, Any]:
    """The grid with the most tickets, its community and its street."""
    from django.db.models import Count

    from jiayuan.regions.choices import Level
    from jiayuan.regions.models import Region
    from jiayuan.stats.models import TicketFact

    grids = Region.objects.filter(level=Level.GRID).values("pk")
    top = (
        TicketFact.objects.filter(region_id__in=grids)
        .values("region_id")
        .annotate(n=Count("ticket_id"))
        .order_by("-n", "region_id")
        .first()
    )
    if top is None:
        return {}
    grid = Region.objects.get(pk=top["region_id"])
    community = grid.parent
    street = community.parent if community is not None else None
    found = {"street": street, "community": community, "grid": grid}
    return {level: node for level, node in found.items() if node is not None}


@contextmanager
def server_parallelism() -> Iterator[None]:
    """PostgreSQL's own default of two parallel workers per query, for the duration."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        (before,) = cursor.fetchone()
        cursor.execute("SET max_parallel_workers_per_gather = 2")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"SET max_parallel_workers_per_gather = {int(before)}")


def bench_user(city: Any) -> Any:
    """A command-centre post at the city (created once in the bench database)."""
    from django.contrib.auth import get_user_model

    from jiayuan.staff.choices import Role
    from jiayuan.staff.models import Post

    user, _ = get_user_model().objects.get_or_create(username="bench_command_center")
    Post.objects.get_or_create(user=user, role=Role.COMMAND_CENTER, region=city, is_active=True)
    return user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--tickets", type=int, default=None)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--headline", action="store_true", help="1,000,000 tickets")
    parser.add_argument(
        "--periods",
        default=",".join(PERIODS),
        help="comma-separated, of 30d,90d,365d (the ticket-table side takes minutes at 10 M)",
    )
    args = parser.parse_args()
    periods = [p.strip() for p in args.periods.split(",") if p.strip()]
    unknown = [p for p in periods if p not in PERIODS]
    if unknown or not periods:
        parser.error(f"unknown period(s): {', '.join(unknown) or '(none)'}")
    tickets = args.tickets or (1_000_000 if args.headline else 20_000)
    emit(
        measure(
            engine=args.engine,
            tickets=tickets,
            years=args.years,
            seed=args.seed,
            repeat=args.repeat,
            table_repeat=1 if tickets >= 500_000 else 3,
            periods=periods,
        )
    )


if __name__ == "__main__":
    main()
