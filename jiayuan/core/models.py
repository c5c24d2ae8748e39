"""Core data: the access log of personal data."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AccessLog(models.Model):
    """个人信息访问日志: one row each time someone sees ID or phone numbers unmasked.

    Insert-only: nothing in jiayuan updates or deletes a row (the admin is read-only).
    """

    class Action(models.TextChoices):
        VIEW = "view", "页面查看"
        API = "api", "接口查看"
        EXPORT = "export", "导出"
        ADMIN = "admin", "后台查看"

    at = models.DateTimeField("时间", auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="用户", null=True, on_delete=models.SET_NULL
    )
    username = models.CharField("用户名", max_length=150)
    action = models.CharField("方式", max_length=10, choices=Action.choices)
    model = models.CharField("对象类型", max_length=100)
    object_ids = models.TextField("对象编号", blank=True)
    count = models.PositiveIntegerField("条数", default=0)
    fields = models.CharField("字段", max_length=200)
    path = models.CharField("地址", max_length=300, blank=True)
    ip = models.GenericIPAddressField("IP", null=True, blank=True)
    note = models.CharField("备注", max_length=200, blank=True)

    class Meta:
        verbose_name = "个人信息访问日志"
        verbose_name_plural = verbose_name
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.get_action_display()} {self.model}"
