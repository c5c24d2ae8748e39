"""Reads about staff: a user's posts and the scope they add up to."""

from __future__ import annotations

from typing import Any

from jiayuan.core.scoping import Scope
from jiayuan.staff.choices import Role


def display_name(user: Any) -> str:
    """A person's name the Chinese way (family name first, no space), else the username."""
    name = f"{user.last_name}{user.first_name}".strip()
    return name or user.get_username()


def active_posts(user: Any) -> list[Any]:
    cached = getattr(user, "_jiayuan_posts", None)
    if cached is not None:
        return cached
    from jiayuan.staff.models import Post

    posts = list(
        Post.objects.filter(user=user, is_active=True)
        .select_related("region", "department")
        .order_by("id")
    )
    user._jiayuan_posts = posts
    return posts


_ROOTS: dict[str, Any] = {"paths": None, "at": 0.0}
ROOTS_TTL_SECONDS = 60


def root_paths() -> set[str]:
    """Paths of the tree's root nodes (cities), read at most once a minute per process."""
    import time

    from jiayuan.regions.models import Region

    now = time.monotonic()
    if _ROOTS["paths"] is None or now - _ROOTS["at"] > ROOTS_TTL_SECONDS:
        _ROOTS["paths"] = set(
            Region.objects.filter(parent__isnull=True).values_list("path", flat=True)
        )
        _ROOTS["at"] = now
    return set(_ROOTS["paths"])


def forget_root_paths() -> None:
    _ROOTS["paths"] = None


def build_scope(user: Any) -> Scope:
    """Add up the user's active posts into one ``Scope`` (see ``jiayuan.core.scoping``)."""
    from jiayuan.regions.models import Resident

    posts = active_posts(user)
    roles = frozenset(p.role for p in posts)
    if user.is_superuser or Role.ADMIN in roles:
        return Scope(
            everything=True, can_view_personal=True, roles=roles | {Role.ADMIN}, user_id=user.pk
        )
    paths: list[str] = []
    departments: list[int] = []
    for post in posts:
        if post.role == Role.RESIDENT:
            continue  # a resident sees their own household, not their grid
        if post.region_id is not None:
            paths.append(post.region.path)
        if post.department_id is not None:
            departments.append(post.department_id)
    if paths:
        from jiayuan.core.scoping import WHOLE_TREE

        roots = root_paths()
        if roots and roots <= set(paths):
            paths = [WHOLE_TREE]
    own_paths = tuple(paths)
    if departments:
        from jiayuan.regions.models import Region

        paths.extend(
            Region.objects.filter(served_by__in=departments).values_list("path", flat=True)
        )
    households: tuple[int, ...] = ()
    resident = Resident.objects.filter(user=user).values_list("household_id", flat=True).first()
    if resident is not None:
        households = (resident,)
    return Scope(
        region_paths=tuple(paths),
        own_region_paths=own_paths,
        department_ids=tuple(departments),
        household_ids=households,
        can_view_personal=any(p.can_view_personal for p in posts),
        roles=roles,
        user_id=user.pk,
    )
