"""Per-process memo of rows that rarely change (Open311 services, API keys), so a busy intake
endpoint does not query them on every request.

Each process keeps its own dict. It is dropped when this process saves or deletes a watched model
(signals), when the shared cache's generation for the memo moves (another process did; shared
between processes only with Redis), and after ``max_age`` seconds at the latest (edits that send no
signal, other processes without Redis). So an edit takes effect at once in the process that made
it and within ``max_age`` everywhere else.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save

T = TypeVar("T")
_MISSING = object()
_ALL: list[Memo[Any]] = []


def clear_all_local() -> None:
    """Forget every memo's values in this process (tests)."""
    for memo in _ALL:
        memo.clear_local()


class Memo(Generic[T]):
    def __init__(
        self,
        name: str,
        *,
        max_age: float,
        watch: Iterable[type[Any]] = (),
        check_every: float = 0.0,
        max_size: int | None = None,
    ) -> None:
        self.generation_key = f"memo:{name}:generation"
        self.max_age = max_age
        # How often the shared generation is read: 0 reads it on every get. A hot path sets a
        # second or so, so that it costs one cache round trip a second rather than one a call;
        # another process's edit then shows here within that time (this process's own edits
        # still at once, by the signals).
        self.check_every = check_every
        # A memo keyed by something numerous (buildings) starts afresh when it reaches this.
        self.max_size = max_size
        self._checked = float("-inf")
        self._values: dict[Any, T] = {}
        self._generation: Any = None
        self._born = time.monotonic()
        self._lock = threading.Lock()
        _ALL.append(self)
        for model in watch:
            post_save.connect(self._changed, sender=model, weak=False)
            post_delete.connect(self._changed, sender=model, weak=False)

    def _changed(self, **kwargs: Any) -> None:
        self.invalidate()

    def invalidate(self) -> None:
        """Forget everything here and tell the other processes (through the cache)."""
        with self._lock:
            self._values = {}
        cache.set(self.generation_key, secrets.token_hex(8), None)

    def clear_local(self) -> None:
        """Forget this process's values only (tests)."""
        with self._lock:
            self._values = {}
            self._generation = None
            self._checked = float("-inf")

    def get(self, key: Any, load: Callable[[], T]) -> T:
        now = time.monotonic()
        if now - self._checked >= self.check_every:
            generation = cache.get(self.generation_key)
            self._checked = now
        else:
            generation = self._generation
        with self._lock:
            if generation != self._generation or now - self._born > self.max_age:
                self._values = {}
                self._generation = generation
                self._born = now
            value = self._values.get(key, _MISSING)
        if value is _MISSING:
            value = load()
            if value is not None:  # misses are not kept: guesses cannot fill the memo
                with self._lock:
                    if self.max_size is not None and len(self._values) >= self.max_size:
                        self._values = {}
                    self._values[key] = value
        return value  # type: ignore[return-value]
