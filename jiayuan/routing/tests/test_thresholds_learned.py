"""Per-category thresholds (分类阈值): learned on out-of-fold predictions, written as
``RoutingThreshold`` rows by ``route train`` (never over a person's row), used by the triage
decision and reported by ``route evaluate``."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.admin.sites import AdminSite
from django.core.management import call_command
from django.test import RequestFactory

from jiayuan.routing import classifier, dispatch, training
from jiayuan.routing.admin import RoutingThresholdAdmin
from jiayuan.routing.classifier import Suggestion, should_auto_route
from jiayuan.routing.models import DEFAULT_THRESHOLD, RoutingThreshold
from jiayuan.routing.tests.classifier_support import small_data
from jiayuan.tickets.models import Category

LEARNED = RoutingThreshold.Source.LEARNED
ADMIN = RoutingThreshold.Source.ADMIN


def _rows(spec: list[tuple[str, float, int, int]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(category, confidence, rows, wrong among them) → predicted, confidence, correct."""
    predicted: list[str] = []
    confidence: list[float] = []
    correct: list[bool] = []
    for name, p, n, wrong in spec:
        predicted += [name] * n
        confidence += [p] * n
        correct += [False] * wrong + [True] * (n - wrong)
    return predicted, np.array(confidence), np.array(correct)


# 甲: 50 sure and right, 30 at 0.90 right, 10 at 0.80 with 2 wrong, 10 at 0.70 with 5 wrong.
# 乙: 40 at 0.95 right, 5 at 0.85 with 1 wrong. 丙: 5 at 0.60, all wrong.
KNOWN = [
    ("甲", 0.99, 50, 0),
    ("甲", 0.90, 30, 0),
    ("甲", 0.80, 10, 2),
    ("甲", 0.70, 10, 5),
    ("乙", 0.95, 40, 0),
    ("乙", 0.85, 5, 1),
    ("丙", 0.60, 5, 5),
]


def test_learned_thresholds_on_a_known_case() -> None:
    predicted, confidence, correct = _rows(KNOWN)
    learned = training.learn_category_thresholds(
        predicted=predicted, confidence=confidence, correct=correct, target_accuracy=0.983
    )
    # 甲 ≥ 0.80 and 乙 ≥ 0.95 route 130 rows with 2 wrong (98.5%); 甲 ≥ 0.90 and 乙 ≥ 0.85 only
    # 125, and 甲 ≥ 0.80 with 乙 ≥ 0.85 is 3 wrong of 135 (97.8%). 丙 is never right: 1.0.
    assert learned == {"甲": 0.80, "乙": 0.95, "丙": 1.0}
    routed = confidence >= np.array([learned[name] for name in predicted])
    assert routed.sum() == 130 and correct[routed].mean() >= 0.983
    # the best single threshold routes fewer: 0.85 gives 125 rows (0.80 would be 97.8%)
    single = confidence >= 0.85
    assert single.sum() == 125 and correct[confidence >= 0.80].mean() < 0.983

    looser = training.learn_category_thresholds(
        predicted=predicted, confidence=confidence, correct=correct, target_accuracy=0.97
    )
    assert looser == {"甲": 0.80, "乙": 0.85, "丙": 1.0}


def test_learned_thresholds_when_nothing_meets_the_target() -> None:
    predicted, confidence, correct = _rows([("甲", 0.9, 10, 5)])
    assert training.learn_category_thresholds(
        predicted=predicted, confidence=confidence, correct=correct
    ) == {"甲": 1.0}


def _category(name: str) -> Category:
    return Category.objects.get(parent__isnull=True, name=name)


def test_apply_learned_keeps_a_persons_row(db: Any) -> None:
    RoutingThreshold.objects.create(category=_category("卫生计生"), threshold=0.95, note="人工")
    RoutingThreshold.objects.create(category=_category("教育文体"), threshold=0.7, source=LEARNED)
    outcome = RoutingThreshold.apply_learned(
        {"卫生计生": 0.81, "教育文体": 0.88, "环境保护": 0.9, "火星事务": 0.5}, note="训练生成"
    )
    assert outcome == {
        "卫生计生": "kept (admin)",
        "教育文体": "updated",
        "环境保护": "created",
        "火星事务": "unknown category",
    }
    rows = {r.category.name: r for r in RoutingThreshold.objects.all() if r.category}
    assert (rows["卫生计生"].threshold, rows["卫生计生"].source) == (0.95, ADMIN)
    assert (rows["教育文体"].threshold, rows["教育文体"].source) == (0.88, LEARNED)
    assert (rows["环境保护"].threshold, rows["环境保护"].source) == (0.9, LEARNED)
    # the default row is not touched
    assert RoutingThreshold.objects.get(category__isnull=True).threshold == DEFAULT_THRESHOLD


