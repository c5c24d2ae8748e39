"""p50/p95/p99 of the scoped resident list (居民名册) on a built demo city.

Measures server time in-process (Django test client, full middleware, no network) for the
HTML page and the API, as a street officer (街道), a community secretary (社区书记), a grid
worker (网格员) and the command centre (指挥中心, the whole city), on page 1 and on a deep page.

    python bench/bench_resident_list.py --scale city --engine postgres
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, setup_django, time_calls, use_database


def measure(*, scale: str, engine: str, seed: int, repeat: int, rebuild: bool) -> dict[str, Any]:
    name = f"jiayuan_bench_{scale}"
    use_database(engine, name, fresh=rebuild)
    setup_django()
    from django.core.management import call_command
    from django.test import Client

    from jiayuan.regions.demo import build_demo_city
    from jiayuan.regions.models import Resident
    from jiayuan.staff.models import Post

    call_command("migrate", verbosity=0)
    built: dict[str, Any] = {"reused": True}
    if not Resident.objects.exists():
        start = time.perf_counter()
        build_demo_city(scale=scale, seed=seed)
        built = {"reused": False, "seconds": round(time.perf_counter() - start, 1)}

    # Fresh statistics for the planner, as a production database has after autovacuum.
    from django.db import connection

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    built["analyze_seconds"] = round(time.perf_counter() - start, 1)

    results: dict[str, Any] = {
        "benchmark": "resident_list",
        "scale": scale,
        "engine": engine,
        "residents": Resident.objects.count(),
        "build": built,
        "roles": {},
    }
    for role in ("grid_worker", "community_secretary", "street_officer", "command_center"):
        post = Post.objects.filter(role=role, is_active=True).select_related("user").first()
        if post is None:
            continue
        client = Client()
        client.force_login(post.user)
        visible = Resident.objects.visible_to(post.user).count()
        last_page = max(1, (visible + 49) // 50)
        deep = min(last_page, 100)
        role_result: dict[str, Any] = {"visible_residents": visible}
        for label, url in [
            ("page_1", "/residents/"),
            (f"page_{deep}", f"/residents/?page={deep}"),
            ("api_page_1", "/api/v1/residents"),
        ]:

            def call(url: str = url, client: Client = client) -> None:
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)

            role_result[label] = time_calls(call, repeat=repeat)
        results["roles"][role] = role_result
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="district", choices=["small", "district", "city"])
    parser.add_argument("--engine", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--rebuild", action="store_true", help="drop and rebuild the city")
    args = parser.parse_args()
    emit(
        measure(
            scale=args.scale,
            engine=args.engine,
            seed=args.seed,
            repeat=args.repeat,
            rebuild=args.rebuild,
        )
    )


if __name__ == "__main__":
    main()
