"""Open311 GeoReport v2 data: the API keys that may post requests, and the service definitions
(the extra questions a service asks) kept as data, one row per attribute."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class ApiKey(models.Model):
    """接口密钥: what a third-party Open311 client sends as ``api_key`` to post requests.

    Only the SHA-256 of the key is stored; ``prefix`` (its first characters) lets people tell
    keys apart in the admin. A lost key is rotated, never recovered.
    """

    name = models.CharField("名称", max_length=60, unique=True)
    prefix = models.CharField("密钥前缀", max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField("启用", default=True)
    channel_label = models.CharField(
        "来源说明",
        max_length=60,
        blank=True,
        help_text="写入流转记录的提交方，如“烟台12345小程序”；为空时用密钥名称。",
    )
    queued = models.BooleanField(
        "异步受理",
        default=False,
        help_text="勾选后，提交立即返回 token，工单由后台在数秒内生成（适合大批量对接的平台）；"
        "客户端用 tokens/{token} 查询工单编号。",
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    last_used_at = models.DateTimeField("最近使用", null=True, blank=True)

    class Meta:
        verbose_name = "Open311 接口密钥"
        verbose_name_plural = verbose_name
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Datatype(models.TextChoices):
    """GeoReport v2 attribute datatypes (the values are the specification's)."""

    STRING = "string", "单行文本"
    NUMBER = "number", "数字"
    DATETIME = "datetime", "日期时间"
    TEXT = "text", "多行文本"
    SINGLEVALUELIST = "singlevaluelist", "单选"
    MULTIVALUELIST = "multivaluelist", "多选"


LIST_DATATYPES = {Datatype.SINGLEVALUELIST, Datatype.MULTIVALUELIST}


class ServiceAttribute(models.Model):
    """服务附加项: one question of a service definition (GeoReport ``attribute``).

    A second-level category is an Open311 service; its attributes make ``metadata`` true and are
    validated on every POST. ``values`` is a list of ``{"key": …, "name": …}`` for list types.
    """

    category = models.ForeignKey(
        "tickets.Category",
        verbose_name="诉求分类",
        on_delete=models.CASCADE,
        related_name="open311_attributes",
        limit_choices_to={"parent__isnull": False},
    )
    code = models.SlugField("编码", max_length=40)
    variable = models.BooleanField(
        "需要填写", default=True, help_text="不勾选时仅作为说明展示，不接收输入。"
    )
    datatype = models.CharField("类型", max_length=16, choices=Datatype.choices)
    required = models.BooleanField("必填", default=False)
    datatype_description = models.CharField("填写说明", max_length=200, blank=True)
    order = models.PositiveSmallIntegerField("顺序", default=1)
    description = models.CharField("问题", max_length=200)
    values = models.JSONField(
        "可选值",
        default=list,
        blank=True,
        help_text=(
            '单选、多选类型填写，如 [{"key": "1", "name": "一楼"}, {"key": "2", "name": "二楼"}]'
        ),
    )

    class Meta:
        verbose_name = "Open311 服务附加项"
        verbose_name_plural = verbose_name
        ordering = ["category_id", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["category", "code"], name="o311attr_code_unique"),
            models.UniqueConstraint(fields=["category", "order"], name="o311attr_order_unique"),
            models.CheckConstraint(condition=Q(order__gte=1), name="o311attr_order_positive"),
            models.CheckConstraint(
                condition=Q(datatype__in=Datatype.values), name="o311attr_datatype_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.category_id}:{self.code}"

    def clean(self) -> None:
        problems = values_problems(self.values, self.datatype)
        if problems:
            raise ValidationError({"values": problems})

    def value_keys(self) -> list[str]:
        return [str(v["key"]) for v in self.values or []]


def values_problems(values: Any, datatype: str) -> str:
    """Why ``values`` is not a valid option list for ``datatype`` ("" when it is)."""
    if datatype not in LIST_DATATYPES:
        return "" if not values else "只有单选、多选类型可以设置可选值"
    if not isinstance(values, list) or not values:
        return '单选、多选类型需要可选值列表：[{"key": "1", "name": "名称"}, …]'
    keys: set[str] = set()
    for item in values:
        if not isinstance(item, dict) or set(item) != {"key", "name"}:
            return '每个可选值须是 {"key": …, "name": …}'
        key = str(item["key"]).strip()
        if not key or not str(item["name"]).strip():
            return "可选值的 key 和 name 不能为空"
        if key in keys:
            return f"可选值 key 重复：{key}"
        keys.add(key)
    return ""
