"""Who (派单规则): which level — and for a department, which departments — handles a ticket of a
category at a place. Rules are rows (``DispatchRule``), resolved up both trees like SLA policies.

The active rules are read once per process and kept for ``CACHE_SECONDS`` (a
``jiayuan.core.memo.Memo``); saving or deleting a rule drops them at once in this process and,
through the shared cache, in the others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.signals import m2m_changed
from django.utils import timezone

from jiayuan.core.errors import JiayuanError
from jiayuan.core.memo import Memo
from jiayuan.core.scoping import PATH_SEP, scope_for
from jiayuan.regions.models import Region
from jiayuan.routing.models_dispatch import DispatchRule, HandlerLevel
from jiayuan.staff.choices import Role
from jiayuan.staff.models import Department
from jiayuan.staff.selectors import active_posts
from jiayuan.tickets.models import Category, Ticket

CACHE_SECONDS = 60


@dataclass(frozen=True)
class ResolvedRule:
    """A rule as the router needs it: plain ids, no database access."""

    id: int
    name: str
    level: str
    lead_id: int | None
    co_ids: tuple[int, ...]


Rules = dict[tuple[int | None, int | None], ResolvedRule]

# Read on every intake (see jiayuan.core.memo): dropped when a rule or its co-handling
# departments change here, when another process changes one, and after CACHE_SECONDS.
_memo: Memo[Rules] = Memo("routing-dispatch-rules", max_age=CACHE_SECONDS, watch=[DispatchRule])


def reload() -> None:
    """Forget the cached rules, here and in the other processes (after an edit; tests)."""
    _memo.invalidate()


def _load() -> Rules:
    co: dict[int, list[int]] = {}
    for rule_id, dept_id in DispatchRule.co.through.objects.values_list(
        "dispatchrule_id", "department_id"
    ):
        co.setdefault(rule_id, []).append(dept_id)
    return {
        (r.region_id, r.category_id): ResolvedRule(
            r.pk, r.name, r.level, r.lead_id, tuple(sorted(co.get(r.pk, [])))
        )
        for r in DispatchRule.objects.filter(is_active=True)
    }


def active_rules() -> Rules:
    """The active rules by (region id, category id), from the per-process memo."""
    return _memo.get("active", _load)


def _changed(**kwargs: Any) -> None:
    reload()


m2m_changed.connect(
    _changed, sender=DispatchRule.co.through, dispatch_uid="routing_rules_co", weak=False
)


def rule_for(
    *,
    category_id: int | None,
    category_parent_id: int | None,
    region_ids: list[int],
    rules: Rules | None = None,
) -> ResolvedRule | None:
    """The rule for a category at a place. ``region_ids``: the place and its ancestors, nearest
    first (grid, community, street, district, city). None when no rule applies. ``rules``: the
    ``active_rules()`` already taken (a batch takes them once)."""
    if rules is None:
        rules = active_rules()
    if not rules:
        return None
    regions: list[int | None] = [*region_ids, None]
    categories: list[int | None] = []
    if category_id is not None:
        categories.append(category_id)
        if category_parent_id is not None:
            categories.append(category_parent_id)
    categories.append(None)
    for region_id in regions:
        for cat_id in categories:
            rule = rules.get((region_id, cat_id))
            if rule is not None:
                return rule
    return None


# --- writes: the command centre's rule page ------------------------------------------------------


def may_edit_rules(user: Any) -> bool:
    """Only the command centre (指挥中心) and administrators edit dispatch rules."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(
        user.is_superuser
        or any(p.role in (Role.COMMAND_CENTER, Role.ADMIN) for p in active_posts(user))
    )


def _may_edit_everywhere(user: Any) -> bool:
    scope = scope_for(user)
    if scope.everything:
        return True
    return any(
        p.role == Role.COMMAND_CENTER and p.region is not None and p.region.parent_id is None
        for p in active_posts(user)
    )


def _region_in_scope(user: Any, region: Region) -> bool:
    return Region.objects.visible_to(user).filter(pk=region.pk).exists()


