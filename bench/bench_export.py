"""Excel export in constant memory: ``--rows`` rows through the dashboards' export path
(``stats.exports.ticket_rows`` → ``core.excel.write_xlsx``, openpyxl write-only, every cell
through ``safe_cell``), reporting the time, the file size, the peak RSS of the process and the
RSS sampled every 10 % of the rows (flat when memory is constant).

Rows come from the ticket table of the history database of ``bench_history.py`` (``--source
tickets``: the 1,000,000-ticket one for ``--headline``) or are made up in Python (``--source
synthetic``, no database needed; the same 12 columns, a third of the titles starting with "=").
The ticket source runs SQLite with an 8 MB page cache and no mmap (the project's 64 MB cache
and 256 MB mmap are the database's memory, not the export's).

    python bench/bench_export.py                       # 200,000 synthetic rows
    python bench/bench_export.py --headline            # 1,000,000 rows from the ticket table
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_history import database_name
from bench.common import BENCH_VAR, emit, setup_django, use_database

LIMIT_MB = 200


def rss_mb() -> float:
    """The process's current resident set (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_parts_mb() -> dict[str, float]:
    """Resident memory split into anonymous (heap: Python, openpyxl, SQLite's page cache) and
    file-backed (the code, and database pages mapped by SQLite's mmap)."""
    parts = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:")):
                name, value = line.split(":")
                parts[name.lower()] = round(int(value.split()[0]) / 1024, 1)
    return parts


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def synthetic_rows(n: int) -> Iterator[list[Any]]:
    start = dt.datetime(2026, 1, 1, 8, 0)
    for i in range(n):
        created = start + dt.timedelta(minutes=i % 500_000)
        yield [
            f"J{20260101000000 + i}",
            ("=1+1 " if i % 3 == 0 else "") + f"小区{i % 997}号楼楼道灯坏了，晚上看不见台阶",
            "办理中",
            "网格",
            f"友谊街社区第{i % 40 + 1}网格",
            "友谊街社区",
            "城乡建设/物业管理",
            "12345 热线",
            created,
            created + dt.timedelta(days=1),
            created + dt.timedelta(days=3),
            i % 17 == 0,
        ]


def sampled(rows: Iterable[Sequence[Any]], total: int, samples: list[dict[str, Any]]) -> Any:
    """Pass rows through, noting the RSS every 10 % of them."""
    step = max(1, total // 10)
    started = time.perf_counter()
    for i, row in enumerate(rows, 1):
        yield row
        if i % step == 0:
            samples.append(
                {
                    "rows": i,
                    "rss_mb": round(rss_mb(), 1),
                    **rss_parts_mb(),
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )


def measure(*, rows: int, source: str, tickets: int) -> dict[str, Any]:
    note = ""
    if source == "tickets":
        name = database_name(tickets)
        path = BENCH_VAR / f"{name}.sqlite3"
        if not path.exists():
            source, note = "synthetic", f"{path} missing: synthetic rows instead"
        else:
            use_database("sqlite", name, fresh=False)
    setup_django()
    from jiayuan.core.excel import write_xlsx
    from jiayuan.stats.exports import TICKET_HEADERS, ticket_rows

    produced: Iterable[Sequence[Any]]
    if source == "tickets":
        from django.db import connection

        from jiayuan.tickets.models import Ticket

        # The project opens SQLite with a 64 MB page cache and 256 MB of mmap: memory of the
        # database, not of the export, which would fill it reading a million rows. Measure the
        # export with a small cache (8 MB) and no mmap.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA mmap_size=0")
            cursor.execute("PRAGMA cache_size=-8000")

        available = Ticket.objects.count()
        if available < rows:
            note = f"only {available:,} tickets in the database"
            rows = available
        produced = ticket_rows(
            Ticket.objects.select_related("category__parent", "grid", "owner_region").order_by(
                "pk"
            )[:rows]
        )
    else:
        produced = synthetic_rows(rows)
    baseline = rss_mb()
    samples: list[dict[str, Any]] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    out = write_xlsx(headers=TICKET_HEADERS, rows=sampled(produced, rows, samples), sheet="工单")
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    out.seek(0, os.SEEK_END)
    size = out.tell()
    out.close()
    peak = peak_rss_mb()
    return {
        "benchmark": "export",
        "source": source,
        "rows": rows,
        "columns": len(TICKET_HEADERS),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),  # the machine is shared: CPU time is steadier
        "rows_per_second": round(rows / max(seconds, 1e-9)),
        "rows_per_cpu_second": round(rows / max(cpu_seconds, 1e-9)),
        "file_mb": round(size / 2**20, 1),
        "rss_before_mb": round(baseline, 1),
        "peak_rss_mb": round(peak, 1),
        "limit_mb": LIMIT_MB,
        "under_limit": peak < LIMIT_MB,
        "rss_samples": samples,
        "note": note,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--source", choices=["synthetic", "tickets"], default=None)
    parser.add_argument("--tickets", type=int, default=1_000_000, help="history database size")
    parser.add_argument("--headline", action="store_true", help="1,000,000 rows from tickets")
    args = parser.parse_args()
    rows = args.rows or (1_000_000 if args.headline else 200_000)
    source = args.source or ("tickets" if args.headline else "synthetic")
    emit(measure(rows=rows, source=source, tickets=args.tickets))


if __name__ == "__main__":
    main()
