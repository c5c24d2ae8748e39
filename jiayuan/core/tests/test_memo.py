"""The per-process memo: kept until a watched row changes, another process says so, or it ages."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from jiayuan.core.memo import Memo
from jiayuan.open311.models import ApiKey

pytestmark = pytest.mark.django_db


class Loader:
    def __init__(self, value: Any) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.value


def test_a_value_is_loaded_once_until_a_watched_model_changes() -> None:
    memo: Memo[Any] = Memo("test-watch", max_age=60, watch=[ApiKey])
    load = Loader("v1")
    assert memo.get("k", load) == "v1" and memo.get("k", load) == "v1"
    assert load.calls == 1
    ApiKey.objects.create(name="x", prefix="p", key_hash="h" * 64)
    load.value = "v2"
    assert memo.get("k", load) == "v2" and load.calls == 2


def test_another_process_moving_the_generation_drops_the_values() -> None:
    memo: Memo[Any] = Memo("test-generation", max_age=60)
    load = Loader(1)
    memo.get("k", load)
    cache.set(memo.generation_key, "from-another-process")
    memo.get("k", load)
    assert load.calls == 2


def test_check_every_reads_the_generation_at_most_that_often(monkeypatch: Any) -> None:
    import jiayuan.core.memo as memo_module

    clock = [1000.0]
    monkeypatch.setattr(memo_module.time, "monotonic", lambda: clock[0])
    memo: Memo[Any] = Memo("test-check-every", max_age=60, check_every=1.0)
    load = Loader(1)
    memo.get("k", load)
    cache.set(memo.generation_key, "from-another-process")
    clock[0] += 0.5
    memo.get("k", load)
    assert load.calls == 1  # not read again yet: the old value stands for under a second
    clock[0] += 0.6
    memo.get("k", load)
    assert load.calls == 2  # read after a second: the other process's change is seen
    memo.get("k", load)
    assert load.calls == 2


def test_values_age_out_and_misses_are_not_kept() -> None:
    memo: Memo[Any] = Memo("test-age", max_age=0)
    load = Loader(1)
    memo.get("k", load)
    memo.get("k", load)
    assert load.calls == 2  # max_age 0: every call reloads
    keep: Memo[Any] = Memo("test-miss", max_age=60)
    miss = Loader(None)
    assert keep.get("guess", miss) is None and keep.get("guess", miss) is None
    assert miss.calls == 2


def test_a_revoked_open311_key_is_refused_at_once(client: Any, world: Any) -> None:
    from jiayuan.open311.services import apikey_create

    key, raw = apikey_create(name="撤销测试")
    form = {"api_key": raw, "service_code": "garbage", "description": "x", "phone": "139"}
    form.update(lat="37.5452", long="121.4031")
    assert client.post("/open311/v2/requests.json", form).status_code == 200
    key.is_active = False
    key.save()
    assert client.post("/open311/v2/requests.json", form).status_code == 403
