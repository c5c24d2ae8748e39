"""Training the category classifier (诉求分类模型) and its artefact.

The model: character 1–3-gram TF-IDF of the title and, separately, of title + body (both
normalised, see ``text.py``), a third TF-IDF block of the dictionary words (词典词) found in title
+ body (every substring of 2–4 characters that is a word of jieba's dictionary: word features
without segmenting), one linear SVM over the three (balanced class weights), and one isotonic
calibrator per category fitted on 5-fold out-of-fold SVM scores, so that predicted probabilities
mean what they say. docs/routing.md has the measured steps that led here.

After fitting, each TF-IDF block is kept as arrays (``NgramBlock``): every n-gram is a 64-bit
integer (21 bits per code point; in the dictionary block, whose words reach 4 characters, a
polynomial hash), the vocabulary an array of them and, built when the model is loaded, an
open-addressing hash table. Prediction then finds the n-grams of any number of messages with a
few numpy operations instead of sklearn's per-n-gram Python loop: one message in well under a
millisecond, 65,000 in seconds, and no 300,000-entry string dictionary in memory.

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
# Per-category thresholds (分类阈值) are learned for a little more than the promised 98%: on the
# out-of-fold predictions they are chosen from, an exact optimum overstates what new messages get.
CATEGORY_TARGET_ACCURACY = 0.983
# The cut-offs a per-category threshold is chosen from (the global rule's grid, plus 1.0: "route
# only what the model is certain of").
THRESHOLD_GRID = tuple(round(0.5 + i / 100, 2) for i in range(51))
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
    dictionary: bool = True  # a third block: jieba-dictionary words (2–4 characters) in the text
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


CODE_BITS = 21  # every Unicode code point (< 0x110000) + 1 fits in 21 bits
MAX_NGRAM = 3  # three code points per exact 64-bit key
# Keys of longer n-grams (the dictionary block's 4-character words) are a polynomial hash mod 2^64
# with this odd multiplier (the 64-bit FNV prime): a chance collision with one of ~50,000
# vocabulary keys is about 1 in 10^14 per n-gram looked up.
HASH_MULTIPLIER = np.uint64(0x100000001B3)
# The lookup table's slot of a key: Fibonacci hashing (the key times 2^64/φ, top bits).
SLOT_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
DICTIONARY_WORD_LENGTHS = (2, 4)  # shortest and longest dictionary word looked up


def _codes(text: str) -> np.ndarray:
    """Code point + 1 of every character (so that no n-gram's key is 0 or collides with a
    shorter one: a key's highest non-zero 21-bit group tells its length)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + 1


def gram_key(gram: str, *, hashed: bool = False) -> int:
    """The 64-bit key of one n-gram (exact for n ≤ 3; ``hashed``: the polynomial hash)."""
    key = 0
    for char in gram:
        if hashed:
            key = (key * int(HASH_MULTIPLIER) + ord(char) + 1) % (1 << 64)
        else:
            key = (key << CODE_BITS) | (ord(char) + 1)
    return key


def key_gram(key: int) -> str:
    """The n-gram of an exact key (inverse of ``gram_key``)."""
    chars = []
    while key:
        chars.append(chr((key & ((1 << CODE_BITS) - 1)) - 1))
        key >>= CODE_BITS
    return "".join(reversed(chars))


Encoded = tuple[np.ndarray, np.ndarray]  # (code + 1 of every character, where each text ends)


def encode(texts: Sequence[str]) -> Encoded:
    """The texts as sklearn's char analyzer reads them (lower case, whitespace runs collapsed),
    concatenated as code points + 1, and the end offset of each text."""
    texts = [WHITESPACE_RUNS.sub(" ", t.lower()) for t in texts]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    return _codes("".join(texts)), np.cumsum(lengths)


class KeyTable:
    """An open-addressing hash table (linear probing) from n-gram key to column, as two arrays.

    Looking up a million keys is a few gathers (about 1.3 probes a key at this load), four to
    five times faster than ``searchsorted`` over the sorted keys."""

    def __init__(self, keys: np.ndarray, columns: np.ndarray) -> None:
        bits = max(10, int(np.ceil(np.log2(max(len(keys), 1) * 3))))  # load factor ≤ 1/3
        self.mask = (1 << bits) - 1
        self.shift = np.uint64(64 - bits)
        self.keys = np.zeros(1 << bits, dtype=np.uint64)  # 0: empty (no n-gram's key is 0)
        self.columns = np.full(1 << bits, -1, dtype=np.int32)
        keys = np.asarray(keys, dtype=np.uint64)
        pending = np.flatnonzero(keys != 0)
        slot = self._slots(keys)
        while pending.size:
            at = slot[pending]
            free = self.keys[at] == 0
            taken_slots, first = np.unique(at[free], return_index=True)
            winners = pending[free][first]
            self.keys[taken_slots] = keys[winners]
            self.columns[taken_slots] = columns[winners]
            placed = np.zeros(len(keys), dtype=bool)
            placed[winners] = True
            pending = pending[~placed[pending]]
            slot[pending] = (slot[pending] + 1) & self.mask

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * SLOT_MULTIPLIER) >> self.shift).astype(np.int64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The column of every key, -1 where it is not in the table."""
        keys = np.asarray(keys, dtype=np.uint64)
        slot = self._slots(keys)
        stored = self.keys[slot]
        hit = stored == keys
        found = np.where(hit, self.columns[slot], -1)
        # the few keys whose home slot holds another key probe on
        pending = np.flatnonzero((stored != 0) & ~hit)
        slot = slot[pending]
        while pending.size:
            slot = (slot + 1) & self.mask
            stored = self.keys[slot]
            hit = stored == keys[pending]
            found[pending[hit]] = self.columns[slot[hit]]
            more = (stored != 0) & ~hit
            pending, slot = pending[more], slot[more]
        return found


@dataclass
class NgramBlock:
    """A fitted character n-gram TF-IDF block as arrays: n-gram keys, their columns, the IDF
    weights. ``transform`` gives exactly sklearn's ``TfidfVectorizer(analyzer="char",
    sublinear_tf=True, lowercase=True)`` matrix (whitespace runs collapsed, L2-normalised) for a
    vocabulary of ``ngram_min``–``ngram_max``-grams; ``hashed`` keys allow n > 3."""

    ngram_max: int
    keys: np.ndarray  # uint64, sorted
    columns: np.ndarray  # int32: the column of keys[i]
    idf: np.ndarray  # float32, per column
    ngram_min: int = 1
    hashed: bool = False

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_table", None)  # derived: rebuilt on first use after loading
        return state

    @classmethod
    def from_vectorizer(cls, vectorizer: TfidfVectorizer) -> NgramBlock:
        low, high = vectorizer.ngram_range
        if vectorizer.analyzer != "char" or low != 1 or high > MAX_NGRAM:
            raise ValueError("NgramBlock needs char 1–3-grams")
        grams = sorted(vectorizer.vocabulary_.items())
        keys = np.fromiter((gram_key(g) for g, _ in grams), dtype=np.uint64, count=len(grams))
        columns = np.fromiter((j for _, j in grams), dtype=np.int32, count=len(grams))
        return cls.of(keys, columns, np.asarray(vectorizer.idf_, dtype=np.float32), ngram_max=high)

    @classmethod
    def of(
        cls,
        keys: np.ndarray,
        columns: np.ndarray,
        idf: np.ndarray,
        *,
        ngram_max: int,
        ngram_min: int = 1,
        hashed: bool = False,
    ) -> NgramBlock:
        order = np.argsort(keys, kind="stable")
        return cls(
            ngram_max=ngram_max,
            keys=np.ascontiguousarray(keys[order], dtype=np.uint64),
            columns=np.ascontiguousarray(columns[order], dtype=np.int32),
            idf=np.asarray(idf, dtype=np.float32),
            ngram_min=ngram_min,
            hashed=hashed,
        )

    @classmethod
    def fit_words(
        cls, words: Iterable[str], texts: Sequence[str], *, min_df: int, max_df: float
    ) -> NgramBlock:
        """A block of the ``words`` (2–4 characters) that occur in ``texts`` as substrings, with
        the ``min_df``/``max_df`` filter and smoothed IDF of sklearn's vectorizer."""
        low, high = DICTIONARY_WORD_LENGTHS
        unique = sorted({w.lower() for w in words if low <= len(w) <= high})
        keys = np.fromiter((gram_key(w, hashed=True) for w in unique), np.uint64, len(unique))
        keys = np.unique(keys)
        everything = cls.of(
            keys,
            np.arange(len(keys), dtype=np.int32),
            np.ones(len(keys), dtype=np.float32),
            ngram_max=high,
            ngram_min=low,
            hashed=True,
        )
        rows, cols = everything.hits(texts)
        seen = np.unique(rows.astype(np.int64) * len(keys) + cols) % len(keys)
        df = np.bincount(seen, minlength=len(keys))
        kept = np.flatnonzero((df >= min_df) & (df <= max_df * len(texts)))
        n = len(texts)
        idf = np.log((1 + n) / (1 + df[kept])) + 1.0
        return cls.of(
            keys[kept],
            np.arange(len(kept), dtype=np.int32),
            idf.astype(np.float32),
            ngram_max=high,
            ngram_min=low,
            hashed=True,
        )

    @property
    def width(self) -> int:
        return len(self.idf)

    @property
    def table(self) -> KeyTable:
        table = self.__dict__.get("_table")
        if table is None:
            table = self.__dict__["_table"] = KeyTable(self.keys, self.columns)
        return table

    def vocabulary(self) -> dict[str, int]:
        """n-gram → column (for comparing with sklearn in tests; exact keys only)."""
        return {key_gram(int(k)): int(j) for k, j in zip(self.keys, self.columns, strict=True)}

    def hits(
        self, texts: Sequence[str], encoded: Encoded | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of every in-vocabulary n-gram occurrence of ``texts`` (``encoded``:
        their ``encode``, when the caller has it already)."""
        codes, ends = encoded or encode(texts)
        # the keys of every n (n-gram i starts at character i), looked up in one call
        keys: list[np.ndarray] = []
        key = codes
        for n in range(1, self.ngram_max + 1):
            if n > 1:
                if self.hashed:
                    key = key[:-1] * HASH_MULTIPLIER + codes[n - 1 :]
                else:
                    key = (key[:-1] << np.uint64(CODE_BITS)) | codes[n - 1 :]
            if n >= self.ngram_min:
                keys.append(key)
        if not keys or not len(codes):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        column = self.table.lookup(np.concatenate(keys))
        found = np.flatnonzero(column >= 0)
        if len(texts) == 1:  # one message: every key lies inside it
            return np.zeros(len(found), dtype=np.int64), column[found]
        # the start and length of each found n-gram; one that runs into the next message is
        # dropped (it would start within the last n - 1 characters of its own)
        sizes = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
        bounds = np.cumsum(sizes)
        part = np.searchsorted(bounds, found, side="right")
        start = found - (bounds - sizes)[part]
        length = part + self.ngram_min
        row = np.searchsorted(ends, start, side="right")
        inside = start + length <= ends[np.minimum(row, len(ends) - 1)]
        return row[inside], column[found[inside]]

    def transform(self, texts: Sequence[str], encoded: Encoded | None = None) -> sp.csr_matrix:
        rows, cols = self.hits(texts, encoded)
        counts = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(texts), self.width),
        )
        counts.sum_duplicates()
        counts.data = (np.log(counts.data) + 1.0) * self.idf[counts.indices]
        if counts.nnz:
            lengths = np.diff(counts.indptr)
            starts = counts.indptr[:-1][lengths > 0]
            norms = np.zeros(len(texts))
            norms[lengths > 0] = np.sqrt(np.add.reduceat(counts.data**2, starts))
            scale = np.repeat(np.where(norms > 0, 1.0 / np.maximum(norms, 1e-30), 0.0), lengths)
            counts.data = (counts.data * scale).astype(np.float32)
        return counts

    def score_one(
        self, text: str, coef: np.ndarray, offset: int, encoded: Encoded | None = None
    ) -> np.ndarray:
        """The linear scores of one text's block (no sparse matrix: a few hundred hits)."""
        _, cols = self.hits([text], encoded)
        if not len(cols):
            return np.zeros(coef.shape[1])
        columns, tf = np.unique(cols, return_counts=True)
        values = (np.log(tf) + 1.0) * self.idf[columns]
        values /= np.sqrt(values @ values)
        # float32 like the batch path (sparse float32 features times float32 weights)
        return (values.astype(np.float32) @ coef[offset + columns]).astype(np.float64)


@dataclass
class RoutingModel:
    """A trained classifier: n-gram blocks, one linear score per category, isotonic calibrators.

    ``predict_proba`` is an n-gram lookup, a sparse product and ``np.interp``, with no per-call
    estimator overhead."""

    labels: list[str]
    params: Params
    title_block: NgramBlock | None
    text_block: NgramBlock
    coef: np.ndarray  # (features, categories), float32
    intercept: np.ndarray  # (categories,)
    calib_x: list[np.ndarray]  # per category: isotonic thresholds on the SVM score …
    calib_y: list[np.ndarray]  # … and the calibrated probabilities there
    sigmoid_ab: np.ndarray | None = None  # (categories, 2) when calibration == "sigmoid"
    meta: dict[str, Any] = field(default_factory=dict)
    word_block: NgramBlock | None = None  # dictionary words of title + body (params.dictionary)

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unversioned"))

    def _views(self, pairs: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
        return _views(self.params, pairs)

    def _blocks(self) -> list[tuple[NgramBlock, int]]:
        """(block, which view: 0 title, 1 title + body), in column order."""
        blocks = [(self.text_block, 1)]
        if self.title_block is not None:
            blocks.append((self.title_block, 0))
        if self.word_block is not None:
            blocks.append((self.word_block, 1))
        return blocks

    def warm(self) -> RoutingModel:
        """Build the blocks' lookup tables now (not on the first message); returns self."""
        for block, _ in self._blocks():
            block.table  # noqa: B018 (built on first access)
        return self

    def features(self, pairs: Sequence[tuple[str, str]]) -> sp.csr_matrix:
        views = self._views(pairs)
        encoded = [encode(views[0]), encode(views[1])]  # each view is encoded once
        blocks = [block.transform(views[v], encoded[v]) for block, v in self._blocks()]
        return sp.hstack(blocks, format="csr") if len(blocks) > 1 else blocks[0]

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
        return _sum_to_one(proba)

    def predict_proba(self, pairs: Sequence[tuple[str, str]], *, chunk: int = 5000) -> np.ndarray:
        """Probabilities (rows × labels); large inputs are processed ``chunk`` rows at a time."""
        pairs = list(pairs)
        if len(pairs) <= chunk:
            return self.calibrate(self.scores(pairs))
        return np.vstack(
            [self.calibrate(self.scores(pairs[i : i + chunk])) for i in range(0, len(pairs), chunk)]
        )

    def predict_one(self, title: str, body: str) -> np.ndarray:
        """``predict_proba`` of one message without building a sparse matrix."""
        views = self._views([(title, body)])
        encoded = [encode(views[0]), encode(views[1])]
        score = self.intercept.copy()
        offset = 0
        for block, view in self._blocks():
            score += block.score_one(views[view][0], self.coef, offset, encoded[view])
            offset += block.width
        return self.calibrate(score[None, :])[0]


def _sum_to_one(proba: np.ndarray) -> np.ndarray:
    """One-vs-rest probabilities normalised per row (uniform where all are 0)."""
    total = proba.sum(axis=1, keepdims=True)
    uniform = np.full_like(proba, 1.0 / proba.shape[1])
    return np.where(total > 0, proba / np.where(total > 0, total, 1.0), uniform)


def _views(params: Params, pairs: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(titles, title + body texts) as the model reads them."""
    if params.normalise:
        prepared = [prepare(t, b) for t, b in pairs]
    else:
        prepared = [(t or "", f"{t or ''} {b or ''}") for t, b in pairs]
    return [p[0] for p in prepared], [p[1] for p in prepared]


def dictionary_words() -> list[str]:
    """The words of jieba's main dictionary (``dict.txt``, about 350,000 words with their
    frequencies); only the words are used, the segmenter is not."""
    import jieba

    path = Path(jieba.__file__).resolve().parent / "dict.txt"
    with path.open(encoding="utf-8") as lines:
        return [line.split(" ", 1)[0] for line in lines if line.strip()]


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


def _platt(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """Platt scaling: p = 1 / (1 + exp(a·score + b)), fitted by logistic regression."""
    lr = LogisticRegression(C=1e6).fit(scores.reshape(-1, 1), positive.astype(int))
    return -float(lr.coef_[0, 0]), -float(lr.intercept_[0])


def _svm(params: Params) -> LinearSVC:
    # A fixed random_state: the dual solver shuffles, and the same data should give the same model.
    return LinearSVC(C=params.C, class_weight=params.class_weight, random_state=SPLIT_SEED)


def fit(examples: Sequence[Example], params: Params | None = None) -> RoutingModel:
    """Fit a model on ``examples`` (all of them: the caller keeps validation rows out)."""
    params = params or Params()
    labels = [name for name in LABELS if any(e.category == name for e in examples)]
    labels += sorted({e.category for e in examples} - set(labels))
    index = {name: i for i, name in enumerate(labels)}
    y = np.array([index[e.category] for e in examples])
    titles, texts = _views(params, [(e.title, e.body) for e in examples])
    text_vectorizer = _char_vectorizer(params)
    blocks = [text_vectorizer.fit_transform(texts)]
    title_block = None
    if params.title_view:
        title_vectorizer = _char_vectorizer(params)
        blocks.append(title_vectorizer.fit_transform(titles))
        title_block = NgramBlock.from_vectorizer(title_vectorizer)
    word_block = None
    if params.dictionary:
        word_block = NgramBlock.fit_words(
            dictionary_words(), texts, min_df=params.min_df, max_df=params.max_df
        )
        blocks.append(word_block.transform(texts))
    X = sp.hstack(blocks, format="csr") if len(blocks) > 1 else blocks[0].tocsr()
    shell = RoutingModel(
        labels=labels,
        params=params,
        title_block=title_block,
        text_block=NgramBlock.from_vectorizer(text_vectorizer),
        coef=np.zeros((0, 0)),
        intercept=np.zeros(0),
        calib_x=[],
        calib_y=[],
        word_block=word_block,
    )

    # Out-of-fold scores train the calibrators; the final SVM sees every row.
    folds = StratifiedKFold(n_splits=params.folds, shuffle=True, random_state=SPLIT_SEED)
    splits = list(folds.split(X, y))
    oof = cross_val_predict(_svm(params), X, y, cv=splits, method="decision_function")
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
    crossfit = _crossfit_proba(oof, y, splits, params.calibration)
    shell.meta["oof"] = {
        "correct": (oof_proba.argmax(axis=1) == y),
        "confidence": oof_proba.max(axis=1),
        # calibrated by calibrators that did not see the row either (per-category thresholds)
        "crossfit_predicted": crossfit.argmax(axis=1),
        "crossfit_correct": crossfit.argmax(axis=1) == y,
        "crossfit_confidence": crossfit.max(axis=1),
    }
    return shell


def _crossfit_proba(
    oof: np.ndarray, y: np.ndarray, splits: Sequence[tuple[np.ndarray, np.ndarray]], method: str
) -> np.ndarray:
    """Probabilities of out-of-fold scores whose calibrators were fitted on the other folds'
    out-of-fold scores only: fully out-of-sample, unlike ``calibrate(oof)`` (whose isotonic fit
    saw each row's own score, which flatters the confident end)."""
    proba = np.zeros_like(oof, dtype=np.float64)
    for train_rows, test_rows in splits:
        for j in range(oof.shape[1]):
            target = (y[train_rows] == j).astype(float)
            if method == "sigmoid":
                a, b = _platt(oof[train_rows, j], target)
                proba[test_rows, j] = 1.0 / (1.0 + np.exp(a * oof[test_rows, j] + b))
            else:
                iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
                iso.fit(oof[train_rows, j], target)
                proba[test_rows, j] = iso.predict(oof[test_rows, j])
    return _sum_to_one(proba)


def learn_category_thresholds(
    *,
    predicted: Sequence[str],
    confidence: np.ndarray,
    correct: np.ndarray,
    target_accuracy: float = CATEGORY_TARGET_ACCURACY,
    grid: Sequence[float] = THRESHOLD_GRID,
) -> dict[str, float]:
    """One threshold per predicted category (分类阈值) that together route the most rows
    automatically while the routed rows stay at least ``target_accuracy`` accurate overall.

    ``predicted``/``confidence``/``correct``: the top category, its probability and whether it
    was right, per row (out-of-fold predictions). Each category's threshold is one of ``grid``;
    the best combination is found exactly by dynamic programming over the number of wrongly
    routed rows (for each error count, the most rows routed). Among cut-offs that route the same
    rows of a category the highest is kept (the least optimistic for new messages). A category
    that cannot route anything within the target gets the highest cut-off of ``grid``."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    names = list(dict.fromkeys(predicted))
    predicted_arr = np.asarray(list(predicted), dtype=object)
    cutoffs = sorted(grid, reverse=True)
    # per category: (cut-off, rows routed, wrong among them), highest cut-off first, one per
    # distinct set of routed rows
    options: dict[str, list[tuple[float, int, int]]] = {}
    for name in names:
        mine = predicted_arr == name
        seen: list[tuple[float, int, int]] = []
        for t in cutoffs:
            routed = mine & (confidence >= t)
            n, wrong = int(routed.sum()), int((routed & ~correct).sum())
            if not seen or seen[-1][1] != n:
                seen.append((t, n, wrong))
        options[name] = seen
    # best[wrong] = (routed, cut-offs so far): the most rows routed with exactly ``wrong`` errors
    best: dict[int, tuple[int, tuple[float, ...]]] = {0: (0, ())}
    for name in names:
        step: dict[int, tuple[int, tuple[float, ...]]] = {}
        for wrong0, (n0, chosen) in best.items():
            for t, n, wrong in options[name]:
                key, total = wrong0 + wrong, n0 + n
                if key not in step or step[key][0] < total:
                    step[key] = (total, (*chosen, t))
        best = step
    feasible = [
        (n, -wrong, chosen)
        for wrong, (n, chosen) in best.items()
        if n > 0 and n - wrong >= target_accuracy * n - 1e-9
    ]
    if not feasible:
        return dict.fromkeys(names, float(cutoffs[0]))
    _, _, chosen = max(feasible)
    return {name: float(t) for name, t in zip(names, chosen, strict=True)}


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
    learned = learn_category_thresholds(
        predicted=[model.labels[i] for i in oof["crossfit_predicted"]],
        confidence=oof["crossfit_confidence"],
        correct=oof["crossfit_correct"],
    )
    proba = model.predict_proba([(e.title, e.body) for e in validation])
    report = evaluation_report(
        truth=[e.category for e in validation],
        proba=proba,
        labels=model.labels,
        thresholds=sorted({recommended, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95}),
    )
    report["thresholds"].append(
        category_policy_stats(
            truth=[e.category for e in validation],
            proba=proba,
            labels=model.labels,
            per_category=learned,
            default=recommended,
        )
    )
    oof_predicted = [model.labels[i] for i in oof["crossfit_predicted"]]
    oof_routed = oof["crossfit_confidence"] >= np.array(
        [learned.get(name, recommended) for name in oof_predicted]
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
        "category_thresholds": {
            "thresholds": learned,
            "target_accuracy": CATEGORY_TARGET_ACCURACY,
            "rule": (
                "per predicted category, the cut-offs (0.50–1.00, step 0.01) that together route "
                f"the most out-of-fold rows of the training part with ≥ "
                f"{CATEGORY_TARGET_ACCURACY:.1%} accuracy (5-fold, cross-fitted calibration)"
            ),
            "out_of_fold": {
                "auto_rows": int(oof_routed.sum()),
                "auto_share": round(float(oof_routed.mean()), 4),
                "auto_accuracy": (
                    round(float(oof["crossfit_correct"][oof_routed].mean()), 4)
                    if oof_routed.any()
                    else None
                ),
            },
        },
        "validation": report,
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    return model


def category_policy_stats(
    *,
    truth: Sequence[str],
    proba: np.ndarray,
    labels: Sequence[str],
    per_category: dict[str, float],
    default: float,
    policy: str = "learned_per_category",
) -> dict[str, Any]:
    """自动派单 under one threshold per predicted category (``default`` for the others): the
    entry ``route evaluate`` and the training metadata add to their ``thresholds`` list."""
    stats = evaluation_report(
        truth=truth,
        proba=proba,
        labels=labels,
        thresholds=(),
        threshold_for=lambda name: per_category.get(name, default),
    ).get("configured_threshold", {"auto_rows": 0, "auto_share": 0.0, "auto_accuracy": None})
    return {
        "policy": policy,
        "per_category": {name: per_category.get(name, default) for name in labels},
        "default": default,
        **stats,
    }


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
    if not isinstance(getattr(model, "text_block", None), NgramBlock):
        # An artefact of the first model (sklearn vectorizers): treated as no model, so intake
        # routes without the classifier and ``route train --if-missing`` replaces it.
        raise ModelMissing(f"分类模型格式已过期：{path}（请重新运行 jiayuan route train）")
    return model.warm()


def read_meta(directory: Path | str) -> dict[str, Any] | None:
    path = Path(directory) / META_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
