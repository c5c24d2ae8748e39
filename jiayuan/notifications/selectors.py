"""Reads of notifications: a user's own list, the unread count, one notification by id."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, IntegerField, QuerySet, Value, When

from jiayuan.core.errors import NotFound
from jiayuan.notifications.models import Notification


def notifications_for(user: Any) -> QuerySet[Notification]:
    """A user's own notifications, unread first, newest first. Nobody sees another's (admins
    included): a notification is personal, so the gate is the recipient, not the region tree."""
    return (
        Notification.objects.filter(recipient_id=getattr(user, "pk", None))
        .annotate(
            unread=Case(
                When(read_at__isnull=True, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("unread", "-created_at", "-id")
    )


def unread_count(user: Any) -> int:
    """未读消息数 (shown in the top bar)."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True).count()


def access_notification(*, user: Any, notification_id: int) -> Notification:
    """The user's own notification, or ``NotFound`` (another's and a missing one alike)."""
    note = Notification.objects.filter(
        pk=notification_id, recipient_id=getattr(user, "pk", None)
    ).first()
    if note is None:
        raise NotFound("消息不存在")
    return note