def test_a_learned_row_saved_in_admin_becomes_a_persons_row(db: Any, admin_user: Any) -> None:
    row = RoutingThreshold.objects.create(
        category=_category("交通运输"), threshold=0.9, source=LEARNED
    )
    row.threshold = 0.97
    request = RequestFactory().post("/")
    request.user = admin_user
    RoutingThresholdAdmin(RoutingThreshold, AdminSite()).save_model(request, row, None, True)
    RoutingThreshold.apply_learned({"交通运输": 0.8}, note="训练生成")
    row.refresh_from_db()
    assert (row.threshold, row.source) == (0.97, ADMIN)


class _FixedAnswer:
    """The real ``should_auto_route`` over a fixed top suggestion."""

    def __init__(self, category: str, probability: float) -> None:
        self.answer = [Suggestion(category, probability)]

    def classify(self, title: str, body: str) -> list[Suggestion]:
        return self.answer

    should_auto_route = staticmethod(should_auto_route)

    def model_version(self) -> str:
        return "fixed"


def test_triage_decision_uses_the_learned_category_threshold(db: Any) -> None:
    RoutingThreshold.apply_learned({"环境保护": 0.9, "城乡建设": 0.7}, note="训练生成")
    assert not should_auto_route([Suggestion("环境保护", 0.85)])  # its own 0.90
    assert should_auto_route([Suggestion("环境保护", 0.9)])
    assert should_auto_route([Suggestion("城乡建设", 0.75)])  # its own 0.70
    assert not should_auto_route([Suggestion("教育文体", 0.8)])  # the default 0.83
    for category, probability, confident in [("环境保护", 0.85, False), ("城乡建设", 0.75, True)]:
        dispatch.use_classifier(_FixedAnswer(category, probability))
        found = dispatch.classify("标题", "内容")
        assert found is not None and found.confident is confident


@pytest.fixture
def fresh_model_dir(tmp_path: Path, settings: Any, monkeypatch: Any) -> Any:
    settings.JIAYUAN_ROUTING_MODEL_DIR = tmp_path / "fresh"
    monkeypatch.setattr(training, "DATA_PATH", small_data())
    classifier.reset_model_cache()
    yield settings.JIAYUAN_ROUTING_MODEL_DIR
    classifier.reset_model_cache()


def _run(*args: str) -> str:
    out = StringIO()
    call_command("route", *args, stdout=out)
    return out.getvalue()


def test_train_writes_learned_rows_and_evaluate_reports_the_policy(
    fresh_model_dir: Path, db: Any
) -> None:
    RoutingThreshold.objects.create(category=_category("卫生计生"), threshold=0.99)
    out = _run("train")
    meta = training.read_meta(fresh_model_dir)
    assert meta is not None
    learned = meta["category_thresholds"]["thresholds"]
    assert set(learned) == set(training.LABELS)
    assert all(0.5 <= t <= 1.0 for t in learned.values())
    assert "保留人工设置" in out
    rows = {r.category.name: r for r in RoutingThreshold.objects.all() if r.category}
    assert (rows["卫生计生"].threshold, rows["卫生计生"].source) == (0.99, ADMIN)
    for name in set(training.LABELS) - {"卫生计生"}:
        assert (rows[name].threshold, rows[name].source) == (learned[name], LEARNED)
    # the held-out evaluation at training time has the learned policy as well
    policy = meta["validation"]["thresholds"][-1]
    assert policy["policy"] == "learned_per_category" and policy["per_category"] == learned

    report = json.loads(_run("evaluate"))
    entry = report["thresholds"][-1]
    assert entry["policy"] == "learned_per_category"
    assert entry["per_category"] == learned
    assert entry["auto_rows"] == policy["auto_rows"]  # the same split, the same model
    assert report["configured_threshold"]["per_category"]["卫生计生"] == 0.99
    assert {"threshold", "auto_share", "auto_accuracy"} <= set(report["thresholds"][0])
