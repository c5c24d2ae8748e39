"""``jiayuan route train / evaluate / retrain``."""

from __future__ import annotations

import dataclasses
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from jiayuan.routing import classifier, services, training
from jiayuan.routing.feedback import record_feedback
from jiayuan.routing.tests.classifier_support import model_copy, small_data

EVALUATE_KEYS = {
    "rows",
    "accuracy",
    "macro_f1",
    "per_category",
    "confusion",
    "thresholds",
    "unknown_categories",
    "model_version",
}


@pytest.fixture
def model_dir(tmp_path: Path, settings: Any) -> Any:
    settings.JIAYUAN_ROUTING_MODEL_DIR = model_copy(tmp_path / "model")
    classifier.reset_model_cache()
    yield settings.JIAYUAN_ROUTING_MODEL_DIR
    classifier.reset_model_cache()


def run(*args: str) -> str:
    out = StringIO()
    call_command("route", *args, stdout=out)
    return out.getvalue()


def test_train_if_missing_keeps_an_existing_model(model_dir: Path) -> None:
    before = (model_dir / training.MODEL_FILE).stat().st_mtime_ns
    assert "跳过训练" in run("train", "--if-missing")
    assert (model_dir / training.MODEL_FILE).stat().st_mtime_ns == before


def test_train_writes_the_model(tmp_path: Path, settings: Any, monkeypatch: Any) -> None:
    settings.JIAYUAN_ROUTING_MODEL_DIR = tmp_path / "fresh"
    monkeypatch.setattr(training, "DATA_PATH", small_data())
    out = run("train", "--if-missing")
    assert "macro-F1" in out
    meta = training.read_meta(tmp_path / "fresh")
    assert meta is not None and meta["version"] in out


def test_evaluate_reports_every_key_and_unknown_categories(
    model_dir: Path, tmp_path: Path, db: Any
) -> None:
    data = tmp_path / "eval.csv"
    data.write_text(
        "title,body,category,extra\n"
        "楼下烧烤噪音,每晚烧烤店噪音扰民,环境保护,x\n"
        "学校收费,学校乱收补课费,教育文体,x\n"
        "路灯不亮,小区路灯坏了,城乡建设,x\n"
        "火星移民,申请移民火星,火星事务,x\n"
        "火星移民2,申请移民火星2,火星事务,x\n",
        encoding="utf-8",
    )
    report = json.loads(run("evaluate", "--data", str(data)))
    assert set(report) >= EVALUATE_KEYS
    assert report["rows"] == 5 and report["evaluated_rows"] == 3
    assert report["unknown_categories"] == {"火星事务": 2}
    assert set(report["per_category"]) == set(training.LABELS)
    assert set(report["per_category"]["环境保护"]) == {"precision", "recall", "f1", "support"}
    assert len(report["confusion"]["matrix"]) == 7
    assert {"threshold", "auto_share", "auto_accuracy"} <= set(report["thresholds"][0])
    assert "configured_threshold" in report


def test_evaluate_without_data_uses_the_validation_split(model_dir: Path, db: Any) -> None:
    report = json.loads(run("evaluate"))
    assert report["rows"] == report["evaluated_rows"] == 1248
    assert report["unknown_categories"] == {}
    assert 0.5 < report["macro_f1"] <= 1


def test_evaluate_refuses_a_file_without_the_columns(model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("title,text,label\na,b,c\n", encoding="utf-8")
    with pytest.raises(CommandError, match="缺少列：body、category"):
        run("evaluate", "--data", str(data))
    with pytest.raises(CommandError, match="无法读取文件"):
        run("evaluate", "--data", str(tmp_path / "missing.csv"))


def test_evaluate_without_a_model_is_a_clear_error(tmp_path: Path, settings: Any) -> None:
    settings.JIAYUAN_ROUTING_MODEL_DIR = tmp_path / "none"
    classifier.reset_model_cache()
    with pytest.raises(CommandError, match="分类模型不存在"):
        run("evaluate")


def _with_f1(model: training.RoutingModel, f1: float) -> training.RoutingModel:
    worse = dataclasses.replace(model, meta={**model.meta, "version": f"test-{f1}"})
    worse.meta["validation"] = {**model.meta["validation"], "macro_f1": f1}
    return worse


def test_retrain_refuses_a_worse_model(model_dir: Path, db: Any) -> None:
    current = training.load(model_dir)
    outcome = services.retrain(
        data_path=small_data(), candidate=_with_f1(current, 0.1), directory=model_dir
    )
    assert not outcome.replaced
    assert training.load(model_dir).version == current.version
    assert outcome.current_macro_f1 == current.meta["validation"]["macro_f1"]


def test_retrain_accepts_an_equal_or_better_model(model_dir: Path, db: Any) -> None:
    current = training.load(model_dir)
    same = current.meta["validation"]["macro_f1"]
    outcome = services.retrain(
        data_path=small_data(), candidate=_with_f1(current, same), directory=model_dir
    )
    assert outcome.replaced
    assert training.load(model_dir).version == f"test-{same}"


def test_retrain_refuses_a_model_spoiled_by_wrong_feedback(
    model_dir: Path, db: Any, monkeypatch: Any
) -> None:
    """Feedback that labels every training message of 城乡建设 as 教育文体 makes the new model
    worse on the validation split: the command keeps the current model and says so."""
    monkeypatch.setattr(training, "DATA_PATH", small_data())
    before = training.load(model_dir).version
    train_rows, _ = training.split_examples(training.read_examples(small_data()))
    for e in train_rows:
        if e.category in ("城乡建设", "环境保护"):
            record_feedback(title=e.title, body=e.body, category="教育文体")
    out = run("retrain")
    assert "未替换" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["replaced"] is False and summary["feedback_rows"] == 96
    assert summary["candidate"]["macro_f1"] < summary["current"]["macro_f1"]
    assert training.load(model_dir).version == before
    assert "已替换" in run("retrain", "--force")
    assert training.load(model_dir).version != before
