"""Fixtures of the routing tests: per-process caches reset around each test, and a fake
classifier whose answer each test sets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class FakeSuggestion:
    category: str
    probability: float


class FakeClassifier:
    """Answers what the test set: ``answer`` (name, probability) pairs, sure from ``sure_at``."""

    def __init__(self) -> None:
        self.answer: list[tuple[str, float]] = [("城乡建设", 0.97), ("环境保护", 0.02)]
        self.sure_at = 0.9
        self.version = "fake-1"
        self.fail = False

    def classify(self, title: str, body: str) -> list[FakeSuggestion]:
        if self.fail:
            raise FileNotFoundError("no model")
        return [FakeSuggestion(name, p) for name, p in self.answer][:3]

    def should_auto_route(self, suggestions: list[Any]) -> bool:
        return bool(suggestions) and suggestions[0].probability >= self.sure_at

    def model_version(self) -> str:
        return self.version


@pytest.fixture(autouse=True)
def _routing_caches() -> Iterator[None]:
    """Rules, categories and the address index are cached per process; a rolled-back test must
    leave nothing behind for the next one (in this app or another)."""
    from jiayuan.routing import dispatch, locate, rules

    rules.reload()
    dispatch._drop_categories()
    dispatch._drop_chains()
    locate.invalidate()
    yield
    dispatch.use_classifier(None)
    rules.reload()
    dispatch._drop_categories()
    dispatch._drop_chains()
    locate.invalidate()


@pytest.fixture
def fake_classifier() -> Iterator[FakeClassifier]:
    from jiayuan.routing import dispatch

    fake = FakeClassifier()
    dispatch.use_classifier(fake)
    yield fake
    dispatch.use_classifier(None)
