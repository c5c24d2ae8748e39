"""Routing one ticket (精准派单: location + classification + rules) on one core, and a batch.

Data: the demo city at small scale — the whole region tree of 烟台市 (13 districts, 7,855 grids
with their boundaries in the STRtree) — plus ``--buildings`` synthetic buildings (default
30,000, about the city build's count) in 1,200 estates on the residential grids, with addresses
like the demo's ("芝罘区南大街12号3号楼") and estate names that repeat across districts, as real
ones do. Texts are the labelled messages of ``jiayuan/routing/data/train.csv``. The classifier
is the artefact at ``JIAYUAN_ROUTING_MODEL_DIR``; when there is none, one is trained once into
``var/bench/routing-model`` (``jiayuan route train``).

Per ticket (``--samples`` of them, after warm-up): ``dispatch.decide()`` as intake calls it,
for a mix of 40% points, 30% addresses (exact, district + estate + building with Chinese
numerals, estate + building alone, unknown), 20% buildings, 10% points on no grid — wall time
and the process's CPU time (``time.process_time``) of each, with the load average before and
after (the machine may be shared). The process is pinned to one CPU and BLAS to one thread.
Then ``--tickets`` (default 65,000, a day of Beijing's 12345) other tickets of the same mix
routed in one batch with ``dispatch.decide_many`` (``--processes``: classifier workers, on
every CPU; one: the batch too is pinned). Also: each cache's build time and the memory it keeps
(tracemalloc: Python and numpy allocations still held after loading; and RSS growth) — the
classifier model, the address index, the grid index, the region tree — and the duplicate text
measure.

    python bench/bench_dispatch.py
    python bench/bench_dispatch.py --buildings 10000 --tickets 20000 --samples 2000
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_VAR, emit, percentile, setup_django, use_database  # noqa: E402

CN = "零一二三四五六七八九"


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def stats_ms(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 0.50), 3),
        "p95_ms": round(percentile(samples, 0.95), 3),
        "p99_ms": round(percentile(samples, 0.99), 3),
        "mean_ms": round(statistics.fmean(samples), 3),
    }


def loaded(load: Any) -> tuple[Any, float, dict[str, float]]:
    """``load()``'s result, its seconds, and the memory it kept: Python and numpy allocations
    still held afterwards (tracemalloc) and the process's RSS growth."""
    import tracemalloc

    rss = rss_mb()
    tracemalloc.start()
    start = time.perf_counter()
    value = load()
    seconds = time.perf_counter() - start
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    memory = {
        "kept_mb": round(kept / 2**20, 1),
        "peak_while_loading_mb": round(peak / 2**20, 1),
        "rss_added_mb": round(rss_mb() - rss, 1),
    }
    return value, seconds, memory


def cn_number(n: int) -> str:
    if n < 10:
        return CN[n]
    tens, ones = divmod(n, 10)
    return (CN[tens] if tens > 1 else "") + "十" + (CN[ones] if ones else "")


