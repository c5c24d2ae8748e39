"""Training the category classifier (诉求分类模型) and its artefact.

The model: character 1–3-gram TF-IDF of the title and, separately, of title + body (both
normalised, see ``text.py``), one linear SVM over the two (balanced class weights), and one
isotonic calibrator per category fitted on 5-fold out-of-fold SVM scores, so that predicted
probabilities mean what they say. docs/routing.md has the measured steps that led here.

The data is ``data/train.csv`` (TipDM 2020 messages, see ``data/README.md``). Its fixed,
stratified 20% split (``split_examples``) is the validation set: no model is trained on it, and
``route retrain`` compares models on it.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.svm import LinearSVC

from jiayuan.core.errors import JiayuanError
from jiayuan.routing.metrics import choose_threshold, evaluation_report
from jiayuan.routing.text import normalise, prepare

DATA_PATH = Path(__file__).resolve().parent / "data" / "train.csv"
SPLIT_SEED = 42
VALIDATION_SHARE = 0.2
TARGET_ACCURACY = 0.98
MODEL_FILE = "model.joblib"
META_FILE = "model.json"
# The seven first-level categories of the data, the names of the first-level tickets.Category rows.
LABELS = ("城乡建设", "劳动和社会保障", "教育文体", "商贸旅游", "环境保护", "卫生计生", "交通运输")
REQUIRED_COLUMNS = ("title", "body", "category")
WHITESPACE_RUNS = re.compile(r"\s\s+")  # what sklearn's char analyzer collapses


class RoutingDataError(JiayuanError):
    code = "routing_data"


class ModelMissing(JiayuanError):
    code = "routing_model_missing"
    status = 503


@dataclass(frozen=True)
class Example:
    """One labelled message (留言): title, body and its first-level category name."""

    title: str
    body: str
    category: str


@dataclass(frozen=True)
class Params:
    """What a model is built from. The defaults are the shipped model; the other switches exist
    to measure the steps in docs/routing.md (``bench/bench_route.py --steps``)."""

    normalise: bool = True  # masked places and numbers → "某市", removed
    title_view: bool = True  # a second TF-IDF block of the title alone (weights the title)
    words: bool = False  # a jieba word block (measured: no gain, so off; needs jieba)
    ngram_max: int = 3
    min_df: int = 2
    max_df: float = 0.9
    C: float = 0.5
    class_weight: str | None = "balanced"
    calibration: str = "isotonic"  # or "sigmoid"
    folds: int = 5

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- data -----------------------------------------------------------------------------------


def read_examples(path: Path | str, *, known: Sequence[str] | None = None) -> list[Example]:
    """Rows of a CSV file with columns title, body, category (others are ignored).

    Raises ``RoutingDataError`` (Chinese message) when the file cannot be read or a column is
    missing. ``known`` is not used to filter: callers decide what an unknown category means."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RoutingDataError(f"无法读取文件 {path}：{exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RoutingDataError(f"文件 {path} 不是 UTF-8 编码的 CSV") from exc
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise RoutingDataError(
            f"文件 {path} 缺少列：{'、'.join(missing)}（需要 title、body、category 三列）"
        )
    try:
        rows = [{(k or "").strip(): (v or "") for k, v in row.items()} for row in reader]
    except csv.Error as exc:
        raise RoutingDataError(f"文件 {path} 不是有效的 CSV：{exc}") from exc
    return [Example(r["title"], r["body"], r["category"].strip()) for r in rows]


def split_examples(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """The fixed stratified split: (training 80%, validation 20%), ``random_state`` fixed."""
    indices = np.arange(len(examples))
    labels = [e.category for e in examples]
    train_idx, valid_idx = train_test_split(
        indices, test_size=VALIDATION_SHARE, stratify=labels, random_state=SPLIT_SEED
    )
    return [examples[i] for i in sorted(train_idx)], [examples[i] for i in sorted(valid_idx)]


def text_key(title: str, body: str) -> str:
    """Identity of a message for leak checks: the normalised title + body."""
    return normalise(title) + "\n" + normalise(body)


def digest(examples: Iterable[Example]) -> str:
    h = hashlib.sha256()
    for e in examples:
        h.update(f"{e.title}\x1f{e.body}\x1f{e.category}\x1e".encode())
    return h.hexdigest()


# --- the model ------------------------------------------------------------------------------


@dataclass
class RoutingModel:
    """A trained classifier: vectorizers, one linear score per category, isotonic calibrators.

    ``predict_proba`` is a sparse product and ``np.interp``, with no per-call estimator overhead,
    so that one message takes well under a millisecond after the TF-IDF step."""

    labels: list[str]
    params: Params
    title_vectorizer: TfidfVectorizer | None
    text_vectorizer: TfidfVectorizer
    word_vectorizer: TfidfVectorizer | None
    coef: np.ndarray  # (features, categories), float32
    intercept: np.ndarray  # (categories,)
    calib_x: list[np.ndarray]  # per category: isotonic thresholds on the SVM score …
    calib_y: list[np.ndarray]  # … and the calibrated probabilities there
    sigmoid_ab: np.ndarray | None = None  # (categories, 2) when calibration == "sigmoid"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unversioned"))

    def _views(self, pairs: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
        if self.params.normalise:
            prepared = [prepare(t, b) for t, b in pairs]
        else:
            prepared = [(t or "", f"{t or ''} {b or ''}") for t, b in pairs]
        return [p[0] for p in prepared], [p[1] for p in prepared]

    def features(self, pairs: Sequence[tuple[str, str]]) -> sp.csr_matrix:
        titles, texts = self._views(pairs)
        blocks = [self.text_vectorizer.transform(texts)]
        if self.title_vectorizer is not None:
            blocks.append(self.title_vectorizer.transform(titles))
        if self.word_vectorizer is not None:
            blocks.append(self.word_vectorizer.transform(segment(texts)))
        return sp.hstack(blocks, format="csr") if len(blocks) > 1 else blocks[0].tocsr()

    def scores(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        return np.asarray(self.features(pairs) @ self.coef) + self.intercept

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        """Scores → probabilities summing to 1 per row (one-vs-rest calibration, normalised)."""
        if self.sigmoid_ab is not None:
            a, b = self.sigmoid_ab[:, 0], self.sigmoid_ab[:, 1]
            proba = 1.0 / (1.0 + np.exp(a * scores + b))
        else:
            proba = np.column_stack(
                [
                    np.interp(scores[:, j], self.calib_x[j], self.calib_y[j])
                    for j in range(len(self.labels))
                ]
            )
        total = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1.0 / len(self.labels))
        return np.where(total > 0, proba / np.where(total > 0, total, 1.0), uniform)

    def predict_proba(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        return self.calibrate(self.scores(pairs))

    def predict_one(self, title: str, body: str) -> np.ndarray:
        """``predict_proba`` of one message, without sklearn's per-call overhead: the same
        n-grams, sublinear TF × IDF and L2 norm per block, computed on the vocabulary's hits
        only (a 1-row sparse product against 300,000 IDF weights costs more than the text)."""
        if self.word_vectorizer is not None:
            return self.predict_proba([(title, body)])[0]
        titles, texts = self._views([(title, body)])
        score = self.intercept.copy()
        offset = 0
        for vectorizer, text in (
            (self.text_vectorizer, texts[0]),
            (self.title_vectorizer, titles[0]),
        ):
            if vectorizer is None:
                continue
            score += _block_score(vectorizer, text, self.coef, offset)
            offset += len(vectorizer.vocabulary_)
        return self.calibrate(score[None, :])[0]


def _block_score(
    vectorizer: TfidfVectorizer, text: str, coef: np.ndarray, offset: int
) -> np.ndarray:
    """The linear scores of one TF-IDF block of one text (see ``RoutingModel.predict_one``)."""
    vocabulary = vectorizer.vocabulary_
    text = WHITESPACE_RUNS.sub(" ", text.lower() if vectorizer.lowercase else text)
    low, high = vectorizer.ngram_range
    counts: Counter[str] = Counter()
    for n in range(low, high + 1):
        counts.update(text[i : i + n] for i in range(len(text) - n + 1))
    hits = [(vocabulary[g], c) for g, c in counts.items() if g in vocabulary]
    if not hits:
        return np.zeros(coef.shape[1])
    columns = np.fromiter((j for j, _ in hits), dtype=np.int64, count=len(hits))
    tf = np.fromiter((c for _, c in hits), dtype=np.float64, count=len(hits))
    values = (np.log(tf) + 1.0 if vectorizer.sublinear_tf else tf) * vectorizer.idf_[columns]
    values /= np.sqrt(values @ values)
    return values @ coef[offset + columns].astype(np.float64)


_jieba_ready = False


def segment(texts: Sequence[str]) -> list[str]:
    """Words joined by spaces (jieba, precise mode without HMM); jieba is loaded once."""
    global _jieba_ready
    import jieba  # optional: only the measured "words" step uses it

    if not _jieba_ready:
        jieba.setLogLevel(60)
        jieba.initialize()
        _jieba_ready = True
    return [" ".join(jieba.cut(t, HMM=False)) for t in texts]


def _char_vectorizer(params: Params) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer="char",
        ngram_range=(1, params.ngram_max),
        min_df=params.min_df,
        max_df=params.max_df,
        sublinear_tf=True,
        lowercase=True,
        dtype=np.float32,
    )


def _fit_vectorizer(vectorizer: TfidfVectorizer, texts: list[str]) -> sp.csr_matrix:
    matrix = vectorizer.fit_transform(texts)
    # The pruned-terms set is only for introspection and would double the artefact.
    vectorizer.stop_words_ = None
    return matrix


def _platt(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """Platt scaling: p = 1 / (1 + exp(a·score + b)), fitted by logistic regression."""
    lr = LogisticRegression(C=1e6).fit(scores.reshape(-1, 1), positive.astype(int))
    return -float(lr.coef_[0, 0]), -float(lr.intercept_[0])


def _svm(params: Params) -> LinearSVC:
    return LinearSVC(C=params.C, class_weight=params.class_weight)


def fit(examples: Sequence[Example], params: Params | None = None) -> RoutingModel:
    """Fit a model on ``examples`` (all of them: the caller keeps validation rows out)."""
    params = params or Params()
    labels = [name for name in LABELS if any(e.category == name for e in examples)]
    labels += sorted({e.category for e in examples} - set(labels))
    index = {name: i for i, name in enumerate(labels)}
    y = np.array([index[e.category] for e in examples])
    shell = RoutingModel(
        labels=labels,
        params=params,
        title_vectorizer=_char_vectorizer(params) if params.title_view else None,
        text_vectorizer=_char_vectorizer(params),
        word_vectorizer=None,
        coef=np.zeros((0, 0)),
        intercept=np.zeros(0),
        calib_x=[],
        calib_y=[],
    )
    titles, texts = shell._views([(e.title, e.body) for e in examples])
    blocks = [_fit_vectorizer(shell.text_vectorizer, texts)]
    if shell.title_vectorizer is not None:
        blocks.append(_fit_vectorizer(shell.title_vectorizer, titles))
    if params.words:
        shell.word_vectorizer = TfidfVectorizer(
            token_pattern=r"\S+", lowercase=True, min_df=params.min_df, sublinear_tf=True
        )
        blocks.append(_fit_vectorizer(shell.word_vectorizer, segment(texts)))
    X = sp.hstack(blocks, format="csr") if len(blocks) > 1 else blocks[0].tocsr()

    # Out-of-fold scores train the calibrators; the final SVM sees every row.
    folds = StratifiedKFold(n_splits=params.folds, shuffle=True, random_state=SPLIT_SEED)
    oof = cross_val_predict(_svm(params), X, y, cv=folds, method="decision_function")
    svm = _svm(params).fit(X, y)
    coef, intercept = svm.coef_, svm.intercept_
    if len(labels) == 2:  # binary LinearSVC has one score; keep the one-vs-rest shape
        coef = np.vstack([-coef[0], coef[0]])
        intercept = np.array([-intercept[0], intercept[0]])
        oof = np.column_stack([-oof, oof])
    shell.coef = np.ascontiguousarray(coef.T, dtype=np.float32)
    shell.intercept = intercept.astype(np.float64)
    for j in range(len(labels)):
        target = (y == j).astype(float)
        if params.calibration == "sigmoid":
            continue
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(oof[:, j], target)
        shell.calib_x.append(np.asarray(iso.X_thresholds_, dtype=np.float64))
        shell.calib_y.append(np.asarray(iso.y_thresholds_, dtype=np.float64))
    if params.calibration == "sigmoid":
        shell.sigmoid_ab = np.array([_platt(oof[:, j], y == j) for j in range(len(labels))])
    oof_proba = shell.calibrate(oof)
    shell.meta["oof"] = {
        "correct": (oof_proba.argmax(axis=1) == y),
        "confidence": oof_proba.max(axis=1),
    }
    return shell


# --- a whole training run -------------------------------------------------------------------


def train(
    *,
    data_path: Path | str = DATA_PATH,
    feedback: Sequence[Example] = (),
    params: Params | None = None,
) -> RoutingModel:
    """Train on the training part of ``data_path`` plus ``feedback`` and measure on its fixed
    validation part. Feedback rows whose text is a validation row are dropped (no leak)."""
    params = params or Params()
    started = time.perf_counter()
    examples = read_examples(data_path)
    unknown = sorted({e.category for e in examples} - set(LABELS))
    if unknown:
        raise RoutingDataError(f"训练数据含未知分类：{'、'.join(unknown)}")
    training, validation = split_examples(examples)
    held = {text_key(e.title, e.body) for e in validation}
    extra = [e for e in feedback if e.category in LABELS and text_key(e.title, e.body) not in held]
    model = fit([*training, *extra], params)
    oof = model.meta.pop("oof")
    recommended = choose_threshold(
        correct=oof["correct"], confidence=oof["confidence"], target_accuracy=TARGET_ACCURACY
    )
    proba = model.predict_proba([(e.title, e.body) for e in validation])
    report = evaluation_report(
        truth=[e.category for e in validation],
        proba=proba,
        labels=model.labels,
        thresholds=sorted({recommended, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95}),
    )
    data_digest = digest([*training, *extra])
    fingerprint = hashlib.sha256(
        json.dumps(
            {"data": data_digest, "params": params.as_dict(), "sklearn": sklearn.__version__},
            sort_keys=True,
        ).encode()
    ).hexdigest()
    model.meta = {
        "version": f"{time.strftime('%Y%m%d')}-{fingerprint[:10]}",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "labels": model.labels,
        "params": params.as_dict(),
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "data": {
            "file": Path(data_path).name,
            "file_sha256": hashlib.sha256(Path(data_path).read_bytes()).hexdigest(),
            "training_rows": len(training),
            "feedback_rows": len(extra),
            "validation_rows": len(validation),
            "split": {"validation_share": VALIDATION_SHARE, "random_state": SPLIT_SEED},
            "digest": data_digest,
        },
        "features": model.coef.shape[0],
        "recommended_threshold": recommended,
        "recommended_threshold_rule": (
            f"lowest threshold whose out-of-fold accuracy on the automatic share is ≥ "
            f"{TARGET_ACCURACY:.0%} (training part, 5-fold)"
        ),
        "validation": report,
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    return model


# --- the artefact ---------------------------------------------------------------------------


def save(model: RoutingModel, directory: Path | str) -> Path:
    """Write ``model.joblib`` and ``model.json`` into ``directory``, each replaced atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _atomic_write(directory / MODEL_FILE, lambda f: joblib.dump(model, f, compress=3))
    meta = json.dumps(model.meta, ensure_ascii=False, indent=2).encode()
    _atomic_write(directory / META_FILE, lambda f: f.write(meta))
    return directory / MODEL_FILE


def _atomic_write(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(directory: Path | str) -> RoutingModel:
    path = Path(directory) / MODEL_FILE
    if not path.exists():
        raise ModelMissing(f"分类模型不存在：{path}（请先运行 jiayuan route train）")
    model = joblib.load(path)
    if not isinstance(model, RoutingModel):
        raise RoutingDataError(f"{path} 不是家园的分类模型文件")
    return model


def read_meta(directory: Path | str) -> dict[str, Any] | None:
    path = Path(directory) / META_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
