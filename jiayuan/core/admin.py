"""Admin for core data, and the scoped admin base every app's admin uses."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from jiayuan.core.models import AccessLog

admin.site.site_header = "家园 · 配置管理"
admin.site.site_title = "家园"
admin.site.index_title = "配置"


class ScopedAdmin(admin.ModelAdmin):
    """The admin also goes through the gate: a staff user sees only their scope."""

    def get_queryset(self, request: HttpRequest) -> Any:
        qs = super().get_queryset(request)
        visible_to = getattr(qs, "visible_to", None)
        return visible_to(request.user) if visible_to else qs


@admin.register(AccessLog)
class AccessLogAdmin(admin.ModelAdmin):
    """Read-only: the log is insert-only."""

    list_display = ["at", "username", "action", "model", "count", "fields", "ip"]
    list_filter = ["action", "model"]
    search_fields = ["username", "object_ids"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
