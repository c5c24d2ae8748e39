"""API tokens (接口令牌) for programs that call the JSON API as a staff member.

``Authorization: Bearer jyt_…`` authenticates as the token's user, with exactly that user's
posts and scope (the same gate as a browser session); no CSRF token is needed because no cookie
is involved. Only the SHA-256 of a token is stored and the raw token is shown once.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from jiayuan.core.errors import JiayuanError, NotFound
from jiayuan.core.memo import Memo
from jiayuan.core.models import ApiToken
from jiayuan.core.scoping import scope_for
from jiayuan.core.usage import touch_last_used

PREFIX = "jyt_"
VISIBLE = 10


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def token_create(*, username: str, name: str) -> tuple[ApiToken, str]:
    """A new token for an active user; returns the row and the raw token (shown once)."""
    name = name.strip()
    if not name:
        raise JiayuanError("请填写令牌用途", code="required", field="name")
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(f"用户不存在或已停用：{username}", field="username")
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name[:60], prefix=raw[:VISIBLE], token_hash=_digest(raw))
    try:
        with transaction.atomic():
            token.save(force_insert=True)
    except IntegrityError as exc:
        raise JiayuanError(
            f"用户 {username} 已有用途为“{name}”的令牌", code="duplicate", field="name"
        ) from exc
    return token, raw


def token_revoke(*, prefix: str, now: dt.datetime | None = None) -> int:
    """Revoke every live token whose visible prefix is ``prefix``; returns how many."""
    count = ApiToken.objects.filter(prefix=prefix, revoked_at__isnull=True).update(
        revoked_at=now or timezone.now()
    )
    _live.invalidate()  # an UPDATE sends no signal
    return count


@dataclass
class _Live:
    """A live token's user with the scope already worked out, and when this process last
    recorded the token's use."""

    token_id: int
    user: Any
    last_used_at: dt.datetime | None


def _watched() -> list[type[Any]]:
    from jiayuan.regions.models import Region, Resident
    from jiayuan.staff.models import Department, Post

    return [ApiToken, get_user_model(), Post, Resident, Region, Department]


# Live tokens by digest, memoised per process with their user and scope: a program calling the
# API thousands of times a minute would otherwise pay the token, user, posts and household
# queries on every call. Revoking a token, deactivating its user or changing a post, a household
# or a region drops the memo at once in this process (signals; token_revoke says so itself),
# within a second in every other one with Redis, and within max_age without. Unknown tokens are
# not memoised, so nobody can fill the memo with guesses.
_live: Memo[_Live | None] = Memo("api-tokens", max_age=30.0, watch=_watched(), check_every=1.0)


def _load(digest: str) -> _Live | None:
    token = (
        ApiToken.objects.filter(token_hash=digest, revoked_at__isnull=True)
        .select_related("user")
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    scope_for(token.user)  # worked out once, kept on the memoised user
    return _Live(token.pk, token.user, token.last_used_at)


def token_user(raw: str, *, now: dt.datetime | None = None) -> Any:
    """The active user behind a live token (a copy per call, with its scope), or None."""
    if not raw.startswith(PREFIX):
        return None
    digest = _digest(raw)
    live = _live.get(digest, lambda: _load(digest))
    if live is None:
        return None
    live.last_used_at = touch_last_used(
        ApiToken, live.token_id, live.last_used_at, now or timezone.now()
    )
    return copy.copy(live.user)


class TokenAuth(HttpBearer):
    """django-ninja authentication: ``Authorization: Bearer <token>`` → ``request.user``."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = token_user(token.strip())
        if user is not None:
            request.user = user
        return user
