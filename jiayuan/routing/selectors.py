"""Reads of the routing data: thresholds and the feedback as training examples."""

from __future__ import annotations

from jiayuan.core.memo import Memo
from jiayuan.routing.models import DEFAULT_THRESHOLD, RoutingFeedback, RoutingThreshold
from jiayuan.routing.training import Example
from jiayuan.tickets.models import Category

# Every intake asks for the thresholds; they change rarely (see jiayuan.core.memo).
_thresholds: Memo[tuple[float, dict[str, float]]] = Memo(
    "routing-thresholds", max_age=60.0, watch=[RoutingThreshold, Category]
)


def thresholds() -> tuple[float, dict[str, float]]:
    """(default threshold, {category name: override}), memoised per process."""
    return _thresholds.get("all", _load_thresholds)


def _load_thresholds() -> tuple[float, dict[str, float]]:
    default = DEFAULT_THRESHOLD
    overrides: dict[str, float] = {}
    for row in RoutingThreshold.objects.select_related("category"):
        if row.category is None:
            default = row.threshold
        else:
            overrides[row.category.name] = row.threshold
    return default, overrides


def threshold_for(category: str) -> float:
    default, overrides = thresholds()
    return overrides.get(category, default)


def feedback_examples() -> list[Example]:
    """Every confirmation and correction, oldest first, as labelled examples."""
    rows = RoutingFeedback.objects.order_by("id").values_list("title", "body", "chosen_category")
    return [Example(title, body, category) for title, body, category in rows]
