"""A small model for the classifier tests, trained once per process on a slice of the data
(60 messages per category) into a temporary directory, so the tests take seconds."""

from __future__ import annotations

import csv
import functools
import shutil
import tempfile
from pathlib import Path

from jiayuan.routing import training

PER_CATEGORY = 60


@functools.cache
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="jiayuan-routing-test-"))


@functools.cache
def small_data() -> Path:
    """A CSV with the first ``PER_CATEGORY`` rows of each category of data/train.csv."""
    path = _workdir() / "small.csv"
    taken: dict[str, int] = {}
    with training.DATA_PATH.open(encoding="utf-8") as src, path.open("w", encoding="utf-8") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=["title", "body", "category"])
        writer.writeheader()
        for row in reader:
            if taken.get(row["category"], 0) < PER_CATEGORY:
                taken[row["category"]] = taken.get(row["category"], 0) + 1
                writer.writerow({k: row[k] for k in ("title", "body", "category")})
    return path


@functools.cache
def _trained() -> Path:
    directory = _workdir() / "model"
    training.save(training.train(data_path=small_data()), directory)
    return directory


def model_copy(target: Path) -> Path:
    """A fresh copy of the small model's artefact in ``target`` (tests may replace it)."""
    shutil.copytree(_trained(), target, dirs_exist_ok=True)
    return target
