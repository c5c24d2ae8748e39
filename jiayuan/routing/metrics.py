"""Measures of a classifier on labelled messages: macro-F1, confusion, calibration, and the
share a confidence threshold routes automatically (自动派单比例) with its accuracy.

Pure functions over arrays, so that ``route evaluate``, ``route train`` and the tests agree.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

# Thresholds every evaluation reports, besides the configured ones.
REPORTED_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


def _r(value: float) -> float:
    return round(float(value), 4)


def threshold_stats(
    *, correct: np.ndarray, confidence: np.ndarray, threshold: float
) -> dict[str, Any]:
    """自动派单: rows whose top-1 probability is >= ``threshold`` are routed without a human.

    ``auto_share`` is their share of all rows, ``auto_accuracy`` the accuracy on them (None when
    no row qualifies)."""
    auto = confidence >= threshold
    n = len(confidence)
    return {
        "threshold": _r(threshold),
        "auto_rows": int(auto.sum()),
        "auto_share": _r(auto.mean()) if n else 0.0,
        "auto_accuracy": _r(correct[auto].mean()) if auto.any() else None,
    }


def calibration_stats(*, proba: np.ndarray, truth: np.ndarray, bins: int = 10) -> dict[str, float]:
    """Brier score (multi-class, summed over classes) and expected calibration error of the
    top-1 probability over ``bins`` equal-width bins."""
    onehot = np.zeros_like(proba)
    onehot[np.arange(len(truth)), truth] = 1.0
    brier = ((proba - onehot) ** 2).sum(axis=1).mean()
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return {"brier": _r(brier), "ece": _r(ece)}


def evaluation_report(
    *,
    truth: Sequence[str],
    proba: np.ndarray,
    labels: Sequence[str],
    thresholds: Sequence[float] = REPORTED_THRESHOLDS,
    threshold_for: Callable[[str], float] | None = None,
) -> dict[str, Any]:
    """The evaluation of ``proba`` (rows × ``labels``) against ``truth`` (names in ``labels``).

    ``threshold_for`` (category name → threshold) adds the configured, per-category thresholds
    as ``configured_threshold``."""
    labels = list(labels)
    index = {name: i for i, name in enumerate(labels)}
    y = np.array([index[name] for name in truth], dtype=int)
    if len(y) == 0:
        return {"evaluated_rows": 0}
    pred = proba.argmax(axis=1)
    confidence = proba.max(axis=1)
    correct = pred == y
    present = range(len(labels))
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=list(present), zero_division=0
    )
    # Macro-F1 over the categories that occur in the truth or the predictions (sklearn's rule).
    seen = sorted(set(y.tolist()) | set(pred.tolist()))
    report: dict[str, Any] = {
        "evaluated_rows": len(y),
        "accuracy": _r(correct.mean()),
        "macro_f1": _r(np.mean([f1[i] for i in seen])),
        "per_category": {
            labels[i]: {
                "precision": _r(precision[i]),
                "recall": _r(recall[i]),
                "f1": _r(f1[i]),
                "support": int(support[i]),
            }
            for i in present
        },
        "confusion": {
            "labels": labels,
            "matrix": confusion_matrix(y, pred, labels=list(present)).tolist(),
            "note": "rows: true category, columns: predicted category",
        },
        "calibration": calibration_stats(proba=proba, truth=y),
        "thresholds": [
            threshold_stats(correct=correct, confidence=confidence, threshold=t) for t in thresholds
        ],
    }
    if threshold_for is not None:
        per_row = np.array([threshold_for(labels[i]) for i in pred])
        auto = confidence >= per_row
        report["configured_threshold"] = {
            "auto_rows": int(auto.sum()),
            "auto_share": _r(auto.mean()),
            "auto_accuracy": _r(correct[auto].mean()) if auto.any() else None,
        }
    return report


def choose_threshold(
    *, correct: np.ndarray, confidence: np.ndarray, target_accuracy: float = 0.98
) -> float:
    """The lowest threshold (0.50–0.99, step 0.01) whose automatically routed share is at least
    ``target_accuracy`` accurate: the most automation that keeps the accuracy promise."""
    for step in range(50, 100):
        t = step / 100
        auto = confidence >= t
        if auto.any() and correct[auto].mean() >= target_accuracy:
            return t
    return 0.99
