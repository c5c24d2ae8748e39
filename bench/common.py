"""Helpers shared by the benchmarks: point Django at a dedicated database, time things."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_VAR = ROOT / "var" / "bench"
PG_SERVER = os.environ.get("JIAYUAN_BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def use_database(engine: str, name: str, *, fresh: bool) -> str:
    """Set JIAYUAN_DATABASE_URL for a bench database (before django.setup()) and return it."""
    if engine == "sqlite":
        BENCH_VAR.mkdir(parents=True, exist_ok=True)
        path = BENCH_VAR / f"{name}.sqlite3"
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        os.environ["JIAYUAN_DATABASE_URL"] = url
        return url
    if engine == "postgres":
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", [name]).fetchone()
            if fresh and exists:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                exists = None
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{PG_SERVER}/{name}"
        os.environ["JIAYUAN_DATABASE_URL"] = url
        return url
    raise SystemExit(f"unknown engine {engine!r}")


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jiayuan.settings")
    os.environ.setdefault("JIAYUAN_DEBUG", "1")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def time_calls(fn: Callable[[], Any], *, repeat: int, warmup: int = 3) -> dict[str, float]:
    """Milliseconds per call: p50, p95, p99, mean over ``repeat`` calls after ``warmup``."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return {
        "calls": repeat,
        "p50_ms": round(percentile(samples, 0.50), 2),
        "p95_ms": round(percentile(samples, 0.95), 2),
        "p99_ms": round(percentile(samples, 0.99), 2),
        "mean_ms": round(statistics.fmean(samples), 2),
    }


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str))


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages (what else was running shows here)."""
    return [round(x, 2) for x in os.getloadavg()]
