"""SLA policies (时限规则): which policy applies to a ticket, and the deadlines it gives.

Resolution goes up both trees (STYLE habit 7): the nearest region with a policy wins, and at
that region the category's own policy beats its parent category's, which beats an any-category
policy. With no row at all, the seeds' "123" rule applies (accept within 1 working day, resolve
within 2, feed back within 3); urgent categories count the same numbers in hours.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from jiayuan.core import calendar
from jiayuan.tickets.models import Category, SlaPolicy

DEFAULT_POLICY = SlaPolicy(
    name="默认“123”规则",
    accept_within=1,
    resolve_within=2,
    feedback_within=3,
    warn_before_hours=4,
    auto_action=SlaPolicy.AutoAction.SUPERVISE,
    max_reopen=2,
)


@dataclass(frozen=True)
class Deadlines:
    accept_due: dt.datetime
    resolve_due: dt.datetime
    feedback_due: dt.datetime


_CACHE_SECONDS = 60


class _Cache:
    """All policies, read once a minute per process (a handful of rows, read on every intake)."""

    lock = threading.Lock()
    policies: dict[tuple[int | None, int | None], SlaPolicy] | None = None
    loaded_at = 0.0


def reload() -> None:
    """Forget the cached policies (after an edit in this process; tests)."""
    with _Cache.lock:
        _Cache.policies = None


def _policies() -> dict[tuple[int | None, int | None], SlaPolicy]:
    with _Cache.lock:
        if _Cache.policies is None or time.monotonic() - _Cache.loaded_at > _CACHE_SECONDS:
            _Cache.policies = {(p.region_id, p.category_id): p for p in SlaPolicy.objects.all()}
            _Cache.loaded_at = time.monotonic()
        return _Cache.policies


@receiver([post_save, post_delete], sender=SlaPolicy)
def _policy_changed(**kwargs: Any) -> None:
    reload()


def policy_for(*, category: Category | None, region: Any | None) -> SlaPolicy:
    """The policy for a category at a region node (see module docstring for the order)."""
    policies = _policies()
    if not policies:
        return DEFAULT_POLICY
    region_ids: list[int | None] = []
    if region is not None and any(r is not None for r, _ in policies):
        from jiayuan.regions.models import Region

        codes = region.ancestor_codes()
        ids = dict(Region.objects.filter(code__in=codes).values_list("code", "id"))
        region_ids = [ids[c] for c in reversed(codes) if c in ids]
    region_ids.append(None)
    category_ids: list[int | None] = []
    if category is not None:
        category_ids.append(category.pk)
        if category.parent_id:
            category_ids.append(category.parent_id)
    category_ids.append(None)
    for region_id in region_ids:
        for category_id in category_ids:
            policy = policies.get((region_id, category_id))
            if policy is not None:
                return policy
    return DEFAULT_POLICY


def deadlines(*, policy: SlaPolicy, start: dt.datetime, urgent: bool) -> Deadlines:
    """Deadlines for a ticket arriving at a level at ``start``."""
    if urgent or policy.in_hours:
        return Deadlines(
            accept_due=calendar.add_hours(start, policy.accept_within),
            resolve_due=calendar.add_hours(start, policy.resolve_within),
            feedback_due=calendar.add_hours(start, policy.feedback_within),
        )
    return Deadlines(
        accept_due=calendar.add_working_days(start, policy.accept_within),
        resolve_due=calendar.add_working_days(start, policy.resolve_within),
        feedback_due=calendar.add_working_days(start, policy.feedback_within),
    )
