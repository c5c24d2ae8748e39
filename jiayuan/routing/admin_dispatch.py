"""Admin of the dispatch side: routing records and hot spots read-only (they are written by
intake and the worker); dispatch rules are edited on their own page (/routing/rules/), which
validates them, so the admin only lists them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from jiayuan.routing.models_dispatch import DispatchRule, HotSpot, TicketRouting


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DispatchRule)
class DispatchRuleAdmin(ReadOnlyAdmin):
    list_display = ["name", "region", "category", "level", "lead", "is_active", "updated_at"]
    list_filter = ["level", "is_active"]
    search_fields = ["name"]


@admin.register(TicketRouting)
class TicketRoutingAdmin(ReadOnlyAdmin):
    list_display = [
        "ticket",
        "locate_method",
        "locate_confidence",
        "category_source",
        "model_version",
        "auto_routed",
        "rule",
        "decided_at",
    ]
    list_filter = ["locate_method", "auto_routed", "category_source", "model_version"]
    raw_id_fields = ["ticket"]


@admin.register(HotSpot)
class HotSpotAdmin(ReadOnlyAdmin):
    list_display = ["place_kind", "place_name", "category", "window_start", "ticket_count"]
    list_filter = ["place_kind", "category"]
