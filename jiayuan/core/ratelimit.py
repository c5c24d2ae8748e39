"""Rate limits (限流) for pages anyone can reach without logging in.

A fixed window per (client address, bucket) counted in Django's cache: the first hit of a
window creates the counter with ``cache.add`` and every hit increments it atomically
(``cache.incr`` is atomic on Redis and on the local-memory cache). Over the limit the caller
answers 429; nothing accepted earlier is touched.

The numbers are configuration: ``JIAYUAN_RATE_LIMITS = {"report": (10, 600), ...}`` in settings
overrides the defaults below (count, window in seconds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from jiayuan.core.errors import JiayuanError
from jiayuan.core.masking import client_ip

DEFAULT_LIMITS: dict[str, tuple[int, int]] = {
    # Resident reports (扫码反映 / 网上反映): 10 per address per 10 minutes.
    "report": (10, 600),
    # Follow-up lookups by number + phone (查询办理进度): bounds guessing of phone numbers.
    "track": (20, 600),
}


class RateLimited(JiayuanError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str = "操作过于频繁，请稍后再试", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


@dataclass(frozen=True)
class Limit:
    count: int
    window: int  # seconds


def limit_for(bucket: str) -> Limit:
    configured = getattr(settings, "JIAYUAN_RATE_LIMITS", {}) or {}
    count, window = configured.get(bucket) or DEFAULT_LIMITS[bucket]
    return Limit(int(count), int(window))


def hit(*, bucket: str, ident: str, now: float | None = None) -> bool:
    """Count one hit of ``ident`` in ``bucket``; True while the window's count is within the
    limit, False once it is exceeded."""
    limit = limit_for(bucket)
    now = time.time() if now is None else now
    window_no = int(now // limit.window)
    key = f"jiayuan:rl:{bucket}:{ident}:{window_no}"
    cache.add(key, 0, timeout=limit.window + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: start again
        cache.add(key, 1, timeout=limit.window + 5)
        count = 1
    return count <= limit.count


def check(request: Any, bucket: str) -> None:
    """Count this request against ``bucket`` for its client address; raise ``RateLimited``."""
    ident = client_ip(request) or "unknown"
    if not hit(bucket=bucket, ident=ident):
        limit = limit_for(bucket)
        minutes = max(1, limit.window // 60)
        raise RateLimited(f"操作过于频繁：每 {minutes} 分钟最多 {limit.count} 次，请稍后再试")
