"""The classifier: text normalisation, training artefact, classify, thresholds, feedback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jiayuan.core.errors import JiayuanError
from jiayuan.routing import classifier, training
from jiayuan.routing.classifier import Suggestion, classify, should_auto_route
from jiayuan.routing.feedback import record_feedback
from jiayuan.routing.metrics import choose_threshold, evaluation_report, threshold_stats
from jiayuan.routing.models import DEFAULT_THRESHOLD, RoutingFeedback, RoutingThreshold
from jiayuan.routing.selectors import feedback_examples, thresholds
from jiayuan.routing.tests.classifier_support import model_copy
from jiayuan.routing.text import normalise, prepare
from jiayuan.tickets.models import Category

NOISE = (
    "某小区楼下烧烤店噪音扰民",
    "每天晚上十点以后楼下烧烤店油烟和噪音严重，影响居民休息，请环保部门处理。",
)


@pytest.fixture
def model_dir(tmp_path: Path, settings: Any) -> Any:
    settings.JIAYUAN_ROUTING_MODEL_DIR = model_copy(tmp_path / "model")
    classifier.reset_model_cache()
    yield settings.JIAYUAN_ROUTING_MODEL_DIR
    classifier.reset_model_cache()


def test_normalise_replaces_masked_places_and_drops_number_masks() -> None:
    assert normalise("西地省A市A2区K8县D10镇") == "某省某市某区某县某镇"
    assert normalise("电话：*****************。联系人朱**") == "电话: 。联系人朱"
    assert normalise("Ａ市的B超室和4S店") == "某市的B超室和4S店"  # full-width letters too
    assert normalise("东三路占道...[查看全文]") == "东三路占道"


def test_prepare_bounds_the_body() -> None:
    title, text = prepare("A市标题", "长" * 10_000)
    assert title == "某市标题"
    assert text.startswith("某市标题 长") and len(text) <= len(title) + 1 + 2000


def test_training_writes_a_versioned_artefact_with_metadata(model_dir: Path) -> None:
    meta = json.loads((model_dir / training.META_FILE).read_text(encoding="utf-8"))
    assert (model_dir / training.MODEL_FILE).stat().st_size > 0
    assert meta["labels"] == list(training.LABELS)
    date, digest = meta["version"].split("-")
    assert len(date) == 8 and len(digest) == 10
    assert meta["sklearn_version"]
    assert meta["data"]["training_rows"] == 336 and meta["data"]["validation_rows"] == 84
    assert 0.5 <= meta["recommended_threshold"] <= 0.99
    assert {"macro_f1", "accuracy", "calibration", "thresholds"} <= set(meta["validation"])
    assert training.load(model_dir).version == meta["version"]


def test_classify_returns_the_top_three_with_probabilities(model_dir: Path, db: Any) -> None:
    found = classify(*NOISE)
    assert len(found) == 3
    assert all(isinstance(s, Suggestion) for s in found)
    probabilities = [s.probability for s in found]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1.0001
    assert len({s.category for s in found}) == 3
    assert {s.category for s in found} <= set(training.LABELS)
    assert classifier.model_version() == classifier.current_model().version


def test_fast_path_probabilities_sum_to_one(model_dir: Path) -> None:
    model = classifier.current_model()
    proba = model.predict_proba([NOISE, ("", ""), ("A市", "*****")])
    assert proba.shape == (3, 7)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


PAIRS = [NOISE, ("", ""), ("A市", "*****"), ("学校  乱收费", "某中学\n\n补课 收费 " * 300)]


def test_single_message_fast_path_agrees_with_the_batch_path(model_dir: Path) -> None:
    model = classifier.current_model()
    batch = model.predict_proba(PAIRS)
    single = np.array([model.predict_one(title, body) for title, body in PAIRS])
    np.testing.assert_allclose(single, batch, atol=1e-5)
    chunked = model.predict_proba(PAIRS * 3, chunk=2)
    np.testing.assert_allclose(chunked, np.vstack([batch] * 3), atol=1e-6)


def test_ngram_blocks_give_sklearns_tfidf_matrix(model_dir: Path) -> None:
    """The integer n-gram lookup is sklearn's char TF-IDF (same vocabulary, same values)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["某小区  噪音\n\n扰民 ABC", "", " ", "𝔘😀中文ＡＢ", "学校乱收费" * 50, NOISE[1]]
    model = classifier.current_model()
    for block in (model.text_block, model.title_block):
        assert block is not None
        reference = TfidfVectorizer(
            analyzer="char",
            ngram_range=(1, block.ngram_max),
            sublinear_tf=True,
            vocabulary=block.vocabulary(),
            dtype=np.float32,
        )
        reference.idf_ = block.idf
        np.testing.assert_allclose(
            block.transform(texts).toarray(), reference.transform(texts).toarray(), atol=1e-6
        )
    assert training.key_gram(training.gram_key("噪音扰")) == "噪音扰"
    assert training.gram_key("a") < training.gram_key("\x00a") < training.gram_key("\x00\x00a")


