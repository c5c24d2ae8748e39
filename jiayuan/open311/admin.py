"""Admin for Open311: API keys (only the prefix is ever shown; a new or rotated key is shown
once, in a message) and service attributes (service definitions as data)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from jiayuan.open311.models import ApiKey, ServiceAttribute
from jiayuan.open311.services import apikey_set_secret


def _show_once(request: HttpRequest, key: ApiKey, raw: str) -> None:
    messages.warning(
        request,
        f"密钥“{key.name}”：{raw} —— 只显示这一次，请立即复制保存；遗失后只能重新生成。",
    )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "channel_label",
        "is_active",
        "queued",
        "created_at",
        "last_used_at",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "prefix", "channel_label"]
    fields = [
        "name",
        "channel_label",
        "is_active",
        "queued",
        "prefix",
        "created_at",
        "last_used_at",
    ]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    actions = ["rotate"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        raw = None if change else apikey_set_secret(obj)
        super().save_model(request, obj, form, change)
        if raw is not None:
            _show_once(request, obj, raw)

    @admin.action(description="重新生成所选密钥（旧密钥立即失效）")
    def rotate(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            raw = apikey_set_secret(key)
            key.save(update_fields=["prefix", "key_hash"])
            _show_once(request, key, raw)


@admin.register(ServiceAttribute)
class ServiceAttributeAdmin(admin.ModelAdmin):
    list_display = ["category", "order", "code", "datatype", "required", "description"]
    list_filter = ["datatype", "required"]
    search_fields = ["code", "description", "category__name", "category__code"]
    list_select_related = ["category", "category__parent"]
    raw_id_fields = ["category"]
