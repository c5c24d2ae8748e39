"""Template context: the signed-in user's unread count for the top bar."""

from __future__ import annotations

from typing import Any

from jiayuan.notifications.selectors import unread_count


def notifications(request: Any) -> dict[str, int]:
    user = getattr(request, "user", None)
    return {"unread_notifications": unread_count(user)}