def test_masked_and_real_place_names_get_the_same_answer(model_dir: Path) -> None:
    masked = classify(
        "A市A3区幸福小区物业不作为", "西地省A市A3区幸福小区电梯坏了三个月，物业不修。"
    )
    real = classify(
        "烟台市芝罘区幸福小区物业不作为", "山东省烟台市芝罘区幸福小区电梯坏了三个月，物业不修。"
    )
    assert masked[0].category == real[0].category


def test_the_model_is_loaded_once_per_process(model_dir: Path) -> None:
    assert classifier.current_model() is classifier.current_model()
    first = classifier.current_model()
    classifier.reset_model_cache()
    assert classifier.current_model() is not first


def test_classify_without_a_model_raises_a_clear_error(tmp_path: Path, settings: Any) -> None:
    settings.JIAYUAN_ROUTING_MODEL_DIR = tmp_path / "none"
    classifier.reset_model_cache()
    with pytest.raises(training.ModelMissing, match="jiayuan route train"):
        classify(*NOISE)
    assert classifier.model_version() == ""


def test_threshold_stats_on_a_known_example() -> None:
    confidence = np.array([0.95, 0.9, 0.8, 0.6, 0.4])
    correct = np.array([True, True, False, True, False])
    assert threshold_stats(correct=correct, confidence=confidence, threshold=0.85) == {
        "threshold": 0.85,
        "auto_rows": 2,
        "auto_share": 0.4,
        "auto_accuracy": 1.0,
    }
    assert threshold_stats(correct=correct, confidence=confidence, threshold=0.6) == {
        "threshold": 0.6,
        "auto_rows": 4,
        "auto_share": 0.8,
        "auto_accuracy": 0.75,
    }
    assert (
        threshold_stats(correct=correct, confidence=confidence, threshold=0.99)["auto_accuracy"]
        is None
    )
    assert choose_threshold(correct=correct, confidence=confidence, target_accuracy=0.98) == 0.81


def test_evaluation_report_on_a_known_example() -> None:
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    report = evaluation_report(
        truth=["甲", "乙", "乙", "乙"],
        proba=proba,
        labels=["甲", "乙"],
        thresholds=[0.75],
        threshold_for=lambda name: 0.5 if name == "甲" else 0.75,
    )
    assert report["accuracy"] == 0.75
    assert report["confusion"]["matrix"] == [[1, 0], [1, 2]]
    assert report["per_category"]["乙"] == {
        "precision": 1.0,
        "recall": 0.6667,
        "f1": 0.8,
        "support": 3,
    }
    assert report["macro_f1"] == round((0.6667 + 0.8) / 2, 4)
    assert report["thresholds"] == [
        {"threshold": 0.75, "auto_rows": 2, "auto_share": 0.5, "auto_accuracy": 1.0}
    ]
    # 甲 at 0.5 takes rows 0 and 2 (one wrong), 乙 at 0.75 takes row 3.
    assert report["configured_threshold"] == {
        "auto_rows": 3,
        "auto_share": 0.75,
        "auto_accuracy": 0.6667,
    }


