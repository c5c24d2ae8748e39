"""Admin: thresholds are edited here; feedback is read-only labelled data."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from jiayuan.routing.models import RoutingFeedback, RoutingThreshold


@admin.register(RoutingThreshold)
class RoutingThresholdAdmin(admin.ModelAdmin):
    list_display = ["__str__", "category", "threshold", "source", "note", "updated_at"]
    list_filter = ["source"]
    readonly_fields = ["source"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # A person's setting: ``route train`` no longer replaces this row.
        obj.source = RoutingThreshold.Source.ADMIN
        super().save_model(request, obj, form, change)


@admin.register(RoutingFeedback)
class RoutingFeedbackAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "title",
        "suggested_category",
        "chosen_category",
        "model_version",
        "created_by",
    ]
    list_filter = ["chosen_category", "suggested_category", "model_version"]
    search_fields = ["title"]
    raw_id_fields = ["ticket"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
