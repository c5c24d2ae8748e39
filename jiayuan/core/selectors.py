"""Reads shown on the home page (工作台)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef

from jiayuan.core.scoping import scope_for


def home_summary(*, user: Any) -> dict[str, Any]:
    """Counts in the user's scope and the regions of each post."""
    from jiayuan.regions.choices import Level
    from jiayuan.regions.models import Building, Household, Region, Resident
    from jiayuan.staff.selectors import active_posts

    scope = scope_for(user)
    regions = Region.objects.visible_to(user)
    by_level = dict(
        regions.values_list("level").annotate(n=Count("id")).order_by().values_list("level", "n")
    )
    return {
        "scope": scope,
        "posts": active_posts(user),
        "levels": [(label, by_level.get(value, 0)) for value, label in Level.choices],
        "buildings": Building.objects.visible_to(user).count(),
        "households": Household.objects.visible_to(user).count(),
        "residents": Resident.objects.visible_to(user).count(),
        "care": Resident.objects.visible_to(user)
        .filter(Exists(Resident.care_tags.through.objects.filter(resident_id=OuterRef("pk"))))
        .count(),
    }
