"""Training and retraining the classifier's artefact (feedback is written by ``feedback.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jiayuan.routing import classifier, training
from jiayuan.routing.metrics import evaluation_report
from jiayuan.routing.selectors import feedback_examples


def train_and_save(
    *, directory: Path | str | None = None, data_path: Path | str | None = None
) -> training.RoutingModel:
    """``route train``: train on the original data only and replace the artefact."""
    model = training.train(data_path=data_path or training.DATA_PATH)
    training.save(model, directory or classifier.model_dir())
    classifier.reset_model_cache()
    return model


@dataclass
class RetrainOutcome:
    replaced: bool
    current_version: str | None
    current_macro_f1: float | None
    candidate: training.RoutingModel
    feedback_rows: int

    @property
    def candidate_macro_f1(self) -> float:
        return float(self.candidate.meta["validation"]["macro_f1"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "replaced": self.replaced,
            "current": {"version": self.current_version, "macro_f1": self.current_macro_f1},
            "candidate": {
                "version": self.candidate.version,
                "macro_f1": self.candidate_macro_f1,
                "accuracy": self.candidate.meta["validation"]["accuracy"],
            },
            "feedback_rows": self.feedback_rows,
        }


def validation_macro_f1(model: training.RoutingModel, data_path: Path | str | None = None) -> float:
    """Macro-F1 of ``model`` on the fixed validation split of ``data_path`` (measured now)."""
    path = data_path or training.DATA_PATH
    _, validation = training.split_examples(training.read_examples(path))
    proba = model.predict_proba([(e.title, e.body) for e in validation])
    report = evaluation_report(
        truth=[e.category for e in validation], proba=proba, labels=model.labels, thresholds=()
    )
    return float(report["macro_f1"])


def retrain(
    *,
    directory: Path | str | None = None,
    data_path: Path | str | None = None,
    force: bool = False,
    candidate: training.RoutingModel | None = None,
) -> RetrainOutcome:
    """``route retrain``: train on the original data plus every feedback row, and replace the
    current model only if the new one is at least as good (macro-F1 on the fixed validation
    split, which neither model was trained on), or ``force``."""
    directory = Path(directory or classifier.model_dir())
    data_path = data_path or training.DATA_PATH
    feedback = feedback_examples()
    if candidate is None:
        candidate = training.train(data_path=data_path, feedback=feedback)
    try:
        current: training.RoutingModel | None = training.load(directory)
    except training.ModelMissing:
        current = None
    current_f1 = validation_macro_f1(current, data_path) if current is not None else None
    candidate_f1 = float(candidate.meta["validation"]["macro_f1"])
    replace = force or current_f1 is None or candidate_f1 >= current_f1
    if replace:
        training.save(candidate, directory)
        classifier.reset_model_cache()
    return RetrainOutcome(
        replaced=replace,
        current_version=current.version if current is not None else None,
        current_macro_f1=current_f1,
        candidate=candidate,
        feedback_rows=int(candidate.meta.get("data", {}).get("feedback_rows", len(feedback))),
    )
