"""p50/p95/p99 of the staff inbox (诉求待办) with many tickets.

Builds the demo city's region tree (scale "small": every grid of the city exists, one
community populated), then bulk-inserts ``--tickets`` tickets spread over all the grids in a
realistic mix of states (waiting at the grid, in progress, called up to the community,
dispatched, resolved, closed, archived), created over the past year. Measures server time
in-process (Django test client, full middleware, no network) of the inbox page on the
待签收 and 全部 tabs for a grid worker (网格员), a street officer (街道) and the command centre
(指挥中心, the whole city).

    python bench/bench_inbox.py --engine sqlite --tickets 100000
    python bench/bench_inbox.py --engine postgres --tickets 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, setup_django, time_calls, use_database

# (state, share, where it waits relative to its grid: 0 grid, 1 community, 2 street)
STATE_MIX = [
    ("assigned", 0.10, 0),
    ("in_progress", 0.12, 0),
    ("called_up", 0.04, 1),
    ("dispatched", 0.04, 2),
    ("resolved", 0.10, 0),
    ("closed", 0.45, 0),
    ("archived", 0.15, 0),
]
LEVEL_OF = {0: "grid", 1: "community", 2: "department"}


def fill_tickets(*, total: int, seed: int, batch: int = 5000, say: Any = print) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    from jiayuan.regions.models import Region
    from jiayuan.tickets.models import Category, Ticket

    rng = random.Random(seed)
    grids = list(Region.objects.filter(level="grid").select_related("parent__parent"))
    categories = list(Category.objects.filter(parent__isnull=False).values_list("pk", flat=True))
    states = [s for s, _, _ in STATE_MIX]
    weights = [w for _, w, _ in STATE_MIX]
    rungs = {s: r for s, _, r in STATE_MIX}
    now = timezone.now()
    start = time.perf_counter()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -262144")
    made = 0
    while made < total:
        rows = []
        for i in range(made, min(total, made + batch)):
            grid = grids[rng.randrange(len(grids))]
            state = rng.choices(states, weights)[0]
            rung = rungs[state]
            owner: Any = grid if rung == 0 else grid.parent if rung == 1 else grid.parent.parent  # type: ignore[union-attr]
            created = now - dt.timedelta(seconds=rng.randrange(365 * 86400))
            rows.append(
                Ticket(
                    number=f"B{i:013d}",
                    channel="qr" if i % 3 else "hotline",
                    category_id=rng.choice(categories),
                    title=f"测试诉求{i}",
                    description="基准测试数据",
                    reporter_phone=f"139{i:08d}",
                    grid=grid,
                    state=state,
                    level=LEVEL_OF[rung],
                    owner_region=owner,
                    grid_path=grid.path,
                    owner_path=owner.path,
                    accept_due=created + dt.timedelta(days=1),
                    resolve_due=created + dt.timedelta(days=2),
                    feedback_due=created + dt.timedelta(days=3),
                    supervised=rng.random() < 0.02,
                    created_at=created,
                    updated_at=created,
                    version=1,
                )
            )
        with transaction.atomic():
            Ticket.objects.bulk_create(rows, batch_size=1000)
        made += len(rows)
        if made % (batch * 20) == 0 or made == total:
            say(f"{made} tickets ({time.perf_counter() - start:.0f} s)")
    return round(time.perf_counter() - start, 1)


def measure(*, engine: str, tickets: int, seed: int, repeat: int, rebuild: bool) -> dict[str, Any]:
    name = f"jiayuan_bench_inbox_{tickets}"
    use_database(engine, name, fresh=rebuild)
    setup_django()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from jiayuan.regions.demo import build_demo_city
    from jiayuan.staff.models import Post
    from jiayuan.tickets import selectors
    from jiayuan.tickets.models import Ticket

    call_command("migrate", verbosity=0)
    build_demo_city(scale="small", seed=seed, populate_communities=1)
    built: dict[str, Any] = {"reused": True}
    have = Ticket.objects.count()
    if have < tickets:
        say = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
        built = {"reused": False, "seconds": fill_tickets(total=tickets - have, seed=seed, say=say)}
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        else:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE tickets_ticket")

    results: dict[str, Any] = {
        "benchmark": "inbox",
        "engine": engine,
        "tickets": Ticket.objects.count(),
        "build": built,
        "roles": {},
    }
    for role in ("grid_worker", "street_officer", "command_center"):
        post = (
            Post.objects.filter(role=role, is_active=True, user__is_active=True)
            .select_related("user")
            .order_by("id")
            .first()
        )
        if post is None:
            continue
        client = Client()
        client.force_login(post.user)
        inbox = selectors.inbox(post.user, tab="all")
        role_result: dict[str, Any] = {
            "counts": {k: inbox.count_label(k) for k in inbox.counts},
        }
        for label, url in [("todo", "/tickets/?tab=todo"), ("all", "/tickets/?tab=all")]:

            def call(url: str = url, client: Client = client) -> None:
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)

            role_result[label] = time_calls(call, repeat=repeat)
        results["roles"][role] = role_result
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--rebuild", action="store_true", help="drop and rebuild the database")
    args = parser.parse_args()
    emit(
        measure(
            engine=args.engine,
            tickets=args.tickets,
            seed=args.seed,
            repeat=args.repeat,
            rebuild=args.rebuild,
        )
    )


if __name__ == "__main__":
    main()