def test_should_auto_route_uses_the_default_and_per_category_thresholds(db: Any) -> None:
    assert thresholds() == (DEFAULT_THRESHOLD, {})  # the row seeded by migration 0003
    RoutingThreshold.objects.filter(category__isnull=True).update(threshold=0.8)
    RoutingThreshold.objects.create(
        category=Category.objects.get(parent__isnull=True, name="卫生计生"), threshold=0.95
    )
    assert should_auto_route([Suggestion("城乡建设", 0.81), Suggestion("卫生计生", 0.1)])
    assert not should_auto_route([Suggestion("城乡建设", 0.79)])
    assert not should_auto_route([Suggestion("卫生计生", 0.9)])
    assert should_auto_route([Suggestion("卫生计生", 0.95)])
    assert not should_auto_route([])


def test_only_one_default_threshold_row(db: Any) -> None:
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        RoutingThreshold.objects.create(category=None, threshold=0.5)


def test_record_feedback_keeps_the_decision_as_labelled_data(db: Any, world: Any) -> None:
    user = next(iter(world.users.values()))
    row = record_feedback(
        title="A市某路口红绿灯坏了",
        body="路口信号灯不亮，车辆乱行。",
        suggestions=[Suggestion("城乡建设", 0.6), Suggestion("交通运输", 0.3)],
        category="交通运输",
        model_version="20261123-abc",
        user=user,
    )
    assert (row.suggested_category, row.chosen_category, row.is_correction) == (
        "城乡建设",
        "交通运输",
        True,
    )
    assert row.created_by == user and row.model_version == "20261123-abc"
    confirmed = record_feedback(
        title="t",
        body="b",
        suggestions=[{"category": "教育文体", "probability": 0.9}],
        category="教育文体",
    )
    assert not confirmed.is_correction
    assert [e.category for e in feedback_examples()] == ["交通运输", "教育文体"]


def test_record_feedback_refuses_an_unknown_category(db: Any) -> None:
    with pytest.raises(JiayuanError, match="不是一级分类"):
        record_feedback(title="t", body="b", category="不存在的分类")
    assert not RoutingFeedback.objects.exists()


def test_an_artefact_of_the_old_format_counts_as_missing(model_dir: Path) -> None:
    import joblib

    model = training.load(model_dir)
    model.__dict__.pop("text_block")  # what a pickled first-format model looks like
    joblib.dump(model, model_dir / training.MODEL_FILE)
    with pytest.raises(training.ModelMissing, match="格式已过期"):
        training.load(model_dir)


def test_an_artefact_of_the_two_block_format_still_classifies(model_dir: Path) -> None:
    """A model pickled before the dictionary block (no ``word_block``, blocks without
    ``ngram_min``/``hashed``) loads and predicts with its two blocks."""
    import joblib

    model = training.load(model_dir)
    assert model.word_block is not None
    width = model.text_block.width + (model.title_block.width if model.title_block else 0)
    model.coef = model.coef[:width]
    for name in ("word_block",):
        model.__dict__.pop(name)
    for block in (model.text_block, model.title_block):
        assert block is not None
        block.__dict__.pop("ngram_min")
        block.__dict__.pop("hashed")
        block.__dict__.pop("_table", None)
    joblib.dump(model, model_dir / training.MODEL_FILE)
    old = training.load(model_dir)
    assert old.word_block is None and len(old._blocks()) == 2
    np.testing.assert_allclose(old.predict_proba([NOISE]).sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(old.predict_one(*NOISE), old.predict_proba([NOISE])[0], atol=1e-5)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain ascii",
        "，。！？（）：Ａｂ１２　全角",
        "①②㎡℃™½…",  # several characters each
        "e\u0301 and Å composed",  # combining marks
        "한국어 ᄀ\u1161",  # Hangul jamo compose
        "𝔘😀 outside the BMP 中文",
        "\ufb01ne ﬀ ligatures",
    ],
)
def test_nfkc_is_unicodedatas_nfkc(text: str) -> None:
    import unicodedata

    from jiayuan.routing.text import nfkc

    assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_nfkc_agrees_on_every_training_title() -> None:
    import unicodedata

    from jiayuan.routing.text import nfkc

    examples = training.read_examples(training.DATA_PATH)
    assert all(nfkc(e.title) == unicodedata.normalize("NFKC", e.title) for e in examples)


