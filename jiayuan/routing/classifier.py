"""The public face of the category classifier (诉求自动分类), for the ticket pipeline.

    from jiayuan.routing.classifier import classify, should_auto_route, model_version

    suggestions = classify(title, body)        # top 3, most probable first
    if should_auto_route(suggestions): ...     # else: the human triage queue (人工分拣)

The model is read from ``settings.JIAYUAN_ROUTING_MODEL_DIR`` once per process (``route train``
writes it) and kept; ``reset_model_cache()`` forgets it (tests, after ``route retrain``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from jiayuan.routing import training
from jiayuan.routing.training import ModelMissing, RoutingModel

TOP_K = 3

_lock = threading.Lock()
_model: RoutingModel | None = None


@dataclass(frozen=True)
class Suggestion:
    """One suggested first-level category (建议分类) and its calibrated probability."""

    category: str
    probability: float


def model_dir() -> Path:
    return Path(settings.JIAYUAN_ROUTING_MODEL_DIR)


def current_model() -> RoutingModel:
    """The loaded model; loads it on first use. Raises ``ModelMissing`` without an artefact."""
    global _model
    model = _model
    if model is None:
        with _lock:
            if _model is None:
                _model = training.load(model_dir())
            model = _model
    return model


def model_version() -> str:
    """The version of the loaded model (recorded on routing events), "" without a model."""
    try:
        return current_model().version
    except ModelMissing:
        return ""


def reset_model_cache() -> None:
    global _model
    with _lock:
        _model = None


def classify(title: str, body: str) -> list[Suggestion]:
    """The three most probable categories for a message, most probable first.

    Raises ``ModelMissing`` (a ``JiayuanError``, Chinese message) when no model was trained:
    intake (``dispatch.classify``) then routes without the classifier."""
    model = current_model()
    proba = model.predict_one(title, body)
    order = proba.argsort()[::-1][:TOP_K]
    return [Suggestion(model.labels[i], round(float(proba[i]), 4)) for i in order]


def should_auto_route(suggestions: list[Suggestion]) -> bool:
    """自动派单: True when the top suggestion reaches its category's threshold (a per-category
    ``RoutingThreshold`` row, else the default row, else ``DEFAULT_THRESHOLD``)."""
    if not suggestions:
        return False
    from jiayuan.routing.selectors import threshold_for

    top = suggestions[0]
    return top.probability >= threshold_for(top.category)
