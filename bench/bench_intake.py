"""Ticket submissions per second over real HTTP: Open311 POST and the native API, next to a
trivial Django view (/healthz) measured in the same run as the ceiling.

For each engine it builds a fresh database (``jiayuan_bench_intake``: migrate, the test world
of ``jiayuan.core.testing.build_world()``, one Open311 key), starts ``gunicorn jiayuan.wsgi``
as ``docs/operations.md`` runs it in production — 2 workers of 4 threads each (``gthread``;
``--server-threads 1`` for sync workers) — on a free loopback port, and sends a fixed number of
requests per target from a pool of client threads (plain ``http.client``, one connection per
request). Every target is warmed first (100 requests), then the
targets take turns in ``--rounds`` rounds, so that the ceiling and the writes see the same
machine (another job starting, the workers' caches filling) rather than the ceiling being
measured alone at the start:

- ``ceiling``: ``GET /healthz`` (one ``SELECT 1``);
- ``open311``: ``POST /open311/v2/requests.json``, form-encoded, lat/long inside grid A1-1 (so
  the point-in-grid lookup runs), a unique ``Idempotency-Key`` per request;
- ``api``: ``POST /api/v1/tickets`` as the grid worker with an API token
  (``Authorization: Bearer``, as a program calls it: ``jiayuan api-token create``), JSON, on a
  building, a unique ``Idempotency-Key`` per request;
- ``open311_queued`` and ``api_queued``: the same requests through the intake queue (受理队列):
  an Open311 key marked *queued*, and ``Prefer: respond-async`` on the API. They answer with a
  token; the benchmark then times ``jiayuan tickets drain`` turning every queued submission into
  its ticket (``drain_tickets_per_s``) — what the worker does each second — so the queue's
  sustained rate is on the record next to its acceptance rate.

The client threads run on the same machine as the server and take part of its CPU: the figures
compare the three targets with each other, they are not a capacity rating of the server.

    python bench/bench_intake.py                      # SQLite and PostgreSQL, 2,000 each
    python bench/bench_intake.py --engines sqlite --requests 500
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PG_SERVER, ROOT, percentile

DB_NAME = "jiayuan_bench_intake"
GRID_A1_1_POINT = {"lat": "37.5452", "long": "121.4031"}


# --- preparing the database (runs in a child process: Django binds to one database) ----------


# The category model, as in production (``make demo`` trains one): intake classifies each
# ticket. Trained once into the benchmarks' own directory when missing.
MODEL_DIR = ROOT / "var" / "bench" / "routing-model"


def sqlite_var_dir() -> Path:
    return ROOT / "var" / "bench" / DB_NAME


def database_env(engine: str) -> dict[str, str]:
    """SQLite runs as the embedded default does (settings' WAL, busy timeout and IMMEDIATE
    transactions apply only to the default database, not to a ``sqlite://`` URL), in its own
    var directory; PostgreSQL gets its own database."""
    if engine == "sqlite":
        return {
            "JIAYUAN_VAR_DIR": str(sqlite_var_dir()),
            "JIAYUAN_ROUTING_MODEL_DIR": str(MODEL_DIR),
        }
    return {
        "JIAYUAN_DATABASE_URL": f"{PG_SERVER}/{DB_NAME}",
        "JIAYUAN_ROUTING_MODEL_DIR": str(MODEL_DIR),
    }


def prepare(engine: str) -> None:
    from bench.common import setup_django, use_database

    os.environ["JIAYUAN_ROUTING_MODEL_DIR"] = str(MODEL_DIR)
    if engine == "sqlite":
        os.environ.pop("JIAYUAN_DATABASE_URL", None)
        os.environ.update(database_env(engine))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_var_dir()}/jiayuan.sqlite3{suffix}").unlink(missing_ok=True)
    else:
        use_database(engine, DB_NAME, fresh=True)
    setup_django()
    from django.core.management import call_command

    from jiayuan.core.testing import build_world
    from jiayuan.open311.services import apikey_create

    call_command("migrate", verbosity=0)
    call_command("route", "train", "--if-missing", verbosity=0)
    world = build_world()
    _, raw = apikey_create(name="bench", channel_label="基准测试")
    _, queued = apikey_create(name="bench-queued", channel_label="基准测试（异步）", queued=True)
    from jiayuan.core.tokens import token_create

    _, api_token = token_create(username="grid_worker", name="基准测试")
    from django.db import connection

    print(
        json.dumps(
            {
                "database": connection.settings_dict["NAME"],
                "api_key": raw,
                "queued_api_key": queued,
                "api_token": api_token,
                "building": world.buildings["a1_1"].code,
            }
        )
    )


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(engine: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JIAYUAN_DATABASE_URL",)}
    env.update(database_env(engine))
    env.update(
        JIAYUAN_DEBUG="0",
        JIAYUAN_SECRET_KEY="bench-intake-" + "k" * 40,
        JIAYUAN_ALLOWED_HOSTS="127.0.0.1",
        JIAYUAN_SSL_REDIRECT="0",
        JIAYUAN_STATIC_ROOT=str(ROOT / "var" / "bench" / "static"),
        JIAYUAN_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="jiayuan.settings",
    )
    return env


def server_log(engine: str) -> Path:
    return ROOT / "var" / "bench" / f"intake-gunicorn-{engine}.log"


def start_server(
    engine: str, port: int, workers: int, server_threads: int = 1
) -> subprocess.Popen[bytes]:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    log = server_log(engine)
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            str(gunicorn),
            "jiayuan.wsgi",
            "-w",
            str(workers),
            "--threads",
            str(server_threads),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=server_env(engine),
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited: {log.read_text()[-2000:]}")
        try:
            if request(port, "GET", "/healthz")[0] == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("gunicorn did not answer /healthz within 30 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- the client -------------------------------------------------------------------------------


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        cookies = [v for k, v in response.getheaders() if k.lower() == "set-cookie"]
        return response.status, {"set-cookie": "\n".join(cookies)}, data
    finally:
        conn.close()


def run_rounds(
    port: int, targets: dict[str, Any], *, count: int, threads: int, rounds: int, warmup: int = 100
) -> dict[str, dict[str, Any]]:
    """Send ``count`` requests per target built by ``make(i)`` from ``threads`` threads, the
    targets interleaved in ``rounds`` rounds (ceiling, then each write, then the ceiling again …)
    after every target was warmed: a drift of the machine (other jobs, the workers' first
    imports, caches filling) then falls on every target alike instead of on whichever ran first.
    Returns rps and latency per target over all its rounds."""

    def one(make: Any, i: int) -> tuple[int, float]:
        method, path, body, headers = make(i)
        start = time.perf_counter()
        status = request(port, method, path, body, headers)[0]
        return status, (time.perf_counter() - start) * 1000

    per_round = max(1, count // rounds)
    seen: dict[str, list[tuple[int, float]]] = {name: [] for name in targets}
    elapsed: dict[str, float] = dict.fromkeys(targets, 0.0)
    with ThreadPoolExecutor(threads) as pool:
        for make in targets.values():
            list(pool.map(lambda i, m=make: one(m, i), range(-warmup, 0)))
        for r in range(rounds):
            for name, make in targets.items():
                ids = range(r * per_round, (r + 1) * per_round)
                start = time.perf_counter()
                seen[name].extend(pool.map(lambda i, m=make: one(m, i), ids))
                elapsed[name] += time.perf_counter() - start
    out: dict[str, dict[str, Any]] = {}
    for name, results in seen.items():
        ok = [ms for status, ms in results if 200 <= status < 300]
        statuses: dict[str, int] = {}
        for status, _ in results:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        out[name] = {
            "requests": len(results),
            "ok": len(ok),
            "statuses": statuses,
            "seconds": round(elapsed[name], 2),
            "rps": round(len(ok) / elapsed[name], 1),
            "p50_ms": round(percentile(ok, 0.50), 1),
            "p95_ms": round(percentile(ok, 0.95), 1),
        }
    return out


def collectstatic(engine: str) -> None:
    """DEBUG off serves hashed static files from a manifest: build it once, as production does."""
    jiayuan = Path(sys.executable).parent / "jiayuan"
    subprocess.run(
        [str(jiayuan), "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=server_env(engine),
        check=True,
    )


def measure(
    engine: str, *, count: int, threads: int, workers: int, rounds: int, server_threads: int = 1
) -> dict[str, Any]:
    prep = subprocess.run(
        [sys.executable, __file__, "--prepare", engine],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if prep.returncode != 0:
        raise SystemExit(f"preparing {engine} failed:\n{prep.stderr[-3000:]}")
    setup = json.loads(prep.stdout.strip().splitlines()[-1])
    collectstatic(engine)
    port = free_port()
    server = start_server(engine, port, workers, server_threads)
    try:
        run_id = uuid.uuid4().hex[:8]

        def ceiling(i: int) -> tuple[str, str, bytes | None, dict[str, str]]:
            return "GET", "/healthz", None, {}

        def open311_with(
            key: str, tag: str, i: int
        ) -> tuple[str, str, bytes | None, dict[str, str]]:
            form = {
                "api_key": key,
                "jurisdiction_id": "yantai.gov.cn",
                "service_code": "garbage",
                "description": f"基准测试第{i}件：垃圾桶满了没人清运",
                "phone": "13900000000",
                **GRID_A1_1_POINT,
            }
            headers = {
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "Idempotency-Key": f"{run_id}-{tag}-{i}",
            }
            return "POST", "/open311/v2/requests.json", urlencode(form).encode(), headers

        def open311(i: int) -> tuple[str, str, bytes | None, dict[str, str]]:
            return open311_with(setup["api_key"], "o", i)

        def open311_queued(i: int) -> tuple[str, str, bytes | None, dict[str, str]]:
            return open311_with(setup["queued_api_key"], "oq", i)

        def api(i: int, queued: bool = False) -> tuple[str, str, bytes | None, dict[str, str]]:
            payload = {
                "description": f"基准测试第{i}件：楼道灯不亮",
                "category": "property",
                "building": setup["building"],
            }
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {setup['api_token']}",
                "Idempotency-Key": f"{run_id}-{'aq' if queued else 'a'}-{i}",
            }
            if queued:
                headers["Prefer"] = "respond-async"
            return "POST", "/api/v1/tickets", json.dumps(payload).encode(), headers

        def api_queued(i: int) -> tuple[str, str, bytes | None, dict[str, str]]:
            return api(i, queued=True)

        results: dict[str, Any] = run_rounds(
            port,
            {
                "ceiling": ceiling,
                "open311": open311,
                "open311_queued": open311_queued,
                "api": api,
                "api_queued": api_queued,
            },
            count=count,
            threads=threads,
            rounds=rounds,
        )
    finally:
        stop_server(server)
    drain = time_drain(engine)
    errors = server_log(engine).read_text(errors="replace").count("Traceback")
    ceiling_rps = results["ceiling"]["rps"]

    def ratio(name: str) -> float | None:
        rps = results.get(name, {}).get("rps")
        return round(rps / ceiling_rps, 2) if rps and ceiling_rps else None

    return {
        "ceiling_rps": ceiling_rps,
        "database": setup["database"],
        "open311_rps": results["open311"]["rps"],
        "ratio": ratio("open311"),
        "api_rps": results["api"].get("rps"),
        "api_ratio": ratio("api"),
        "open311_queued_rps": results["open311_queued"]["rps"],
        "open311_queued_ratio": ratio("open311_queued"),
        "api_queued_rps": results.get("api_queued", {}).get("rps"),
        "api_queued_ratio": ratio("api_queued"),
        "drain": drain,
        "server_tracebacks": errors,
        "detail": results,
    }


def time_drain(engine: str) -> dict[str, Any]:
    """Turn every queued submission into its ticket (one worker process) and time it."""
    jiayuan = Path(sys.executable).parent / "jiayuan"
    env = server_env(engine)
    pending = _count_pending(engine)
    start = time.perf_counter()
    subprocess.run(
        [str(jiayuan), "tickets", "drain"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    seconds = time.perf_counter() - start
    return {
        "submissions": pending,
        "seconds": round(seconds, 2),
        "drain_tickets_per_s": round(pending / seconds, 1) if seconds else None,
        "left_pending": _count_pending(engine),
    }


def _count_pending(engine: str) -> int:
    code = (
        "import django; django.setup(); "
        "from jiayuan.tickets.models import Submission; "
        "print(Submission.objects.filter(state='pending').count())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=server_env(engine),
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--requests", type=int, default=2000, help="per target")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--server-threads",
        type=int,
        default=4,
        help="threads per gunicorn worker (gthread); 1: sync workers",
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="the targets interleaved in this many rounds"
    )
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare)
        return

    from bench.common import emit
    from bench.pg_available import main as pg_available

    document: dict[str, Any] = {
        "benchmark": "intake",
        "requests_per_target": args.requests,
        "client_threads": args.threads,
        "gunicorn_workers": args.workers,
        "gunicorn_threads": args.server_threads,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "notes": [],
    }
    for engine in [e for e in args.engines.split(",") if e]:
        if engine == "postgres" and pg_available("postgres://postgres@127.0.0.1:5432/postgres"):
            document["notes"].append("PostgreSQL unreachable: its run was skipped")
            continue
        document[engine] = measure(
            engine,
            count=args.requests,
            threads=args.threads,
            workers=args.workers,
            server_threads=args.server_threads,
            rounds=args.rounds,
        )
    emit(document)


if __name__ == "__main__":
    main()