def _validate(
    *,
    user: Any,
    region: Region | None,
    level: str,
    lead: Department | None,
    co: list[Department],
) -> None:
    if level not in HandlerLevel.values:
        raise JiayuanError("请选择首接层级", code="invalid_choice", field="level")
    if region is None:
        if not _may_edit_everywhere(user):
            raise JiayuanError(
                "请选择适用区划（全市通用规则只能由市级指挥中心设置）", field="region"
            )
    elif not _region_in_scope(user, region):
        raise JiayuanError("该区划不在您的管辖范围内", code="out_of_scope", field="region")
    if level == HandlerLevel.DEPARTMENT:
        if lead is None:
            raise JiayuanError("派给职能部门时必须选择主办部门", code="required", field="lead")
    elif lead is not None or co:
        raise JiayuanError(
            "只有首接层级为“职能部门”时才能选择主办、协办部门", code="invalid", field="lead"
        )
    if lead is not None and lead in co:
        raise JiayuanError("主办与协办部门不能重复", code="duplicate", field="co")
    if region is not None:
        for dept in [d for d in [lead, *co] if d is not None]:
            path = dept.region.path
            if not (
                region.path == path
                or region.path.startswith(path + PATH_SEP)
                or path.startswith(region.path + PATH_SEP)
            ):
                raise JiayuanError(
                    f"{dept.name}不负责该区划，不能作为派单部门", code="out_of_scope", field="lead"
                )


def dispatch_rule_save(
    *,
    user: Any,
    rule: DispatchRule | None = None,
    name: str,
    region: Region | None,
    category: Category | None,
    level: str,
    lead: Department | None = None,
    co: list[Department] | None = None,
    is_active: bool = True,
    note: str = "",
) -> DispatchRule:
    """Create or update a dispatch rule after checking who may and what is coherent."""
    if not may_edit_rules(user):
        raise JiayuanError("只有指挥中心或管理员可以设置派单规则", code="forbidden")
    name = (name or "").strip()
    if not name:
        raise JiayuanError("请填写规则名称", code="required", field="name")
    co = list(co or [])
    _validate(user=user, region=region, level=level, lead=lead, co=co)
    rule = rule or DispatchRule()
    rule.name, rule.region, rule.category, rule.level = name[:60], region, category, level
    rule.lead, rule.is_active, rule.note = lead, is_active, (note or "").strip()[:200]
    rule.updated_at, rule.updated_by = timezone.now(), user
    try:
        with transaction.atomic():
            rule.save()
            rule.co.set(co)
    except IntegrityError:
        raise JiayuanError(
            "该区划与分类已有一条派单规则，请直接修改那一条", code="duplicate", field="category"
        ) from None
    reload()
    return rule


def rules_visible_to(user: Any) -> list[DispatchRule]:
    return list(
        DispatchRule.objects.visible_to(user)
        .select_related("region", "category__parent", "lead")
        .prefetch_related("co")
        .order_by("region__path", "category__sort", "id")
    )


def access_rule(user: Any, pk: int) -> DispatchRule:
    from jiayuan.core.errors import NotFound

    rule = DispatchRule.objects.visible_to(user).filter(pk=pk).first()
    if rule is None:
        raise NotFound("派单规则不存在或不在您的管辖范围内")
    return rule


@dataclass(frozen=True)
class Preview:
    count: int
    examples: list[Ticket]
    days: int


def rule_preview(
    *,
    user: Any,
    region: Region | None,
    category: Category | None,
    days: int = 30,
    now: dt.datetime | None = None,
    examples: int = 5,
) -> Preview:
    """Which tickets of the last ``days`` days, among those the user can see, a rule for this
    region × category would have caught (located under the region, of the category or one of
    its subcategories). Rules more specific than it are not subtracted: it is an upper bound."""
    now = now or timezone.now()
    qs = Ticket.objects.visible_to(user).filter(created_at__gte=now - dt.timedelta(days=days))
    if region is not None:
        qs = qs.filter(Q(grid_path=region.path) | Q(grid_path__startswith=region.path + PATH_SEP))
    else:
        qs = qs.exclude(grid_path="")
    if category is not None:
        qs = qs.filter(Q(category=category) | Q(category__parent=category))
    count = qs.order_by()[:100_000].count()
    rows = list(qs.select_related("category", "grid").order_by("-created_at")[:examples])
    return Preview(count=count, examples=rows, days=days)
