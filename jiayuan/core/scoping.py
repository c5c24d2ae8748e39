"""The one scoping gate (STYLE habit 3).

A user's scope is derived from their active posts (岗位): the subtrees of the region nodes
they hold posts at, plus the regions their departments serve. Every list and every lookup by id
goes through ``Model.objects.visible_to(user)``; a model that does not declare how it is scoped
shows nothing (fail closed, as NetBox's ``restrict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models
from django.db.models import Q

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

PATH_SEP = "."
# Paths are made of digits and dots; "~" sorts after both, so [p, p + "~") is p's subtree and a
# plain B-tree index answers it on SQLite and PostgreSQL alike.
PATH_END = "~"

_M = TypeVar("_M", bound=models.Model)


@dataclass(frozen=True)
class Scope:
    """What one user may see. ``everything`` is for superusers and admin posts."""

    everything: bool = False
    region_paths: tuple[str, ...] = ()
    # Region posts only (without the areas departments serve): what a post is answerable for.
    own_region_paths: tuple[str, ...] = ()
    department_ids: tuple[int, ...] = ()
    household_ids: tuple[int, ...] = ()
    can_view_personal: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    user_id: int | None = None

    @property
    def is_empty(self) -> bool:
        return not (
            self.everything or self.region_paths or self.household_ids or self.user_id is not None
        )


EMPTY_SCOPE = Scope()


# In a scope's paths, this stands for the whole tree (a post at every root node): no filter at
# all, which lets the database walk its primary key instead of joining every row to the tree.
WHOLE_TREE = ""


def subtree_q(path_field: str, paths: tuple[str, ...] | list[str]) -> Q:
    """``Q`` matching rows whose ``path_field`` lies under any of ``paths`` (inclusive)."""
    if WHOLE_TREE in paths:
        return ~Q(pk__in=[])
    q = Q(pk__in=[])
    for path in _outermost(paths):
        q |= Q(**{f"{path_field}__gte": path, f"{path_field}__lt": path + PATH_END})
    return q


def covers_path(scope: Scope, path: str) -> bool:
    """In Python, what ``subtree_q`` asks the database: does ``path`` lie under one of the
    scope's region paths (``path >= p AND path < p + "~"``)? ``everything`` covers all."""
    if scope.everything or WHOLE_TREE in scope.region_paths:
        return True
    return any(p <= path < p + PATH_END for p in scope.region_paths)


def _outermost(paths: tuple[str, ...] | list[str]) -> list[str]:
    """Drop paths already covered by another one, so the SQL stays short."""
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not any(path.startswith(k + PATH_SEP) or path == k for k in kept):
            kept.append(path)
    return kept


def scope_for(user: AbstractBaseUser | AnonymousUser | None) -> Scope:
    """The user's scope, computed once per request object and cached on it."""
    if user is None or not user.is_authenticated or not user.is_active:
        return EMPTY_SCOPE
    cached = getattr(user, "_jiayuan_scope", None)
    if cached is not None:
        return cached
    from jiayuan.staff.selectors import build_scope

    scope = build_scope(user)
    user._jiayuan_scope = scope  # type: ignore[union-attr,attr-defined]
    return scope


def forget_scope(user: Any) -> None:
    if hasattr(user, "_jiayuan_scope"):
        del user._jiayuan_scope


class ScopedQuerySet(models.QuerySet[_M]):
    """A query set with the gate. Models declare ``scope_q(scope) -> Q``."""

    def visible_to(self, user: Any) -> ScopedQuerySet[_M]:
        scope = scope_for(user)
        if scope.everything:
            return self
        if scope.is_empty:
            return self.none()
        scope_q = getattr(self.model, "scope_q", None)
        if scope_q is None:
            return self.none()
        return self.filter(scope_q(scope))


ScopedManager = models.Manager.from_queryset(ScopedQuerySet)
