"""Template context shared by every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def jiayuan(request: Any) -> dict[str, Any]:
    posts: list[Any] = []
    unread = 0
    may_import = False
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        from jiayuan.notifications.selectors import unread_count
        from jiayuan.regions.importer import can_import
        from jiayuan.staff.selectors import active_posts

        posts = active_posts(user)
        unread = unread_count(user)
        may_import = can_import(user)
    return {
        "SITE_NAME": settings.SITE_NAME,
        "user_posts": posts,
        "unread_notifications": unread,
        "may_import": may_import,
    }
