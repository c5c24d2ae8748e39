"""``jiayuan route …``: the category classifier (诉求自动分类) from the shell.

    jiayuan route train [--if-missing]      # train on data/train.csv, write the artefact
    jiayuan route evaluate [--data FILE]    # one JSON object: accuracy, macro-F1, thresholds …
    jiayuan route retrain [--force]         # + feedback; keeps the current model if the new
                                            #   one is worse on the fixed validation split

The artefact lives in ``settings.JIAYUAN_ROUTING_MODEL_DIR`` (default ``var/routing``).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from jiayuan.core.errors import JiayuanError
from jiayuan.routing import classifier, services, training
from jiayuan.routing.metrics import REPORTED_THRESHOLDS, evaluation_report
from jiayuan.routing.models import RoutingThreshold
from jiayuan.routing.selectors import threshold_for, thresholds


class Command(BaseCommand):
    help = "诉求自动分类模型 (train / evaluate / retrain)"

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        train = sub.add_parser("train", help="用 data/train.csv 训练并保存模型")
        train.add_argument("--if-missing", action="store_true", help="已有模型时什么也不做")
        evaluate = sub.add_parser("evaluate", help="评估当前模型，输出一个 JSON 对象")
        evaluate.add_argument(
            "--data", help="CSV 文件（列 title, body, category）；省略时用固定的 20% 验证集"
        )
        retrain = sub.add_parser("retrain", help="原始数据 + 分类反馈重新训练；变差则不替换")
        retrain.add_argument("--force", action="store_true", help="即使新模型更差也替换")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"do_{options['action']}")(options)
        except JiayuanError as exc:
            raise CommandError(exc.message) from exc

    def do_train(self, options: dict[str, Any]) -> None:
        directory = classifier.model_dir()
        meta = training.read_meta(directory)
        if options["if_missing"] and _loadable(directory):
            version = meta["version"] if meta else "?"
            self.stdout.write(f"分类模型已存在（版本 {version}），跳过训练。")
            return
        self.stdout.write("正在训练分类模型（约半分钟）…")
        model = services.train_and_save(directory=directory)
        self.stdout.write(self._summary(model))
        self.stdout.write(f"已保存到 {directory}")
        self._apply_learned(model)

    def do_evaluate(self, options: dict[str, Any]) -> None:
        model = classifier.current_model()
        if options["data"]:
            examples = training.read_examples(options["data"])
            source = options["data"]
        else:
            examples = training.split_examples(training.read_examples(training.DATA_PATH))[1]
            source = "validation split of data/train.csv (20%, random_state=42)"
        known = [e for e in examples if e.category in model.labels]
        unknown = Counter(e.category for e in examples if e.category not in model.labels)
        default, overrides = thresholds()
        report = {
            "model_version": model.version,
            "data": source,
            "rows": len(examples),
            "accuracy": None,
            "macro_f1": None,
            "per_category": {},
            "confusion": {"labels": model.labels, "matrix": []},
            "thresholds": [],
            "unknown_categories": dict(unknown.most_common()),
            "configured": {"default_threshold": default, "overrides": overrides},
        }
        if known:
            proba = model.predict_proba([(e.title, e.body) for e in known])
            report |= evaluation_report(
                truth=[e.category for e in known],
                proba=proba,
                labels=model.labels,
                thresholds=sorted({*REPORTED_THRESHOLDS, default}),
                threshold_for=threshold_for,
            )
            report["configured_threshold"]["per_category"] = {
                name: threshold_for(name) for name in model.labels
            }
            learned = learned_thresholds(model)
            if learned:
                report["thresholds"].append(
                    training.category_policy_stats(
                        truth=[e.category for e in known],
                        proba=proba,
                        labels=model.labels,
                        per_category=learned,
                        default=float(model.meta.get("recommended_threshold", default)),
                    )
                )
        else:
            report["evaluated_rows"] = 0
        self.stdout.write(json.dumps(report, ensure_ascii=False))

    def do_retrain(self, options: dict[str, Any]) -> None:
        self.stdout.write("正在用原始数据和分类反馈重新训练…")
        outcome = services.retrain(force=options["force"])
        current = (
            f"{outcome.current_macro_f1:.4f}（版本 {outcome.current_version}）"
            if outcome.current_macro_f1 is not None
            else "无（尚未训练）"
        )
        self.stdout.write(
            f"验证集 macro-F1：当前模型 {current}，新模型 {outcome.candidate_macro_f1:.4f}"
            f"（版本 {outcome.candidate.version}，反馈 {outcome.feedback_rows} 条）"
        )
        if outcome.replaced:
            self.stdout.write(self.style.SUCCESS("新模型已替换当前模型。"))
            self._apply_learned(outcome.candidate)
        else:
            self.stdout.write(
                self.style.WARNING("新模型更差，未替换，当前模型保持不变（--force 可强制替换）。")
            )
        self.stdout.write(json.dumps(outcome.as_dict(), ensure_ascii=False))

    def _apply_learned(self, model: training.RoutingModel) -> None:
        """The model's learned per-category thresholds become ``RoutingThreshold`` rows, except
        where a person set one in admin."""
        learned = learned_thresholds(model)
        if not learned:
            return
        try:
            outcome = RoutingThreshold.apply_learned(
                learned, note=f"训练生成（模型 {model.version}，训练集五折交叉验证）"
            )
        except (DatabaseError, RuntimeError) as exc:
            # The model is saved already; without a database (not migrated yet, or a test without
            # one) its thresholds stay in the artefact and the next train writes them.
            self.stderr.write(f"分类阈值未写入数据库：{exc}")
            return
        parts = [
            f"{name} {learned[name]:.2f}（{_OUTCOME.get(what, what)}）"
            for name, what in outcome.items()
        ]
        self.stdout.write("分类阈值：" + "；".join(parts))

    @staticmethod
    def _summary(model: training.RoutingModel) -> str:
        v = model.meta["validation"]
        cal = v["calibration"]
        return (
            f"版本 {model.version}：验证集 macro-F1 {v['macro_f1']:.4f}，"
            f"准确率 {v['accuracy']:.4f}，"
            f"Brier {cal['brier']:.4f}，ECE {cal['ece']:.4f}；"
            f"建议阈值 {model.meta['recommended_threshold']:.2f}"
        )


_OUTCOME = {
    "created": "新建",
    "updated": "已更新",
    "kept (admin)": "保留人工设置",
    "unknown category": "无此分类",
}


def learned_thresholds(model: training.RoutingModel) -> dict[str, float]:
    """The per-category thresholds kept in the artefact's metadata ({} for older artefacts)."""
    policy = model.meta.get("category_thresholds") or {}
    return {str(k): float(v) for k, v in (policy.get("thresholds") or {}).items()}


def _loadable(directory: Any) -> bool:
    """An artefact exists and is of the current format (an outdated one is trained again)."""
    if not (directory / training.MODEL_FILE).exists():
        return False
    try:
        training.load(directory)
    except JiayuanError:
        return False
    return True
