"""Precise dispatch (精准派单): the routing app's models.

The dispatch side (rules, routing records, hot spots) lives in ``models_dispatch.py``; the
classifier's data (confidence thresholds, feedback) is here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce

from jiayuan.routing.models_dispatch import DispatchRule, HotSpot, TicketRouting  # noqa: F401

# The default threshold, chosen on out-of-fold predictions of the training part (see
# docs/routing.md); seeded as the default row by migration 0003 (0.86, the first model), moved to
# 0.83 by 0004 (the model with the dictionary-word block); used when no row exists.
DEFAULT_THRESHOLD = 0.83


class RoutingThreshold(models.Model):
    """自动派单阈值: a top-1 probability at or above this routes a ticket without a human.

    The row without a category is the default; a row with a category overrides it there."""

    category = models.ForeignKey(
        "tickets.Category",
        verbose_name="分类（留空为默认）",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        limit_choices_to={"parent__isnull": True},
        related_name="+",
    )

    class Source(models.TextChoices):
        ADMIN = "admin", "人工设置"
        LEARNED = "learned", "训练生成"

    threshold = models.FloatField("阈值", default=DEFAULT_THRESHOLD)
    # ``route train``/``retrain`` write "learned" rows per category and replace only those: a row
    # a person saved (admin sets "admin") is never overwritten by training.
    source = models.CharField("来源", max_length=10, choices=Source, default=Source.ADMIN)
    note = models.CharField("说明", max_length=200, blank=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "自动派单阈值"
        verbose_name_plural = verbose_name
        constraints = [
            # One default row (category NULL → 0) and one row per category.
            models.UniqueConstraint(
                Coalesce("category", models.Value(0)), name="routing_threshold_one_per_category"
            ),
            models.CheckConstraint(
                condition=models.Q(threshold__gte=0) & models.Q(threshold__lte=1),
                name="routing_threshold_between_0_and_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.category.name if self.category else '默认'} ≥ {self.threshold}"

    @classmethod
    def apply_learned(cls, thresholds: dict[str, float], *, note: str) -> dict[str, str]:
        """Write learned per-category thresholds (分类阈值, from a model's training): create a
        category's row or update a learned one; a row a person set is left alone, as is the
        default row. Returns {category name: "created" | "updated" | "kept (admin)" |
        "unknown category"}."""
        from django.db import transaction

        from jiayuan.tickets.models import Category

        outcome: dict[str, str] = {}
        with transaction.atomic():
            categories = {
                c.name: c
                for c in Category.objects.filter(parent__isnull=True, name__in=list(thresholds))
            }
            rows = {
                row.category_id: row
                for row in cls.objects.select_for_update().filter(
                    category__in=list(categories.values())
                )
            }
            for name, value in thresholds.items():
                category = categories.get(name)
                if category is None:
                    outcome[name] = "unknown category"
                    continue
                row = rows.get(category.pk)
                if row is None:
                    cls.objects.create(
                        category=category, threshold=value, source=cls.Source.LEARNED, note=note
                    )
                    outcome[name] = "created"
                elif row.source == cls.Source.LEARNED:
                    row.threshold, row.note = value, note
                    row.save(update_fields=["threshold", "note", "updated_at"])
                    outcome[name] = "updated"
                else:
                    outcome[name] = "kept (admin)"
        return outcome


class RoutingFeedback(models.Model):
    """分类反馈: a person confirmed or corrected the suggested category. Labelled data for
    ``route retrain``; insert-only."""

    title = models.CharField("标题", max_length=300, blank=True)
    body = models.TextField("内容", blank=True)
    suggested_category = models.CharField("建议分类", max_length=50, blank=True)
    chosen_category = models.CharField("确定分类", max_length=50)
    model_version = models.CharField("模型版本", max_length=40, blank=True)
    ticket = models.ForeignKey(
        "tickets.Ticket",
        verbose_name="诉求",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="routing_feedback",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="操作人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "分类反馈"
        verbose_name_plural = verbose_name
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.suggested_category or '-'} → {self.chosen_category}"

    @property
    def is_correction(self) -> bool:
        return self.suggested_category != self.chosen_category
