"""When a credential (an API token, an Open311 key) was last used (最近使用时间)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q

LAST_USED_EVERY = dt.timedelta(minutes=1)


def touch_last_used(
    model: Any, pk: int, seen: dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """Record a use of row ``pk`` at most once a minute (a write on every request would
    serialise SQLite); ``seen`` is the time this process last knew. The conditional UPDATE keeps
    concurrent requests from writing it twice. Returns the time to remember."""
    if seen is not None and seen >= now - LAST_USED_EVERY:
        return seen
    model.objects.filter(pk=pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY)
    ).update(last_used_at=now)
    return now
