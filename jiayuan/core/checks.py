"""System checks with stable ids (jiayuan.E001 …)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    if settings.LANGUAGE_CODE != "zh-hans":
        problems.append(
            Warning("LANGUAGE_CODE is not zh-hans; the UI is Chinese first.", id="jiayuan.W001")
        )
    if settings.TIME_ZONE != "Asia/Shanghai" or not settings.USE_TZ:
        problems.append(
            Error("jiayuan stores aware UTC times shown in Asia/Shanghai.", id="jiayuan.E001")
        )
    return problems