def test_key_table_finds_every_key_and_nothing_else() -> None:
    rng = np.random.default_rng(7)
    keys = np.unique(rng.integers(1, 2**63, 20_000, dtype=np.uint64))
    table = training.KeyTable(keys, np.arange(len(keys), dtype=np.int32))
    # with 20,000 keys some home slots collide: linear probing must still find them
    assert len(np.unique(table._slots(keys))) < len(keys)
    np.testing.assert_array_equal(table.lookup(keys[::-1]), np.arange(len(keys))[::-1])
    others = np.setdiff1d(rng.integers(1, 2**63, 5_000, dtype=np.uint64), keys)
    assert (table.lookup(others) == -1).all()


def _substrings(text: str) -> list[str]:
    text = " ".join(text.lower().split())
    return [text[i : i + n] for n in (2, 3, 4) for i in range(len(text) - n + 1)]


def test_dictionary_block_is_the_tfidf_of_the_dictionary_words_in_the_text() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = ["噪音", "扰民", "烧烤店", "油烟扰民", "物业", "不在文中", "x", "太长的一个词语"]
    texts = ["楼下烧烤店噪音扰民，油烟扰民", "噪音  扰民噪音", "物业不修电梯", "", "Ｘ噪音"]
    block = training.NgramBlock.fit_words(words, texts, min_df=1, max_df=1.0)
    # words missing from every text, and words outside 2–4 characters, are not columns
    keys = np.array([training.gram_key(w, hashed=True) for w in words], dtype=np.uint64)
    vocabulary = dict(zip(words, block.table.lookup(keys).tolist(), strict=True))
    assert vocabulary["不在文中"] == vocabulary["x"] == vocabulary["太长的一个词语"] == -1
    vocabulary = {w: j for w, j in vocabulary.items() if j >= 0}
    assert sorted(vocabulary.values()) == list(range(block.width)) == list(range(5))
    reference = TfidfVectorizer(
        analyzer=lambda t: [g for g in _substrings(t) if g in vocabulary], sublinear_tf=True
    ).fit(texts)
    assert set(reference.vocabulary_) == set(vocabulary)
    order = [reference.vocabulary_[w] for w in sorted(vocabulary, key=lambda w: vocabulary[w])]
    np.testing.assert_allclose(block.idf, reference.idf_[order], rtol=1e-6)
    np.testing.assert_allclose(
        block.transform(texts).toarray(), reference.transform(texts).toarray()[:, order], atol=1e-6
    )
    # the min_df filter: a word in one text only is dropped at min_df=2
    pruned = training.NgramBlock.fit_words(words, texts, min_df=2, max_df=1.0)
    assert pruned.width == 2  # 噪音 (three texts), 扰民 (two)


def test_the_shipped_blocks_include_dictionary_words(model_dir: Path) -> None:
    model = classifier.current_model()
    assert model.word_block is not None and model.word_block.hashed
    widths = sum(block.width for block, _ in model._blocks())
    assert model.coef.shape == (widths, 7)
    hits = model.word_block.transform(["某小区楼下烧烤店噪音扰民"])
    assert hits.nnz > 0
