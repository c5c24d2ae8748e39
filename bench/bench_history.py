"""Generation rate of the realistic ticket history (``demo-data --tickets N --years Y``).

Builds the demo city at scale "small" (every grid of Yantai, the first communities populated)
in a fresh database ``jiayuan_bench_stats_<N>``, then generates ``--tickets`` tickets with their
hash-chained events, assignments, facts and rollups, and reports tickets/s and events/s (whole
run, and the generation and rollup phases apart). ``bench_stats.py`` reuses the database.

    python bench/bench_history.py --engine sqlite --tickets 100000
    python bench/bench_history.py --engine postgres --tickets 1000000 --years 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, load_average, setup_django, use_database

POPULATED = 40  # communities with estates and buildings (hot estates need them)


def database_name(tickets: int) -> str:
    return f"jiayuan_bench_stats_{tickets}"


def build(
    *, engine: str, tickets: int, years: float, seed: int, workers: int | None = None
) -> dict[str, Any]:
    """A fresh database with the demo city and ``tickets`` generated tickets."""
    use_database(engine, database_name(tickets), fresh=True)
    setup_django()
    from django.core.management import call_command

    from jiayuan.regions.demo import build_demo_city
    from jiayuan.stats.history import generate_history

    call_command("migrate", verbosity=0)
    city = build_demo_city(scale="small", seed=seed, populate_communities=POPULATED)
    load_before = load_average()
    cpu_before = _cpu_seconds()
    result = generate_history(
        tickets=tickets,
        years=years,
        seed=seed,
        workers=workers,
        say=lambda m: print(m, file=sys.stderr),
    )
    return {
        "benchmark": "history",
        "engine": engine,
        "years": years,
        "demo_city_seconds": round(city.seconds, 1),
        **result.as_dict(),
        "generate_tickets_per_second": round(result.tickets / max(result.generate_seconds, 1e-9)),
        "generate_events_per_second": round(result.events / max(result.generate_seconds, 1e-9)),
        "events_per_ticket": round(result.events / max(result.tickets, 1), 2),
        # This process and its worker processes (PostgreSQL's own backends are not included).
        "generator_cpu_seconds": round(_cpu_seconds() - cpu_before, 1),
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


def _cpu_seconds() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--workers", type=int, default=None, help="generator processes (default: automatic)"
    )
    args = parser.parse_args()
    emit(
        build(
            engine=args.engine,
            tickets=args.tickets,
            years=args.years,
            seed=args.seed,
            workers=args.workers,
        )
    )


if __name__ == "__main__":
    main()
