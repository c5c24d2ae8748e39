"""Masking of personal data (ID numbers, phone numbers) and the log of every unmasked view."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models

from jiayuan.core.scoping import scope_for


def mask_id_number(value: str | None) -> str:
    """身份证号脱敏: keep the first 6 (place) and last 4 characters: 370602********123X."""
    if not value:
        return ""
    if len(value) <= 10:
        return value[:2] + "*" * max(len(value) - 2, 0)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str | None) -> str:
    """手机号脱敏: 138****5678; other lengths keep the last 4 characters only."""
    if not value:
        return ""
    if len(value) == 11:
        return value[:3] + "****" + value[-4:]
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]


def can_unmask(user: Any) -> bool:
    """True when one of the user's posts holds the right to see personal data in full."""
    return scope_for(user).can_view_personal


def client_ip(request: Any) -> str | None:
    """The client's address: the socket's, or — behind ``JIAYUAN_TRUSTED_PROXIES`` reverse
    proxies — the address the outermost trusted proxy saw, taken from the right of
    X-Forwarded-For (entries further left are whatever the client sent, and are ignored)."""
    if request is None:
        return None
    from django.conf import settings

    hops = int(getattr(settings, "TRUSTED_PROXIES", 0) or 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops > 0 and forwarded:
        chain = [part.strip() for part in forwarded.split(",") if part.strip()]
        if len(chain) >= hops:
            return chain[-hops][:45]
    return request.META.get("REMOTE_ADDR")


def log_unmasked(
    *,
    user: Any,
    action: str,
    model: type[models.Model] | models.Model,
    object_ids: Iterable[Any] = (),
    fields: Iterable[str] = ("id_number", "phone"),
    request: Any = None,
    count: int | None = None,
    note: str = "",
) -> None:
    """Write one access-log row: who saw which personal fields of what, when, from where."""
    from jiayuan.core.models import AccessLog

    ids = [str(i) for i in object_ids]
    AccessLog.objects.create(
        user=user if getattr(user, "is_authenticated", False) else None,
        username=getattr(user, "get_username", lambda: "")(),
        action=action,
        model=model._meta.label,
        object_ids=",".join(ids[:200]),
        count=count if count is not None else len(ids),
        fields=",".join(fields),
        path=getattr(request, "path", "")[:300] if request is not None else "",
        ip=client_ip(request),
        note=note[:200],
    )
