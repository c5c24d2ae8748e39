"""Core data: the access log of personal data."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


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


class CalendarDay(models.Model):
    """工作日历的例外日: a date whose working status differs from the Mon–Fri rule.

    ``holiday`` (法定节假日) is a day off, usually a weekday (a holiday on a weekend may be
    stored too, for its name; it changes nothing). ``workday`` (调休上班) is a Saturday or
    Sunday worked in exchange for a holiday. Every other date follows the rule: Monday to
    Friday work, Saturday and Sunday off. The arithmetic is in ``jiayuan.core.calendar``.
    """

    class Kind(models.TextChoices):
        WORKDAY = "workday", "调休上班"
        HOLIDAY = "holiday", "法定节假日"

    date = models.DateField("日期", unique=True)
    kind = models.CharField("类型", max_length=10, choices=Kind.choices)
    name = models.CharField("名称", max_length=50, blank=True)
    source = models.CharField("来源", max_length=200, blank=True)
    updated_at = models.DateTimeField("修改时间", auto_now=True)

    class Meta:
        verbose_name = "节假日与调休"
        verbose_name_plural = verbose_name
        ordering = ["date"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["workday", "holiday"]),
                name="core_calendarday_kind_valid",
            )
        ]

    def __str__(self) -> str:
        label = f"{self.date:%Y-%m-%d} {self.get_kind_display()}"
        return f"{label} {self.name}" if self.name else label

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.kind == self.Kind.WORKDAY and self.date and self.date.weekday() < 5:
            raise ValidationError(
                {"kind": "周一至周五本来就是工作日，调休上班只能是星期六或星期日"}
            )


class CalendarYear(models.Model):
    """A year whose schedule (节假日安排) is fully loaded, and where it came from.

    A year without a row still works (weekends only) but the command centre shows a warning.
    """

    year = models.PositiveSmallIntegerField("年份", unique=True)
    source = models.CharField(
        "来源",
        max_length=200,
        help_text="如 chinese-calendar 1.11.0、国办发明电〔2026〕X号、文件名",
    )
    loaded_at = models.DateTimeField("导入时间", default=timezone.now)
    note = models.TextField("备注", blank=True)

    class Meta:
        verbose_name = "节假日安排（年度）"
        verbose_name_plural = verbose_name
        ordering = ["-year"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(year__gte=1949, year__lte=2200),
                name="core_calendaryear_year_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.year}年"


class ApiToken(models.Model):
    """接口令牌: lets a program act as a staff member through the JSON API (``Authorization:
    Bearer …``) without a browser session. Only the SHA-256 of the token is stored; a token acts
    with its user's posts and scope, and stops working when revoked or when the user is disabled.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="用户",
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    name = models.CharField("用途", max_length=60)
    prefix = models.CharField("令牌前缀", max_length=16, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    last_used_at = models.DateTimeField("最近使用", null=True, blank=True)
    revoked_at = models.DateTimeField("吊销时间", null=True, blank=True)

    class Meta:
        verbose_name = "接口令牌"
        verbose_name_plural = verbose_name
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="apitoken_name_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