def build(buildings: int, rng: random.Random) -> dict[str, Any]:
    """The demo city's tree and ``buildings`` synthetic buildings; returns what samples need."""
    from django.core.management import call_command
    from shapely.geometry import Point, shape

    from jiayuan.regions.choices import GridKind, Level
    from jiayuan.regions.demo import ESTATE_PREFIXES, ESTATE_SUFFIXES, ROADS, build_demo_city
    from jiayuan.regions.models import Building, Estate, Region

    call_command("migrate", verbosity=0)
    start = time.perf_counter()
    build_demo_city(scale="small", populate_communities=0)
    demo_s = time.perf_counter() - start
    grids = list(
        Region.objects.filter(
            level=Level.GRID, kind=GridKind.RESIDENTIAL, boundary__isnull=False
        ).values_list("id", "path", "parent_id", "boundary")
    )
    districts = dict(Region.objects.filter(level=Level.DISTRICT).values_list("code", "name"))
    shapes = {pk: shape(boundary) for pk, _, _, boundary in grids}

    def inside(grid_id: int) -> tuple[float, float]:
        geom = shapes[grid_id]
        minx, miny, maxx, maxy = geom.bounds
        for _ in range(50):
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            if geom.contains(Point(x, y)):
                return x, y
        c = geom.representative_point()
        return c.x, c.y

    n_estates = max(1, buildings // 25)
    estates: list[tuple[Estate, int, str]] = []
    # Names and door numbers are unique within a district (they repeat across districts, as
    # real ones do): a district + estate or a street address then names one place.
    names_used: set[tuple[str, str]] = set()
    for i in range(n_estates):
        pk, path, community_id, _ = rng.choice(grids)
        district = districts.get(path.split(".")[1], "")
        name = rng.choice(ESTATE_PREFIXES) + rng.choice(ESTATE_SUFFIXES)
        while (district, name) in names_used:
            name = rng.choice(ESTATE_PREFIXES) + rng.choice(["东", "西", "南", "北", "新"]) + name
        names_used.add((district, name))
        street = f"{district}{rng.choice(ROADS)}{rng.randint(1, 400)}号"
        while (district, street) in names_used:
            street = f"{district}{rng.choice(ROADS)}{rng.randint(1, 400)}号"
        names_used.add((district, street))
        estate = Estate(code=f"BE{i:06d}", name=name, community_id=community_id, address=street)
        estates.append((estate, pk, district))
    Estate.objects.bulk_create([e for e, _, _ in estates], batch_size=2000)
    rows = []
    meta = []
    per_estate: dict[int, int] = {}
    for i in range(buildings):
        estate, grid_id, district = estates[i % n_estates]
        number = per_estate[i % n_estates] = per_estate.get(i % n_estates, 0) + 1
        lng, lat = inside(grid_id)
        rows.append(
            Building(
                code=f"BB{i:07d}",
                name=f"{number}号楼",
                estate=estate,
                grid_id=grid_id,
                address=f"{estate.address}{number}号楼",
                lng=lng,
                lat=lat,
                qr_token=f"bq{i:012d}",
            )
        )
        meta.append((grid_id, estate.name, number, district, estate.address, lng, lat))
    Building.objects.bulk_create(rows, batch_size=5000)
    return {
        "demo_seconds": round(demo_s, 1),
        "grids": len(grids),
        "estates": n_estates,
        "buildings": meta,
        "building_ids": list(Building.objects.order_by("id").values_list("id", flat=True)),
    }


def messages(rng: random.Random) -> list[tuple[str, str]]:
    from jiayuan.routing.training import DATA_PATH

    with open(DATA_PATH, encoding="utf-8") as f:
        rows = [(r["title"], r["body"]) for r in csv.DictReader(f)]
    rng.shuffle(rows)
    return rows


def samples(
    n: int, world: dict[str, Any], texts: list[tuple[str, str]], rng: random.Random
) -> list[tuple[str, dict[str, Any], int | None]]:
    """(kind, decide() keywords, the grid it should land in or None)."""
    from jiayuan.regions.models import Building

    meta = world["buildings"]
    out: list[tuple[str, dict[str, Any], int | None]] = []
    wanted_buildings: list[int] = []
    for i in range(n):
        title, body = texts[i % len(texts)]
        item: dict[str, Any] = {"title": title, "description": body}
        k = rng.randrange(len(meta))
        grid_id, estate, number, district, street, lng, lat = meta[k]
        roll = rng.random()
        if roll < 0.40:
            item.update(lng=lng, lat=lat)
            out.append(("point", item, grid_id))
        elif roll < 0.475:
            item["address"] = f"{street}{number}号楼"
            out.append(("address_exact", item, grid_id))
        elif roll < 0.55:
            item["address"] = f"{district}{estate}{cn_number(number)}号楼东侧"
            out.append(("address_district_estate", item, grid_id))
        elif roll < 0.625:
            item["address"] = f"{estate}{number}栋"
            out.append(("address_estate_only", item, grid_id))
        elif roll < 0.70:
            item["address"] = f"{district}幸福大道{rng.randint(500, 999)}号"
            out.append(("address_unknown", item, None))
        elif roll < 0.90:
            wanted_buildings.append(len(out))
            item["building"] = world["building_ids"][k]
            out.append(("building", item, grid_id))
        else:
            item.update(lng=110.0 + rng.random(), lat=30.0 + rng.random())
            out.append(("point_on_no_grid", item, None))
    ids = [out[j][1]["building"] for j in wanted_buildings]
    loaded = Building.objects.select_related("grid").in_bulk(ids)
    for j in wanted_buildings:
        out[j][1]["building"] = loaded[out[j][1]["building"]]
    return out


def duplicate_measure(rng: random.Random, *, compare: bool = False) -> dict[str, Any]:
    """The duplicate text measure on labelled messages: rewritten copies of a message (title with
    a quarter of its characters dropped + another part of the body; or the title alone against
    the whole message) against other messages of the same category."""
    from jiayuan.routing.duplicates import min_score, text_similarity, ticket_text
    from jiayuan.routing.training import DATA_PATH

    with open(DATA_PATH, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_cat: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_cat.setdefault(r["category"], []).append(r)
    pos, neg = [], []
    for _ in range(1500):
        r = rng.choice(rows)
        body = r["body"]
        if len(body) < 60:
            continue
        half = len(body) // 2
        title2 = "".join(ch for ch in r["title"] if rng.random() > 0.25)
        pos.append((ticket_text(r["title"], body[:half]), ticket_text(title2, body[half // 2 :])))
        other = rng.choice(by_cat[r["category"]])
        if other is not r:
            neg.append((ticket_text(r["title"], body), ticket_text(other["title"], other["body"])))
    for _ in range(500):
        r = rng.choice(rows)
        pos.append((r["title"], ticket_text(r["title"], r["body"])))
    threshold = min_score()
    start = time.perf_counter()
    ps = [text_similarity(a, b) for a, b in pos]
    ns = [text_similarity(a, b) for a, b in neg]
    per_pair_us = (time.perf_counter() - start) / (len(pos) + len(neg)) * 1e6
    result: dict[str, Any] = {
        "measure": "rapidfuzz token_set_ratio over character bigrams",
        "threshold": threshold,
        "duplicate_pairs": len(ps),
        "other_pairs_same_category": len(ns),
        **_separation(ps, ns, threshold),
        "us_per_pair": round(per_pair_us, 1),
    }
    if compare:
        result["chosen_at_its_best_threshold"] = _separation(ps, ns, None)
        result["alternatives"] = {
            name: {**_separation(*_scores(fn, pos, neg), None), "us_per_pair": _us(fn, pos, neg)}
            for name, fn in _alternatives().items()
        }
    return result


def _bigram_list(text: str) -> list[str]:
    return [text[i : i + 2] for i in range(len(text) - 1)]


def _alternatives() -> dict[str, Any]:
    import math
    from collections import Counter

    from rapidfuzz import fuzz

    def cosine(a: str, b: str) -> float:
        ca, cb = Counter(_bigram_list(a)), Counter(_bigram_list(b))
        dot = sum(v * cb[k] for k, v in ca.items())
        na = math.sqrt(sum(v * v for v in ca.values()))
        nb = math.sqrt(sum(v * v for v in cb.values()))
        return dot / (na * nb) if na and nb else 0.0

    def jaccard(a: str, b: str) -> float:
        sa, sb = set(_bigram_list(a)), set(_bigram_list(b))
        return len(sa & sb) / max(1, len(sa | sb))

    return {
        "cosine over bigram counts": cosine,
        "jaccard over bigram sets": jaccard,
        "rapidfuzz partial_ratio": lambda a, b: fuzz.partial_ratio(a, b) / 100,
        "rapidfuzz ratio": lambda a, b: fuzz.ratio(a, b) / 100,
    }


def _scores(fn: Any, pos: list[Any], neg: list[Any]) -> tuple[list[float], list[float]]:
    return [fn(a, b) for a, b in pos], [fn(a, b) for a, b in neg]


def _us(fn: Any, pos: list[Any], neg: list[Any]) -> float:
    start = time.perf_counter()
    _scores(fn, pos, neg)
    return round((time.perf_counter() - start) / (len(pos) + len(neg)) * 1e6, 1)


def _separation(ps: list[float], ns: list[float], threshold: float | None) -> dict[str, Any]:
    """AUC, and the share found / falsely flagged at ``threshold`` (None: the threshold that
    best balances the two, which is then reported)."""
    import bisect

    ordered = sorted(ns)
    below = [bisect.bisect_left(ordered, x) for x in ps]
    ties = [bisect.bisect_right(ordered, x) - b for x, b in zip(ps, below, strict=True)]
    auc = sum(b + 0.5 * t for b, t in zip(below, ties, strict=True)) / (len(ps) * len(ns))
    out: dict[str, Any] = {"auc": round(auc, 4)}
    if threshold is None:
        candidates = [i / 100 for i in range(5, 100)]
        threshold = max(
            candidates,
            key=lambda t: sum(x >= t for x in ps) / len(ps) + sum(x < t for x in ns) / len(ns),
        )
        out["best_threshold"] = threshold
    out["found_at_threshold"] = round(sum(x >= threshold for x in ps) / len(ps), 3)
    out["false_alarms_at_threshold"] = round(sum(x >= threshold for x in ns) / len(ns), 4)
    return out


def measure(
    *, buildings: int, tickets: int, n_samples: int, seed: int, processes: int, cpu: int = 0
) -> dict[str, Any]:
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else set()
    if cpus:
        os.sched_setaffinity(0, {cpu if cpu in cpus else sorted(cpus)[0]})
    model_dir = os.environ.setdefault("JIAYUAN_ROUTING_MODEL_DIR", str(BENCH_VAR / "routing-model"))
    use_database("sqlite", "jiayuan_bench_dispatch", fresh=True)
    setup_django()
    from django.db import connection
    from django.db.backends.signals import connection_created

    def embedded_pragmas(connection: Any, **kwargs: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")

    connection_created.connect(embedded_pragmas)
    connection.close()

    from jiayuan.routing import classifier, dispatch, locate, training, tree
    from jiayuan.routing.rules import rule_for

    rng = random.Random(seed)
    world = build(buildings, rng)
    texts = messages(rng)
    result: dict[str, Any] = {
        "data": {
            "region_tree": "demo city, small scale (whole tree of 烟台市)",
            "grids_in_index": world["grids"],
            "estates": world["estates"],
            "buildings": buildings,
            "demo_build_seconds": world["demo_seconds"],
        },
        "one_core_per_ticket": sorted(os.sched_getaffinity(0)) if cpus else None,
        "load_average_at_start": list(os.getloadavg()),
    }

    trained_s = None
    if training.read_meta(model_dir) is None:
        from jiayuan.routing.services import train_and_save

        start = time.perf_counter()
        train_and_save(directory=model_dir)
        trained_s = round(time.perf_counter() - start, 1)
    classifier.reset_model_cache()  # measured from the artefact, as a fresh process loads it
    import gc

    gc.collect()
    model, load_s, model_mem = loaded(classifier.current_model)
    _, address_index_s, address_mem = loaded(lambda: locate.match_address("芝罘区南大街1号"))
    _, grid_index_s, grid_mem = loaded(lambda: locate.locate_grid(121.4, 37.54))
    _, region_tree_s, tree_mem = loaded(tree.current)
    result["model"] = {
        "version": model.version,
        "load_seconds": round(load_s, 2),
        **model_mem,
        "trained_now_seconds": trained_s,
    }
    result["indexes"] = {
        "address_index_build_seconds": round(address_index_s, 2),
        "address_index": address_mem,
        "address_strings": len(locate._current().texts),
        "grid_index_build_seconds": round(grid_index_s, 2),
        "grid_index": grid_mem,
        "region_tree_build_seconds": round(region_tree_s, 2),
        "region_tree": tree_mem,
        "rss_mb": rss_mb(),
    }

    cases = samples(n_samples, world, texts, rng)
    load_before = os.getloadavg()
    for _, item, _ in cases[:200]:  # warm-up: chains, categories, rules, thresholds
        dispatch.decide(**item)
    per_kind: dict[str, list[float]] = {}
    cpu_ms: list[float] = []
    located_ok: dict[str, list[bool]] = {}
    all_ms: list[float] = []
    auto = 0
    parts: dict[str, list[float]] = {"locate": [], "classify": [], "rules": []}
    for kind, item, expected in cases:
        c0, t0 = time.process_time(), time.perf_counter()
        decision = dispatch.decide(**item)
        ms = (time.perf_counter() - t0) * 1000
        cpu_ms.append((time.process_time() - c0) * 1000)
        all_ms.append(ms)
        per_kind.setdefault(kind, []).append(ms)
        grid = decision.grid
        located_ok.setdefault(kind, []).append((grid.pk if grid is not None else None) == expected)
        auto += decision.auto
        # The parts on their own, for the breakdown.
        loc_kw = {k: v for k, v in item.items() if k not in ("title", "description")}
        t0 = time.perf_counter()
        location = locate.locate(**loc_kw)
        t1 = time.perf_counter()
        dispatch.classify(item["title"], item["description"])
        t2 = time.perf_counter()
        if location.grid is not None:
            chain = dispatch._chain(location.grid)
            rule_for(
                category_id=None,
                category_parent_id=None,
                region_ids=[r.pk for r in dispatch._nearest_first(chain)],
            )
        t3 = time.perf_counter()
        parts["locate"].append((t1 - t0) * 1000)
        parts["classify"].append((t2 - t1) * 1000)
        parts["rules"].append((t3 - t2) * 1000)
    result["per_ticket"] = {
        "load_average_before_after": [list(load_before), list(os.getloadavg())],
        "all": stats_ms(all_ms),
        "all_cpu_time": stats_ms(cpu_ms),
        "by_input": {k: stats_ms(v) for k, v in sorted(per_kind.items())},
        "parts": {k: stats_ms(v) for k, v in parts.items()},
        "auto_routed_share": round(auto / len(cases), 3),
        "located_as_expected": {
            k: round(sum(v) / len(v), 3) for k, v in sorted(located_ok.items())
        },
    }

    # A batch of tickets of its own (not the timed ones repeated: no place is met twice by
    # design), each with the next labelled message.
    batch = [item for _, item, _ in samples(tickets, world, texts, rng)]
    for i, item in enumerate(batch):
        item["title"], item["description"] = texts[i % len(texts)]
    if cpus and processes > 1:
        os.sched_setaffinity(0, cpus)  # the workers share every CPU
    load_before = os.getloadavg()
    children = os.times()
    start, cpu_start = time.perf_counter(), time.process_time()
    decisions = dispatch.decide_many(batch, processes=processes)
    workers = os.times()
    batch_s = time.perf_counter() - start
    result["batch"] = {
        "tickets": tickets,
        "processes": processes,
        "load_average_before_after": [list(load_before), list(os.getloadavg())],
        "cpu_seconds_this_process": round(time.process_time() - cpu_start, 1),
        "cpu_seconds_worker_processes": round(
            workers.children_user
            + workers.children_system
            - children.children_user
            - children.children_system,
            1,
        ),
        "seconds": round(batch_s, 1),
        "tickets_per_second": round(tickets / batch_s),
        "auto_routed_share": round(sum(d.auto for d in decisions) / len(decisions), 3),
        "one_by_one_estimate_seconds": round(statistics.fmean(all_ms) * tickets / 1000, 1),
    }
    result["duplicates"] = duplicate_measure(rng)
    result["rss_mb_end"] = rss_mb()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--buildings", type=int, default=30_000)
    parser.add_argument("--tickets", type=int, default=65_000)
    parser.add_argument("--samples", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--processes", type=int, default=1, help="classifier worker processes for the batch"
    )
    parser.add_argument(
        "--cpu", type=int, default=0, help="the CPU to pin to (another when it is busy)"
    )
    parser.add_argument(
        "--duplicates-only",
        action="store_true",
        help="only the duplicate text measure, with the alternatives it was chosen against",
    )
    args = parser.parse_args()
    if args.duplicates_only:
        setup_django()
        found = duplicate_measure(random.Random(args.seed), compare=True)
        emit({"bench": "dispatch", "duplicates": found})
        return
    emit(
        {
            "bench": "dispatch",
            **measure(
                buildings=args.buildings,
                tickets=args.tickets,
                n_samples=args.samples,
                seed=args.seed,
                processes=args.processes,
                cpu=args.cpu,
            ),
        }
    )


if __name__ == "__main__":
    main()
