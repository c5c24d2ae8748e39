"""``{{ user|is_dispatcher }}``: whether the menu shows the triage queue (分拨)."""

from typing import Any

from django import template

from jiayuan.tickets.selectors import is_dispatcher as _is_dispatcher

register = template.Library()


@register.filter
def is_dispatcher(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and _is_dispatcher(user))
