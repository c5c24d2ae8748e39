"""Precise dispatch (精准派单) data: dispatch rules, each ticket's routing record, hot spots.

Imported at the bottom of ``routing/models.py`` so that Django sees these models as the routing
app's; kept apart from the classifier's models (feedback, thresholds) which live there.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from jiayuan.core.scoping import Scope, ScopedManager, subtree_q


class HandlerLevel(models.TextChoices):
    """The first rung a routed ticket lands on."""

    GRID = "grid", "网格"
    COMMUNITY = "community", "社区"
    STREET = "street", "街道"
    DEPARTMENT = "department", "职能部门"


class LocateMethod(models.TextChoices):
    """How the ticket's grid was found."""

    GIVEN = "given", "渠道指定网格"
    BUILDING = "building", "楼栋"
    HOUSEHOLD = "household", "住户"
    POINT = "point", "坐标落点"
    ADDRESS = "address", "地址匹配"
    NONE = "none", "未能定位"


class DispatchRule(models.Model):
    """派单规则: for a category × region, the first level that handles a ticket and, for a
    department, the lead (主办) and co-handling (协办) departments.

    Resolved like SLA policies (STYLE habit 7): the nearest region up the tree with a rule wins,
    and at that region the category's own rule beats its parent category's, which beats an
    any-category rule. With no rule at all a located ticket goes to its grid."""

    name = models.CharField("名称", max_length=60)
    region = models.ForeignKey(
        "regions.Region",
        verbose_name="适用区划（空=全部）",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="dispatch_rules",
    )
    category = models.ForeignKey(
        "tickets.Category",
        verbose_name="适用分类（空=全部）",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="dispatch_rules",
    )
    level = models.CharField(
        "首接层级", max_length=12, choices=HandlerLevel.choices, default=HandlerLevel.GRID
    )
    lead = models.ForeignKey(
        "staff.Department",
        verbose_name="主办部门",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lead_rules",
    )
    co = models.ManyToManyField(
        "staff.Department", verbose_name="协办部门", blank=True, related_name="co_rules"
    )
    is_active = models.BooleanField("启用", default=True)
    note = models.CharField("说明", max_length=200, blank=True)
    scope_key = models.CharField(max_length=40, unique=True, editable=False)
    updated_at = models.DateTimeField("更新时间", default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="更新人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = ScopedManager()

    class Meta:
        verbose_name = "派单规则"
        verbose_name_plural = verbose_name
        ordering = ["scope_key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(level__in=HandlerLevel.values), name="dispatchrule_level_valid"
            ),
            models.CheckConstraint(
                condition=~Q(level="department") | Q(lead__isnull=False),
                name="dispatchrule_department_has_lead",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # One rule per (region, category), NULLs included, on every database (as SlaPolicy).
        self.scope_key = scope_key(self.region_id, self.category_id)
        super().save(*args, **kwargs)

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        # Rules for a region are visible to whoever sees the region; everywhere-rules to all staff.
        return Q(region__isnull=True) | subtree_q("region__path", scope.region_paths)


def scope_key(region_id: int | None, category_id: int | None) -> str:
    return f"{region_id or '*'}:{category_id or '*'}"


class TicketRouting(models.Model):
    """派单记录: how one ticket was routed at intake — where it was located and how surely, what
    the classifier suggested (top three with probabilities) and with which model version, whether
    it was routed automatically, and by which rule."""

    ticket = models.OneToOneField(
        "tickets.Ticket",
        verbose_name="工单",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="routing",
    )
    locate_method = models.CharField("定位方式", max_length=10, choices=LocateMethod.choices)
    locate_confidence = models.FloatField("定位置信度", null=True, blank=True)
    estate = models.ForeignKey(
        "regions.Estate",
        verbose_name="小区",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    suggestions = models.JSONField("分类建议", default=list, blank=True)
    category_source = models.CharField("分类来源", max_length=10, blank=True)
    model_version = models.CharField("模型版本", max_length=60, blank=True)
    auto_routed = models.BooleanField("自动派单", default=False)
    rule = models.ForeignKey(
        DispatchRule,
        verbose_name="派单规则",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="routings",
    )
    decided_at = models.DateTimeField("派单时间", default=timezone.now)

    class Meta:
        verbose_name = "派单记录"
        verbose_name_plural = verbose_name

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.locate_method}"


class HotSpot(models.Model):
    """高发预警: at least N tickets of one category in one estate (小区) or grid within a window of
    days. One row per place × category × window start, so a sweep raises each alert once."""

    class PlaceKind(models.TextChoices):
        ESTATE = "estate", "小区"
        GRID = "grid", "网格"

    place_kind = models.CharField("范围", max_length=8, choices=PlaceKind.choices)
    place_key = models.CharField(max_length=30, editable=False)
    estate = models.ForeignKey(
        "regions.Estate",
        verbose_name="小区",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="hot_spots",
    )
    grid = models.ForeignKey(
        "regions.Region",
        verbose_name="网格",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="hot_spots",
    )
    community = models.ForeignKey(
        "regions.Region",
        verbose_name="社区",
        on_delete=models.CASCADE,
        related_name="community_hot_spots",
    )
    category = models.ForeignKey(
        "tickets.Category", verbose_name="分类", on_delete=models.CASCADE, related_name="+"
    )
    window_start = models.DateField("起始日期")
    window_days = models.PositiveSmallIntegerField("统计天数")
    ticket_count = models.PositiveIntegerField("工单数")
    lng = models.FloatField("经度", null=True, blank=True)
    lat = models.FloatField("纬度", null=True, blank=True)
    created_at = models.DateTimeField("发现时间", default=timezone.now)
    updated_at = models.DateTimeField("更新时间", default=timezone.now)

    objects = ScopedManager()

    class Meta:
        verbose_name = "高发预警"
        verbose_name_plural = verbose_name
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["place_key", "category", "window_start"], name="hotspot_once"
            ),
            models.CheckConstraint(
                condition=Q(place_kind="estate", estate__isnull=False)
                | Q(place_kind="grid", grid__isnull=False),
                name="hotspot_has_place",
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="hotspot_created")]

    def __str__(self) -> str:
        return f"{self.place_key} {self.category_id} {self.window_start}"

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return subtree_q("community__path", scope.region_paths) | subtree_q(
            "grid__path", scope.region_paths
        )

    @property
    def place_name(self) -> str:
        place = self.estate if self.estate_id else self.grid
        return str(place) if place is not None else ""
