"""Template helpers of the statistics pages: ``{{ rate|pct }}``, ``{{ hours|hours }}``, and the
menu filters ``{{ user|may_see_dashboards }}`` / ``{{ user|may_see_screen }}``."""

from __future__ import annotations

from typing import Any

from django import template

from jiayuan.stats import dashboard

register = template.Library()


@register.filter
def pct(value: float | None) -> str:
    """A rate as a percentage with one decimal; "—" when it has no denominator."""
    return "—" if value is None else f"{value * 100:.1f}%"


@register.filter
def hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} 小时"


@register.filter
def may_see_dashboards(user: Any) -> bool:
    return dashboard.may_see_dashboards(user)


@register.filter
def may_see_screen(user: Any) -> bool:
    return dashboard.may_see_screen(user)
