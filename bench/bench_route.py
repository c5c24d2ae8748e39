"""Benchmark of the category classifier (诉求自动分类): accuracy, latency, throughput, memory.

    python bench/bench_route.py                 # trains into var/bench/routing if needed
    python bench/bench_route.py --steps         # + the measured steps of docs/routing.md
                                                #   (held-out and 5-fold CV; ~25 minutes)

One core: BLAS/OpenMP threads are pinned to 1 before numpy loads and the process is pinned to
one CPU (``sched_setaffinity``). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_VAR, emit, percentile, setup_django, time_calls  # noqa: E402

BATCH_ROWS = 65_000


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def steps() -> list[dict[str, Any]]:
    """Each step of docs/routing.md: macro-F1 on the fixed held-out split and in 5-fold CV."""
    import numpy as np
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    from jiayuan.routing import training
    from jiayuan.routing.training import Params

    examples = training.read_examples(training.DATA_PATH)
    train_part, held_out = training.split_examples(examples)

    def chars(normalise: bool, title_view: bool) -> Params:  # the first steps: char blocks only
        return Params(normalise, title_view, dictionary=False, class_weight=None)

    plan = [
        ("char 1–3 TF-IDF + linear SVM, raw text", chars(False, False)),
        ("+ place/number masks normalised", chars(True, False)),
        ("+ title as a second TF-IDF block", chars(True, True)),
        ("+ balanced class weights", Params(dictionary=False)),
        ("+ dictionary-word block (shipped blocks)", Params()),
        ("shipped blocks, sigmoid calibration", Params(calibration="sigmoid")),
    ]
    labels = np.array([e.category for e in examples])
    folds = list(
        StratifiedKFold(5, shuffle=True, random_state=training.SPLIT_SEED).split(labels, labels)
    )

    def f1(params: Params, fit_on: list[Any], test_on: list[Any]) -> tuple[float, Any]:
        model = training.fit(fit_on, params)
        proba = model.predict_proba([(e.title, e.body) for e in test_on])
        pred = [model.labels[i] for i in proba.argmax(axis=1)]
        return float(f1_score([e.category for e in test_on], pred, average="macro")), (
            model,
            proba,
        )

    rows: list[dict[str, Any]] = []
    for name, params in plan:
        started = time.perf_counter()
        held, (model, proba) = f1(params, train_part, held_out)
        from jiayuan.routing.metrics import calibration_stats

        index = {n: i for i, n in enumerate(model.labels)}
        cal = calibration_stats(proba=proba, truth=np.array([index[e.category] for e in held_out]))
        cv = [f1(params, [examples[i] for i in a], [examples[i] for i in b])[0] for a, b in folds]
        rows.append(
            {
                "step": name,
                "held_out_macro_f1": round(held, 4),
                "cv_macro_f1_mean": round(float(np.mean(cv)), 4),
                "cv_macro_f1_std": round(float(np.std(cv)), 4),
                "held_out_brier": cal["brier"],
                "held_out_ece": cal["ece"],
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(f"bench_route: {rows[-1]}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", action="store_true", help="also measure the steps (slow)")
    parser.add_argument("--calls", type=int, default=2000, help="single predictions to time")
    parser.add_argument("--retrain", action="store_true", help="train even if a model exists")
    args = parser.parse_args()

    model_dir = BENCH_VAR / "routing"
    os.environ["JIAYUAN_ROUTING_MODEL_DIR"] = str(model_dir)
    setup_django()
    from jiayuan.routing import classifier, training

    result: dict[str, Any] = {"bench": "route", "model_dir": str(model_dir)}
    if args.retrain or not (model_dir / training.MODEL_FILE).exists():
        started = time.perf_counter()
        training.save(training.train(), model_dir)
        result["train_seconds"] = round(time.perf_counter() - started, 1)

    before = rss_mb()
    started = time.perf_counter()
    model = classifier.current_model()
    result["load_seconds"] = round(time.perf_counter() - started, 2)
    result["model"] = {
        "version": model.version,
        "features": int(model.coef.shape[0]),
        "artefact_bytes": (model_dir / training.MODEL_FILE).stat().st_size,
        "rss_delta_mb_after_load": round(rss_mb() - before, 1),
    }

    examples = training.read_examples(training.DATA_PATH)
    _, held_out = training.split_examples(examples)
    messages = [(e.title, e.body) for e in held_out]
    lengths = sorted(float(len(t) + len(b)) for t, b in messages)

    # Latency of one classify() call, cycling through the held-out messages.
    position = [0]

    def one() -> None:
        title, body = messages[position[0] % len(messages)]
        position[0] += 1
        classifier.classify(title, body)

    result["classify_latency"] = time_calls(one, repeat=args.calls, warmup=20)
    # The same calls in CPU time of this thread: what the model costs, without the time the
    # process waited for the core on a shared machine (the wall-clock tail above includes it).
    cpu = []
    for _ in range(args.calls):
        started_cpu = time.thread_time()
        one()
        cpu.append((time.thread_time() - started_cpu) * 1000)
    result["classify_cpu_ms"] = {
        "p50": round(percentile(cpu, 0.5), 3),
        "p95": round(percentile(cpu, 0.95), 3),
        "p99": round(percentile(cpu, 0.99), 3),
        "max": round(max(cpu), 3),
    }
    result["classify_latency"]["message_chars_p50"] = int(percentile(lengths, 0.5))
    result["classify_latency"]["message_chars_p99"] = int(percentile(lengths, 0.99))

    # Batch: 65,000 messages (the data set repeated) in one predict_proba call (it works through
    # them 5,000 at a time: n-gram lookup, one sparse product, calibration).
    pool = [(e.title, e.body) for e in examples]
    batch = [pool[i % len(pool)] for i in range(BATCH_ROWS)]
    started, started_cpu = time.perf_counter(), time.process_time()
    proba = model.predict_proba(batch)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - started_cpu
    assert proba.shape == (BATCH_ROWS, len(model.labels))
    result["batch"] = {
        "rows": BATCH_ROWS,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "rows_per_second": round(BATCH_ROWS / seconds),
    }
    result["rss_mb_end"] = round(rss_mb(), 1)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]

    validation = model.meta.get("validation", {})
    result["held_out"] = {
        k: validation.get(k) for k in ("macro_f1", "accuracy", "calibration", "thresholds")
    }
    result["recommended_threshold"] = model.meta.get("recommended_threshold")
    result["category_thresholds"] = model.meta.get("category_thresholds")
    if args.steps:
        result["steps"] = steps()
    emit(result)


if __name__ == "__main__":
    main()
