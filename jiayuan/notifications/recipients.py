"""Who must be told (读): the users behind a region's handler posts, a department's officers,
the command centre over a node, the supervisors above it, and "whoever must act on this ticket
now". Reads only; ``services`` writes."""

from __future__ import annotations

from collections.abc import Iterable

from jiayuan.regions.models import Region
from jiayuan.staff.choices import Role
from jiayuan.staff.models import Post
from jiayuan.tickets.choices import AssignmentState, Level
from jiayuan.tickets.models import Ticket
from jiayuan.tickets.workflow import HANDLER_ROLES, SUPERVISOR_ROLES


def _users(posts: Iterable[int]) -> list[int]:
    return sorted(set(posts))


def _active_posts():  # type: ignore[no-untyped-def]
    return Post.objects.filter(is_active=True, user__is_active=True)


def handlers_at(*, region_id: int | None, level: str) -> list[int]:
    """Users with an active post at this node whose role handles this rung (网格员 at a grid …)."""
    roles = HANDLER_ROLES.get(level)
    if region_id is None or not roles:
        return []
    return _users(
        _active_posts()
        .filter(region_id=region_id, role__in=roles)
        .values_list("user_id", flat=True)
    )


def department_officers(*, department_ids: Iterable[int]) -> list[int]:
    ids = list(department_ids)
    if not ids:
        return []
    return _users(
        _active_posts()
        .filter(role=Role.DEPARTMENT_OFFICER, department_id__in=ids)
        .values_list("user_id", flat=True)
    )


def command_centre_over(*, region: Region | None) -> list[int]:
    """指挥中心 posts at this node or above it (the triage queue is theirs)."""
    if region is None:
        return _users(
            _active_posts().filter(role=Role.COMMAND_CENTER).values_list("user_id", flat=True)
        )
    return _users(
        _active_posts()
        .filter(role=Role.COMMAND_CENTER, region__code__in=region.ancestor_codes())
        .values_list("user_id", flat=True)
    )


def supervisors_above(*, region: Region | None) -> list[int]:
    """The supervising posts (社区书记 / 街道 / 指挥中心) of the nearest node above ``region``
    that has any: who approves an extension."""
    if region is None:
        return []
    codes = region.ancestor_codes()[:-1]
    rows = list(
        _active_posts()
        .filter(role__in=SUPERVISOR_ROLES, region__code__in=codes)
        .values_list("region__code", "user_id")
    )
    for code in reversed(codes):
        users = [u for c, u in rows if c == code]
        if users:
            return _users(users)
    return []


def live_departments(ticket: Ticket) -> list[int]:
    """Departments still working on the ticket (pending or accepted assignments)."""
    return list(
        ticket.assignments.filter(
            state__in=[AssignmentState.PENDING, AssignmentState.ACCEPTED]
        ).values_list("department_id", flat=True)
    )


def actors_of(ticket: Ticket) -> list[int]:
    """Whoever must act on the ticket now: the departments' officers when it is with
    departments; the handler who accepted it; otherwise every handler post at its owner node."""
    if ticket.level == Level.DEPARTMENT:
        return department_officers(department_ids=live_departments(ticket))
    if ticket.owner_user_id is not None:
        return [ticket.owner_user_id]
    return handlers_at(region_id=ticket.owner_region_id, level=ticket.level)
