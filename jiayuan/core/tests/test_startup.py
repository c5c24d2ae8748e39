"""``prepare_process()``: what a server process does once before its first request."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from jiayuan.core import startup


@pytest.fixture
def clean_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_the_heap_is_frozen_and_young_objects_collected_less_often(
    clean_gc: None, monkeypatch: Any
) -> None:
    monkeypatch.delenv("JIAYUAN_GC_FREEZE", raising=False)
    monkeypatch.setenv("JIAYUAN_GC_GEN0", "12345")
    gc.unfreeze()
    startup.prepare_process()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == 12345


def test_it_can_be_turned_off_and_a_missing_model_is_no_error(
    clean_gc: None, monkeypatch: Any, settings: Any, tmp_path: Any
) -> None:
    from jiayuan.routing.classifier import reset_model_cache

    settings.JIAYUAN_ROUTING_MODEL_DIR = str(tmp_path / "none")
    reset_model_cache()
    monkeypatch.setenv("JIAYUAN_GC_FREEZE", "0")
    gc.unfreeze()
    before = gc.get_threshold()
    startup.prepare_process()
    reset_model_cache()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
