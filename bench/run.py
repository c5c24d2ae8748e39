"""Run every benchmark of jiayuan and print one JSON document.

    python bench/run.py              # default scale (a few minutes on 2 cores)
    python bench/run.py --headline   # the figures quoted in docs/benchmarks.md (city scale)
    python bench/run.py --only resident_list --engines sqlite

Each benchmark runs in its own process (each binds Django to its own database) and prints JSON;
this runner collects them. PostgreSQL runs are skipped, with a note, when the server is down.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.pg_available import main as pg_available  # noqa: E402


def plan(headline: bool, engines: list[str]) -> list[tuple[str, list[str]]]:
    runs: list[tuple[str, list[str]]] = []
    demo_scales = ["small", "district", "city"] if headline else ["small"]
    list_scale = "city" if headline else "small"  # small: reuses the demo build above
    for engine in engines:
        for scale in demo_scales:
            runs.append(("demo_data", ["--scale", scale, "--engine", engine]))
        # Reuse the city the demo_data run just built at the same scale; build it otherwise.
        rebuild = [] if list_scale in demo_scales else ["--rebuild"]
        runs.append(("resident_list", ["--scale", list_scale, "--engine", engine, *rebuild]))
        # The request pipeline: the inbox, the SLA sweep (headline: the scales).
        tickets = "1000000" if headline else "20000"
        runs.append(("inbox", ["--engine", engine, "--tickets", tickets, "--rebuild"]))
        due = "100000" if headline else "5000"
        runs.append(("sweep", ["--engine", engine, "--tickets", due]))
        # Rollups: generate a history, then the city dashboard from rollups vs the ticket table.
        history = "1000000" if headline else "20000"
        runs.append(("history", ["--engine", engine, "--tickets", history]))
        runs.append(("stats", ["--engine", engine, "--tickets", history]))
    # Excel export in constant memory (headline: 1,000,000 rows from the 1 M history's tickets).
    runs.append(("export", ["--headline"] if headline else []))
    # Routing one ticket (location + classification + rules) and a day's batch: SQLite only
    # (after warm-up it reads no rows per ticket).
    if "sqlite" in engines:
        runs.append(
            ("dispatch", [] if headline else ["--buildings", "10000", "--tickets", "20000"])
        )
    # Intake over HTTP starts its own gunicorn and covers both engines in one run.
    runs.append(
        ("intake", ["--engines", ",".join(engines), "--requests", "2000" if headline else "300"])
    )
    # The category classifier: no database; headline adds the measured steps of docs/routing.md.
    runs.append(("route", ["--steps"] if headline else []))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--headline", action="store_true", help="city scale (takes longer)")
    parser.add_argument(
        "--only",
        help="run only this benchmark (demo_data, resident_list, inbox, sweep, history, stats, "
        "export, intake)",
    )
    parser.add_argument("--engines", default="sqlite,postgres")
    args = parser.parse_args()

    engines = [e for e in args.engines.split(",") if e]
    notes: list[str] = []
    if "postgres" in engines and pg_available("postgres://postgres@127.0.0.1:5432/postgres"):
        engines.remove("postgres")
        notes.append("PostgreSQL unreachable: its runs were skipped")

    document: dict[str, Any] = {
        "jiayuan_bench": 1,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "headline": args.headline,
        "results": [],
        "notes": notes,
    }
    for name, bench_args in plan(args.headline, engines):
        if args.only and name != args.only:
            continue
        script = HERE / f"bench_{name}.py"
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(script), *bench_args], capture_output=True, text=True, check=False
        )
        entry: dict[str, Any] = {
            "name": name,
            "args": bench_args,
            "wall_seconds": round(time.perf_counter() - start, 1),
        }
        if proc.returncode == 0:
            try:
                entry["result"] = json.loads(proc.stdout[proc.stdout.index("{") :])
            except ValueError:
                entry["error"] = "output was not JSON"
                entry["stdout_tail"] = proc.stdout[-2000:]
        else:
            entry["error"] = f"exit {proc.returncode}"
            entry["stderr_tail"] = proc.stderr[-2000:]
        document["results"].append(entry)
        print(f"bench: {name} {' '.join(bench_args)}: {entry['wall_seconds']} s", file=sys.stderr)
    print(json.dumps(document, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
