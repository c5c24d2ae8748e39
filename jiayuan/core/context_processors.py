"""Template context shared by every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def jiayuan(request: Any) -> dict[str, Any]:
    posts = []
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        from jiayuan.staff.selectors import active_posts

        posts = active_posts(user)
    return {"SITE_NAME": settings.SITE_NAME, "user_posts": posts}
