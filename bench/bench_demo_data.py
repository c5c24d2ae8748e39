"""How long ``jiayuan demo-data`` takes to build the demo city, and how many rows per second.

Each scale is built into a fresh database (``jiayuan_bench_<scale>``: a SQLite file under
``var/bench/`` or a PostgreSQL database on the local server), in its own process, because a
Django process is bound to one database.

    python bench/bench_demo_data.py --scale small                   # SQLite, prints JSON
    python bench/bench_demo_data.py --scale city --engine postgres

``run(scales=[...], database="sqlite")`` does the same for several scales and returns a dict.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent.parent))

from bench.common import emit, setup_django, use_database  # noqa: E402

SEED = 2026


def measure(*, scale: str, engine: str, seed: int = SEED) -> dict[str, Any]:
    """Build one scale into a fresh database in this process and return its figures."""
    url = use_database(engine, f"jiayuan_bench_{scale}", fresh=True)
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    from jiayuan.regions.demo import build_demo_city

    migrate_start = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrate_seconds = time.perf_counter() - migrate_start
    result = build_demo_city(scale=scale, seed=seed)
    rows = result.counts
    # Rows the generator writes (lookups like districts/streets are included in "regions").
    written = sum(
        rows[k]
        for k in (
            "regions",
            "estates",
            "buildings",
            "units",
            "households",
            "residents",
            "care_tags",
            "party_orgs",
            "party_memberships",
            "departments",
            "posts",
            "users",
        )
    )
    figures: dict[str, Any] = {
        "benchmark": "demo_data",
        "engine": engine,
        "database": connection.vendor,
        "url": url,
        "scale": scale,
        "seed": seed,
        "populated_communities": result.populated_communities,
        "seconds": round(result.seconds, 1),
        "migrate_seconds": round(migrate_seconds, 1),
        "rows": rows,
        "rows_written": written,
        "rows_per_second": round(written / result.seconds),
        "residents_per_second": round(rows["residents"] / result.seconds),
    }
    if engine == "sqlite":
        path = Path(str(connection.settings_dict["NAME"]))
        connection.close()
        figures["sqlite_mb"] = round(
            sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20, 1
        )
    return figures


def run(*, scales: list[str], database: str = "sqlite") -> dict[str, Any]:
    """Build each scale into a fresh ``database`` ("sqlite" or "postgres"); JSON-able figures."""
    out: dict[str, Any] = {"benchmark": "demo_data", "engine": database, "scales": {}}
    for scale in scales:
        proc = subprocess.run(
            [sys.executable, str(HERE), "--scale", scale, "--engine", database],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            out["scales"][scale] = {
                "error": f"exit {proc.returncode}",
                "stderr_tail": proc.stderr[-2000:],
            }
            continue
        out["scales"][scale] = json.loads(proc.stdout[proc.stdout.index("{") :])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="small", choices=["small", "district", "city"])
    parser.add_argument("--engine", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    emit(measure(scale=args.scale, engine=args.engine, seed=args.seed))


if __name__ == "__main__":
    main()
