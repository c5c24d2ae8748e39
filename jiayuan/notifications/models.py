"""Notifications (消息通知): what a user is told, and its copies sent out through a channel."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Kind(models.TextChoices):
    """Why someone is told. Stable English values, Chinese labels."""

    ASSIGNED = "assigned", "新工单待签收"
    TRIAGE = "triage", "工单待分拨"
    CALLED_UP = "called_up", "下级呼叫待响应"
    DISPATCHED = "dispatched", "派单待部门办理"
    RETURNED = "returned", "工单被回退"
    SUPERVISED = "supervised", "督办"
    WARNING = "warning", "即将超期"
    OVERDUE = "overdue", "已超期"
    RESOLVED = "resolved", "诉求已办结"
    RATED = "rated", "群众评价"
    REOPENED = "reopened", "不满意重办"
    EXTENSION = "extension", "延期待审批"
    EXTENSION_DECIDED = "extension_decided", "延期审批结果"
    CANCELLED = "cancelled", "诉求已撤销"


class Notification(models.Model):
    """站内消息: one thing one user is told. ``dedupe_key`` is unique, so a retried task or a
    second sweeper writes nothing twice (``{ticket}:{seq}:{user}`` for a ticket event,
    ``warning:{ticket}:{mark}:{user}`` for an SLA warning)."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="接收人",
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    ticket = models.ForeignKey(
        "tickets.Ticket",
        verbose_name="工单",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    title = models.CharField("标题", max_length=120)
    body = models.CharField("内容", max_length=500, blank=True)
    url = models.CharField("链接", max_length=300, blank=True)
    created_at = models.DateTimeField("时间", default=timezone.now)
    read_at = models.DateTimeField("已读时间", null=True, blank=True)
    dedupe_key = models.CharField(max_length=120, unique=True, editable=False)

    class Meta:
        verbose_name = "消息"
        verbose_name_plural = verbose_name
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_inbox")
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="notification_kind")
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id}: {self.title}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class OutboundState(models.TextChoices):
    PENDING = "pending", "待发送"
    SENDING = "sending", "发送中"
    SENT = "sent", "已发送"
    FAILED = "failed", "发送失败"


class OutboundMessage(models.Model):
    """外发消息: one notification's copy for one outbound channel (log, SMS, WeCom).

    A sender claims the row with ``UPDATE … SET state='sending' WHERE state='pending'`` before
    sending, so it is sent at most once however many tasks or workers pick it up; a failure puts
    it back to ``pending`` with ``next_attempt_at`` (backoff) until ``MAX_ATTEMPTS``.
    """

    notification = models.ForeignKey(
        Notification, verbose_name="消息", on_delete=models.CASCADE, related_name="outbound"
    )
    channel = models.CharField("渠道", max_length=20)
    state = models.CharField(
        "状态", max_length=10, choices=OutboundState.choices, default=OutboundState.PENDING
    )
    attempts = models.PositiveSmallIntegerField("尝试次数", default=0)
    last_error = models.CharField("最近错误", max_length=500, blank=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    next_attempt_at = models.DateTimeField("下次尝试", default=timezone.now)
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)

    class Meta:
        verbose_name = "外发消息"
        verbose_name_plural = verbose_name
        ordering = ["-id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="outbound_due")]
        constraints = [
            models.UniqueConstraint(fields=["notification", "channel"], name="outbound_once"),
            models.CheckConstraint(
                condition=Q(state__in=OutboundState.values), name="outbound_state"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.notification_id} {self.state}"
