"""The declared workflow of a ticket (下呼上应) and the one ``transition()`` that applies it.

``RULES`` is the table: for each action, the states it may start from, who may do it, and what
it changes. ``transition`` checks the table, computes the change, appends the hash-chained event
and updates the row with ``UPDATE … WHERE id = … AND version = …`` — nothing else writes
``Ticket.state``. A concurrent change makes the UPDATE miss and the caller gets a ``conflict``.

Who may act is decided from the actor's posts relative to the ticket:

- ``handler``: a post at the ticket's current owner region, with a role that handles that level
  (网格员 at a grid, 社区工作者/书记 at a community, 街道 at a street, 指挥中心 at a district);
- ``supervisor``: a 社区书记 / 街道 / 指挥中心 post at a node above the owner region;
- ``dispatcher``: a 指挥中心 post over the ticket (the triage queue is theirs);
- ``department``: a 职能部门 post whose department holds a live assignment on the ticket;
- ``reporter``: the resident who reported it (or someone the view verified by number + phone);
- ``system``: the intake and the SLA sweeper.

A superuser or an ``admin`` post may act as handler, supervisor and dispatcher.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from jiayuan.core.errors import JiayuanError, PermissionDenied
from jiayuan.core.scoping import PATH_SEP
from jiayuan.regions.choices import Level as RegionLevel
from jiayuan.regions.models import Region
from jiayuan.staff.choices import Role
from jiayuan.staff.models import Department, Post
from jiayuan.staff.selectors import active_posts, display_name
from jiayuan.tickets import sla
from jiayuan.tickets.choices import (
    LADDER,
    OPEN_STATES,
    AssignmentRole,
    AssignmentState,
    Level,
    Rating,
    State,
)
from jiayuan.tickets.events import GENESIS, build_event
from jiayuan.tickets.models import Ticket, TicketAssignment, TicketEvent

HANDLER_ROLES: dict[str, set[str]] = {
    Level.GRID: {Role.GRID_WORKER},
    Level.COMMUNITY: {Role.COMMUNITY_WORKER, Role.COMMUNITY_SECRETARY},
    Level.STREET: {Role.STREET_OFFICER},
    Level.DISTRICT: {Role.COMMAND_CENTER},
}
SUPERVISOR_ROLES = {Role.COMMUNITY_SECRETARY, Role.STREET_OFFICER, Role.COMMAND_CENTER}
DISPATCH_LEVELS = {Level.COMMUNITY, Level.STREET, Level.DISTRICT}
MAX_EXTENSION_DAYS = 30


class InvalidTransition(JiayuanError):
    code = "invalid_transition"
    status = 409


class Conflict(JiayuanError):
    code = "conflict"
    status = 409


def level_of(region: Region) -> str:
    """The ladder rung of a region node."""
    rungs: dict[str, str] = {
        RegionLevel.MICRO_GRID: Level.GRID,
        RegionLevel.GRID: Level.GRID,
        RegionLevel.COMMUNITY: Level.COMMUNITY,
        RegionLevel.STREET: Level.STREET,
    }
    return rungs.get(region.level, Level.DISTRICT)


def ladder_parent(region: Region) -> Region | None:
    """The node a call-up goes to: a micro-grid's grid skips to the community."""
    parent = region.parent
    if (
        parent is not None
        and parent.level == RegionLevel.GRID
        and region.level == RegionLevel.MICRO_GRID
    ):
        parent = parent.parent
    if (
        parent is not None
        and parent.level == RegionLevel.CITY
        and region.level == RegionLevel.DISTRICT
    ):
        return None
    return parent


@dataclass
class Actor:
    """Who is acting, and as what (filled by ``authorize``)."""

    user: Any = None
    post: Post | None = None
    as_reporter: bool = False
    system: bool = False
    label: str = ""


@dataclass
class Change:
    fields: dict[str, Any] = field(default_factory=dict)
    to_region: Region | None = None
    department: Department | None = None
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    after: Callable[[Ticket], None] | None = None


@dataclass(frozen=True)
class Rule:
    action: str
    label: str
    sources: frozenset[str]
    who: tuple[str, ...]
    effect: Callable[..., Change]


def _is_admin(user: Any) -> bool:
    return bool(
        user is not None
        and (user.is_superuser or any(p.role == Role.ADMIN for p in active_posts(user)))
    )


def _path_under(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith(ancestor + PATH_SEP)


def _handler_post(user: Any, ticket: Ticket) -> Post | None:
    if ticket.owner_region_id is None:
        return None
    roles = HANDLER_ROLES.get(ticket.level, set())
    for post in active_posts(user):
        if post.region_id == ticket.owner_region_id and post.role in roles:
            return post
    return None


def _supervisor_post(user: Any, ticket: Ticket) -> Post | None:
    target = ticket.owner_region or ticket.grid
    if target is None:
        return None
    for post in active_posts(user):
        if (
            post.role in SUPERVISOR_ROLES
            and post.region is not None
            and post.region_id != target.pk
            and _path_under(target.path, post.region.path)
        ):
            return post
    return None


def _dispatcher_post(user: Any, ticket: Ticket) -> Post | None:
    target = ticket.owner_region or ticket.grid
    for post in active_posts(user):
        if (
            post.role == Role.COMMAND_CENTER
            and post.region is not None
            and (target is None or _path_under(target.path, post.region.path))
        ):
            return post
    return None


def _department_post(user: Any, ticket: Ticket) -> Post | None:
    live = set(
        ticket.assignments.exclude(state=AssignmentState.RETURNED).values_list(
            "department_id", flat=True
        )
    )
    for post in active_posts(user):
        if post.role == Role.DEPARTMENT_OFFICER and post.department_id in live:
            return post
    return None


def _is_reporter(user: Any, ticket: Ticket) -> bool:
    return (
        user is not None
        and getattr(user, "is_authenticated", False)
        and (ticket.reporter_id == user.pk)
    )


def authorize(rule: Rule, ticket: Ticket, actor: Actor) -> Actor:
    """Fill ``actor.post`` and ``actor.label`` for the first capability that applies."""
    user = actor.user
    for who in rule.who:
        if who == "system" and actor.system:
            return Actor(user=None, system=True, label="系统")
        if who == "reporter" and (actor.as_reporter or _is_reporter(user, ticket)):
            return Actor(
                user=user if _is_reporter(user, ticket) else None, as_reporter=True, label="诉求人"
            )
        if user is None or not getattr(user, "is_authenticated", False):
            continue
        finder = {
            "handler": _handler_post,
            "supervisor": _supervisor_post,
            "dispatcher": _dispatcher_post,
            "department": _department_post,
        }.get(who)
        if finder is None:
            continue
        post = finder(user, ticket)
        if post is not None:
            return Actor(
                user=user,
                post=post,
                label=f"{post.get_role_display()}·{display_name(user)}",
            )
        if who in {"handler", "supervisor", "dispatcher"} and _is_admin(user):
            return Actor(user=user, label=f"管理员·{user.get_username()}")
    raise PermissionDenied(f"您的岗位不能对该工单执行“{rule.label}”")


# --- effects: compute the change; they validate their own data ---------------------------------


def _arrival(ticket: Ticket, region: Region, now: dt.datetime) -> dict[str, Any]:
    """Fields for a ticket arriving at ``region`` (new level, new deadlines)."""
    policy = sla.policy_for(category=ticket.category, region=region)
    due = sla.deadlines(policy=policy, start=now, urgent=ticket.urgency == "urgent")
    return {
        "level": level_of(region),
        "owner_region": region,
        "owner_user": None,
        "accept_due": due.accept_due,
        "resolve_due": due.resolve_due,
        "feedback_due": due.feedback_due,
        "deadline_gen": ticket.deadline_gen + 1,
    }


def _need_text(data: dict[str, Any], key: str, message: str, max_len: int = 2000) -> str:
    value = str(data.get(key) or "").strip()
    if not value:
        raise JiayuanError(message, code="required", field=key)
    if len(value) > max_len:
        raise JiayuanError(f"内容过长（最多{max_len}字）", code="too_long", field=key)
    return value


def _region_arg(data: dict[str, Any], key: str = "region") -> Region:
    value = data.get(key)
    region = (
        value
        if isinstance(value, Region)
        else Region.objects.filter(pk=value).first()
        if value
        else None
    )
    if region is None:
        raise JiayuanError("请选择承办区划或网格", code="required", field=key)
    return region


def _check_region_reach(actor: Actor, region: Region, field: str = "region") -> None:
    """A target region must lie inside the acting post's own subtree (admins reach all)."""
    if actor.user is None or _is_admin(actor.user):
        return
    post_region = actor.post.region if actor.post is not None else None
    if post_region is None or not _path_under(region.path, post_region.path):
        raise JiayuanError("目标单位不在您的管辖范围内", code="out_of_scope", field=field)


def _check_department_reach(ticket: Ticket, departments: list[Department]) -> None:
    """A department can be dispatched to when it sits on the ticket's branch of the tree: at an
    ancestor of the ticket's current owner (区级部门 for a street) or below it."""
    owner = ticket.owner_region
    if owner is None:
        return
    for dept in departments:
        dept_path = dept.region.path
        if not (_path_under(owner.path, dept_path) or _path_under(dept_path, owner.path)):
            raise JiayuanError(
                f"{dept.name}不负责该区域，不能派单", code="out_of_scope", field="lead"
            )


def _departments_arg(data: dict[str, Any], ticket: Ticket) -> tuple[Department, list[Department]]:
    lead = data.get("lead")
    co = data.get("co") or []
    lead_dept = (
        lead
        if isinstance(lead, Department)
        else Department.objects.filter(pk=lead).first()
        if lead
        else None
    )
    if lead_dept is None:
        raise JiayuanError("请选择主办部门", code="required", field="lead")
    co_depts = [
        d if isinstance(d, Department) else Department.objects.filter(pk=d).first() for d in co
    ]
    if any(d is None for d in co_depts):
        raise JiayuanError("协办部门不存在", code="invalid_choice", field="co")
    co_list = [d for d in co_depts if d is not None]
    if lead_dept in co_list or len({d.pk for d in co_list}) != len(co_list):
        raise JiayuanError("主办与协办部门不能重复", code="duplicate", field="co")
    return lead_dept, co_list


def _make_assignments(
    ticket: Ticket, lead: Department, co: list[Department], origin: Region, now: dt.datetime
) -> Callable[[Ticket], None]:
    def after(t: Ticket) -> None:
        for dept, role in [(lead, AssignmentRole.LEAD), *[(d, AssignmentRole.CO) for d in co]]:
            TicketAssignment.objects.update_or_create(
                ticket=t,
                department=dept,
                defaults={
                    "role": role,
                    "state": AssignmentState.PENDING,
                    "dispatched_from": origin,
                    "created_at": now,  # the dispatch's own time, as on its event
                    "accepted_at": None,
                    "finished_at": None,
                    "result": "",
                },
            )

    return after


def _dispatch_change(
    ticket: Ticket, data: dict[str, Any], now: dt.datetime, action_note: str
) -> Change:
    lead, co = _departments_arg(data, ticket)
    _check_department_reach(ticket, [lead, *co])
    origin = ticket.owner_region
    assert origin is not None
    policy = sla.policy_for(category=ticket.category, region=origin)
    due = sla.deadlines(policy=policy, start=now, urgent=ticket.urgency == "urgent")
    return Change(
        fields={
            "state": State.DISPATCHED,
            "level": Level.DEPARTMENT,
            "owner_user": None,
            "accept_due": due.accept_due,
            "resolve_due": due.resolve_due,
            "feedback_due": due.feedback_due,
            "deadline_gen": ticket.deadline_gen + 1,
        },
        department=lead,
        note=str(data.get("note") or action_note),
        data={"lead": lead.pk, "co": [d.pk for d in co]},
        after=_make_assignments(ticket, lead, co, origin, now),
    )


def effect_assign(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    region = _region_arg(data)
    _check_region_reach(actor, region)
    category = data.get("category")
    fields = {"state": State.ASSIGNED, **_arrival(ticket, region, now)}
    if region.level in (RegionLevel.GRID, RegionLevel.MICRO_GRID):
        fields["grid"] = region
    if category is not None:
        fields["category"] = category
    return Change(fields=fields, to_region=region, note=str(data.get("note") or ""))


def effect_triage(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    note = _need_text(data, "note", "请说明退回分拨的原因")
    root = ticket.owner_region
    while root is not None and root.level not in (RegionLevel.DISTRICT, RegionLevel.CITY):
        root = root.parent
    return Change(
        fields={
            "state": State.TRIAGE,
            "level": Level.DISTRICT,
            "owner_region": root,
            "owner_user": None,
        },
        to_region=root,
        note=note,
    )


def effect_accept(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    fields: dict[str, Any] = {"state": State.IN_PROGRESS, "owner_user": actor.user}
    if ticket.accepted_at is None:
        fields["accepted_at"] = now
    return Change(fields=fields, note=str(data.get("note") or ""))


def effect_handle(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    return Change(fields={}, note=_need_text(data, "note", "请填写办理进展"))


def effect_call_up(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    note = _need_text(data, "note", "请说明需要上级协调解决的事项")
    if data.get("lead"):
        change = _dispatch_change(ticket, data, now, note)  # 吹哨: straight to the departments
        change.data["whistle"] = True
        change.note = note
        return change
    current = ticket.owner_region
    assert current is not None
    parent = ladder_parent(current)
    if parent is None:
        raise InvalidTransition("已是最高层级，请派单给职能部门", field="lead")
    fields = {"state": State.CALLED_UP, "called_from": current, **_arrival(ticket, parent, now)}
    return Change(fields=fields, to_region=parent, note=note)


def effect_respond(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    fields: dict[str, Any] = {"state": State.IN_PROGRESS, "owner_user": actor.user}
    if ticket.accepted_at is None:
        fields["accepted_at"] = now
    return Change(fields=fields, note=str(data.get("note") or ""))


def effect_dispatch(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    if ticket.level not in DISPATCH_LEVELS:
        raise InvalidTransition("网格不能直接派单，请呼叫上级或“吹哨”", field="lead")
    return _dispatch_change(ticket, data, now, "派单")


def _assignment_of(ticket: Ticket, actor: Actor) -> TicketAssignment:
    assert actor.post is not None and actor.post.department_id is not None
    assignment = (
        ticket.assignments.filter(department_id=actor.post.department_id)
        .exclude(state=AssignmentState.RETURNED)
        .first()
    )
    if assignment is None:
        raise PermissionDenied("本部门没有该工单的派单")
    return assignment


def effect_dept_accept(
    ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime
) -> Change:
    assignment = _assignment_of(ticket, actor)
    if assignment.state != AssignmentState.PENDING:
        raise InvalidTransition("本部门已签收")
    fields: dict[str, Any] = {}
    if ticket.accepted_at is None:
        fields["accepted_at"] = now

    def after(t: Ticket) -> None:
        TicketAssignment.objects.filter(pk=assignment.pk).update(
            state=AssignmentState.ACCEPTED, accepted_at=now
        )

    return Change(
        fields=fields, department=assignment.department, after=after, data={"role": assignment.role}
    )


def _all_done_after(
    ticket: Ticket, finished_pk: int | None = None, returned_pk: int | None = None
) -> bool:
    rows = list(ticket.assignments.all())
    live = [a for a in rows if a.state != AssignmentState.RETURNED and a.pk != returned_pk]
    lead = [a for a in live if a.role == AssignmentRole.LEAD]
    return bool(lead) and all(
        a.state == AssignmentState.FINISHED or a.pk == finished_pk for a in live
    )


def effect_dept_finish(
    ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime
) -> Change:
    assignment = _assignment_of(ticket, actor)
    if assignment.state != AssignmentState.ACCEPTED:
        raise InvalidTransition("请先签收再反馈办理结果")
    result = _need_text(data, "result", "请填写办理结果")
    done = _all_done_after(ticket, finished_pk=assignment.pk)
    fields: dict[str, Any] = {}
    if done:
        lead = (
            ticket.assignments.filter(role=AssignmentRole.LEAD)
            .exclude(state=AssignmentState.RETURNED)
            .first()
        )
        lead_result = (
            result if assignment.role == AssignmentRole.LEAD else (lead.result if lead else "")
        )
        fields = {
            "state": State.RESOLVED,
            "resolved_at": now,
            "resolved_level": Level.DEPARTMENT,
            "result": lead_result,
        }

    def after(t: Ticket) -> None:
        TicketAssignment.objects.filter(pk=assignment.pk).update(
            state=AssignmentState.FINISHED, finished_at=now, result=result
        )

    return Change(
        fields=fields,
        department=assignment.department,
        note=result,
        after=after,
        data={"role": assignment.role, "resolved": done},
    )


def effect_return(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    reason = _need_text(data, "reason", "请填写回退理由")
    if ticket.state == State.CALLED_UP:
        origin = ticket.called_from
        if origin is None:
            raise InvalidTransition("没有可退回的下级")
        fields = {"state": State.IN_PROGRESS, **_arrival(ticket, origin, now), "called_from": None}
        fields["owner_user"] = None
        return Change(fields=fields, to_region=origin, note=reason)
    assignment = _assignment_of(ticket, actor)
    if assignment.state == AssignmentState.FINISHED:
        raise InvalidTransition("已反馈的派单不能回退")
    origin = assignment.dispatched_from
    if assignment.role == AssignmentRole.LEAD:
        # The lead gives it back: the dispatcher has it again; every live assignment ends.
        fields = {"state": State.IN_PROGRESS, **_arrival(ticket, origin, now)}

        def after(t: Ticket) -> None:
            t.assignments.exclude(state=AssignmentState.FINISHED).update(
                state=AssignmentState.RETURNED
            )
            TicketAssignment.objects.filter(pk=assignment.pk).update(
                state=AssignmentState.RETURNED, result=reason
            )

        return Change(
            fields=fields,
            to_region=origin,
            department=assignment.department,
            note=reason,
            after=after,
            data={"role": "lead"},
        )
    done = _all_done_after(ticket, returned_pk=assignment.pk)
    fields = (
        {"state": State.RESOLVED, "resolved_at": now, "resolved_level": Level.DEPARTMENT}
        if done
        else {}
    )

    def after_co(t: Ticket) -> None:
        TicketAssignment.objects.filter(pk=assignment.pk).update(
            state=AssignmentState.RETURNED, result=reason
        )

    return Change(
        fields=fields,
        department=assignment.department,
        note=reason,
        after=after_co,
        data={"role": "co", "resolved": done},
    )


def effect_transfer(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    region = _region_arg(data)
    current = ticket.owner_region
    if current is not None and level_of(region) != level_of(current):
        raise JiayuanError("转办只能转给同一层级的单位", code="invalid_transfer", field="region")
    if current is not None and region.pk == current.pk:
        raise JiayuanError("不能转办给本单位", code="invalid_transfer", field="region")
    if (
        actor.user is not None
        and not _is_admin(actor.user)
        and not Region.objects.visible_to(actor.user).filter(pk=region.pk).exists()
    ):
        parent = current.parent if current is not None else None
        if parent is None or region.parent_id != parent.pk:
            raise JiayuanError(
                "只能转办给管辖范围内或同一上级下的单位", code="invalid_transfer", field="region"
            )
    note = _need_text(data, "note", "请说明转办原因")
    fields = {"state": State.ASSIGNED, **_arrival(ticket, region, now)}
    if region.level in (RegionLevel.GRID, RegionLevel.MICRO_GRID):
        fields["grid"] = region
    return Change(fields=fields, to_region=region, note=note)


def effect_request_extension(
    ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime
) -> Change:
    if ticket.extension_requested_days:
        raise InvalidTransition("已有待审批的延期申请")
    try:
        days = int(data.get("days") or 0)
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise JiayuanError(
            f"延期天数应为 1 到 {MAX_EXTENSION_DAYS} 个工作日", code="invalid_days", field="days"
        )
    reason = _need_text(data, "reason", "请填写延期理由")
    return Change(fields={"extension_requested_days": days}, note=reason, data={"days": days})


def effect_approve_extension(
    ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime
) -> Change:
    days = ticket.extension_requested_days
    if not days:
        raise InvalidTransition("没有待审批的延期申请")
    approve = bool(data.get("approve", True))
    fields: dict[str, Any] = {"extension_requested_days": None}
    if approve:
        from jiayuan.core import calendar

        base = ticket.resolve_due or now
        fields["resolve_due"] = calendar.add_working_days(base, days)
        if ticket.feedback_due is not None:
            fields["feedback_due"] = calendar.add_working_days(ticket.feedback_due, days)
        fields["deadline_gen"] = ticket.deadline_gen + 1
    return Change(
        fields=fields,
        note=str(data.get("note") or ("同意延期" if approve else "不同意延期")),
        data={"days": days, "approved": approve},
    )


def effect_supervise(
    ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime
) -> Change:
    from jiayuan.core import calendar

    try:
        days = int(data.get("days") or 1)
    except (TypeError, ValueError):
        raise JiayuanError("督办期限应为工作日天数", code="invalid_days", field="days") from None
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise JiayuanError(
            f"督办期限应为 1 到 {MAX_EXTENSION_DAYS} 个工作日", code="invalid_days", field="days"
        )
    note = str(data.get("note") or "").strip() or "请抓紧办理"
    return Change(
        fields={"supervised": True, "supervise_due": calendar.add_working_days(now, days)},
        note=note,
        data={"days": days, "auto": actor.system},
    )


def effect_resolve(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    result = _need_text(data, "result", "请填写办理结果")
    return Change(
        fields={
            "state": State.RESOLVED,
            "resolved_at": now,
            "result": result,
            "resolved_level": ticket.level,
            "supervised": False,
        },
        note=result,
        data={"photos": data.get("photos") or []},
    )


def effect_rate(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    value = data.get("rating")
    if value not in Rating.values:
        raise JiayuanError("请选择满意、基本满意或不满意", code="invalid_choice", field="rating")
    comment = str(data.get("comment") or "").strip()[:500]
    if value != Rating.UNSATISFIED:
        return Change(
            fields={
                "state": State.CLOSED,
                "rating": value,
                "rating_comment": comment,
                "closed_at": now,
            },
            note=comment,
            data={"rating": value},
        )
    policy = sla.policy_for(category=ticket.category, region=ticket.owner_region)
    if ticket.reopen_count >= policy.max_reopen:
        # Past the policy's limit the ticket is closed as unsatisfied and goes under supervision.
        return Change(
            fields={
                "state": State.CLOSED,
                "rating": value,
                "rating_comment": comment,
                "closed_at": now,
                "supervised": True,
            },
            note=comment,
            data={"rating": value, "reopen_limit": policy.max_reopen},
        )
    region = ticket.owner_region
    if ticket.level == Level.DEPARTMENT:
        lead = ticket.assignments.filter(role=AssignmentRole.LEAD).first()
        region = lead.dispatched_from if lead else region
    assert region is not None
    fields = {
        "state": State.IN_PROGRESS,
        "rating": value,
        "rating_comment": comment,
        "reopen_count": ticket.reopen_count + 1,
        "resolved_at": None,
        **_arrival(ticket, region, now),
    }
    fields["owner_user"] = ticket.owner_user if ticket.level != Level.DEPARTMENT else None
    return Change(
        fields=fields, to_region=region, note=comment, data={"rating": value, "reopened": True}
    )


def effect_cancel(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    return Change(
        fields={"state": State.CANCELLED, "closed_at": now}, note=str(data.get("reason") or "")
    )


def effect_merge(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    target = data.get("into")
    target_ticket = (
        target
        if isinstance(target, Ticket)
        else Ticket.objects.filter(pk=target).first()
        if target
        else None
    )
    if target_ticket is None or target_ticket.pk == ticket.pk:
        raise JiayuanError("请选择要合并到的工单", code="required", field="into")
    if target_ticket.state not in OPEN_STATES and target_ticket.state != State.RESOLVED:
        raise JiayuanError("只能合并到未结案的工单", code="invalid_merge", field="into")
    if target_ticket.merged_into_id:
        raise JiayuanError("目标工单已被合并", code="invalid_merge", field="into")
    return Change(
        fields={"state": State.MERGED, "merged_into": target_ticket, "closed_at": now},
        note=str(data.get("note") or f"与 {target_ticket.number} 重复，合并办理"),
        data={"into": target_ticket.pk, "into_number": target_ticket.number},
    )


def effect_archive(ticket: Ticket, actor: Actor, data: dict[str, Any], now: dt.datetime) -> Change:
    fields: dict[str, Any] = {"state": State.ARCHIVED}
    if ticket.state == State.RESOLVED:
        fields.update({"closed_at": now, "rating": Rating.SATISFIED})
        return Change(fields=fields, note="逾期未评价，默认满意归档", data={"default_rating": True})
    return Change(fields=fields, note=str(data.get("note") or ""))


OPEN = frozenset(OPEN_STATES)
RULES: dict[str, Rule] = {
    r.action: r
    for r in [
        Rule("assign", "分拨", frozenset({State.TRIAGE}), ("dispatcher",), effect_assign),
        Rule(
            "triage", "退回分拨", frozenset({State.ASSIGNED}), ("handler", "system"), effect_triage
        ),
        Rule("accept", "签收", frozenset({State.ASSIGNED}), ("handler",), effect_accept),
        Rule("handle", "办理进展", frozenset({State.IN_PROGRESS}), ("handler",), effect_handle),
        Rule(
            "call_up",
            "呼叫上级",
            frozenset({State.IN_PROGRESS}),
            ("handler", "system"),
            effect_call_up,
        ),
        Rule("respond", "响应", frozenset({State.CALLED_UP}), ("handler",), effect_respond),
        Rule("dispatch", "派单", frozenset({State.IN_PROGRESS}), ("handler",), effect_dispatch),
        Rule(
            "dept_accept",
            "部门签收",
            frozenset({State.DISPATCHED}),
            ("department",),
            effect_dept_accept,
        ),
        Rule(
            "dept_finish",
            "部门反馈",
            frozenset({State.DISPATCHED}),
            ("department",),
            effect_dept_finish,
        ),
        Rule(
            "return",
            "回退",
            frozenset({State.DISPATCHED, State.CALLED_UP}),
            ("department", "handler"),
            effect_return,
        ),
        Rule(
            "transfer",
            "转办",
            frozenset({State.ASSIGNED, State.IN_PROGRESS}),
            ("handler", "supervisor"),
            effect_transfer,
        ),
        Rule(
            "request_extension",
            "申请延期",
            frozenset({State.IN_PROGRESS, State.DISPATCHED}),
            ("handler", "department"),
            effect_request_extension,
        ),
        Rule(
            "approve_extension",
            "审批延期",
            frozenset({State.IN_PROGRESS, State.DISPATCHED}),
            ("supervisor", "dispatcher"),
            effect_approve_extension,
        ),
        Rule("supervise", "督办", OPEN, ("supervisor", "dispatcher", "system"), effect_supervise),
        Rule("resolve", "办结", frozenset({State.IN_PROGRESS}), ("handler",), effect_resolve),
        Rule("rate", "评价", frozenset({State.RESOLVED}), ("reporter", "dispatcher"), effect_rate),
        Rule(
            "cancel",
            "撤销",
            frozenset({State.TRIAGE, State.ASSIGNED}),
            ("reporter",),
            effect_cancel,
        ),
        Rule("merge", "合并重复件", OPEN, ("handler", "supervisor", "dispatcher"), effect_merge),
        Rule(
            "archive",
            "归档",
            frozenset({State.CLOSED, State.RESOLVED}),
            ("supervisor", "dispatcher", "system"),
            effect_archive,
        ),
    ]
}


def allowed_actions(ticket: Ticket, user: Any) -> list[Rule]:
    """The actions this user may take on this ticket now (for the ticket page's buttons)."""
    result = []
    for rule in RULES.values():
        if ticket.state not in rule.sources:
            continue
        if rule.action == "archive" and ticket.state == State.RESOLVED:
            continue  # only the sweeper archives an unrated ticket
        if (
            rule.action == "return"
            and ticket.state == State.CALLED_UP
            and not _handler_post(user, ticket)
        ):
            continue
        try:
            authorize(rule, ticket, Actor(user=user))
        except PermissionDenied:
            continue
        result.append(rule)
    return result


@dataclass
class _Prepared:
    """A transition computed but not written: the event and the ticket's new field values."""

    ticket: Ticket
    event: TicketEvent
    fields: dict[str, Any]
    change: Change


def _prepare(
    ticket: Ticket,
    action: str,
    *,
    actor: Any,
    as_reporter: bool,
    system: bool,
    now: dt.datetime,
    data: dict[str, Any],
) -> _Prepared:
    """Check and compute one transition (no writes)."""
    rule = RULES.get(action)
    if rule is None:
        raise JiayuanError("未知的操作", code="unknown_action", field="action")
    if ticket.state not in rule.sources:
        raise InvalidTransition(f"工单当前为“{ticket.get_state_display()}”，不能{rule.label}")
    if action == "archive" and ticket.state == State.RESOLVED and not system:
        raise InvalidTransition("已办结待评价的工单只能在评价期满后由系统归档")
    who = authorize(rule, ticket, Actor(user=actor, as_reporter=as_reporter, system=system))
    change = rule.effect(ticket, who, data, now)
    fields = dict(change.fields)
    # Keep the scoping copies of the paths with the foreign keys they mirror.
    if "owner_region" in fields:
        fields["owner_path"] = fields["owner_region"].path if fields["owner_region"] else ""
    if "grid" in fields:
        fields["grid_path"] = fields["grid"].path if fields["grid"] else ""
    seq = ticket.version + 1
    event = build_event(
        ticket=ticket,
        seq=seq,
        prev_hash=ticket.last_hash or GENESIS,
        at=now,
        actor=who.user,
        post=who.post,
        actor_label=who.label,
        action=action,
        from_state=ticket.state,
        to_state=fields.get("state", ticket.state),
        from_level=ticket.level,
        to_level=fields.get("level", ticket.level),
        from_region=ticket.owner_region,
        to_region=change.to_region,
        department=change.department,
        note=change.note,
        data=_jsonable(change.data),
    )
    return _Prepared(ticket, event, fields, change)


def _applied(prepared: _Prepared, now: dt.datetime) -> None:
    """Set the written values on the instance instead of reading the row back (the sweeper and
    bulk actions handle thousands of tickets), run the rule's after-hook, queue the notice."""
    ticket, event = prepared.ticket, prepared.event
    for name, value in prepared.fields.items():
        setattr(ticket, name, value)
    ticket.version, ticket.last_hash, ticket.updated_at = event.seq, event.hash, now
    if prepared.change.after is not None:
        prepared.change.after(ticket)


def transition(
    ticket: Ticket,
    action: str,
    *,
    actor: Any = None,
    as_reporter: bool = False,
    system: bool = False,
    now: dt.datetime | None = None,
    **data: Any,
) -> TicketEvent:
    """Apply ``action`` to ``ticket`` as ``actor``; return the appended event.

    Raises ``InvalidTransition`` (409) when the state does not allow it, ``PermissionDenied``
    (403) when the actor may not, ``JiayuanError`` (400) for bad data, ``Conflict`` (409) when
    someone else changed the ticket first. On success ``ticket`` is refreshed in place.
    """
    now = now or timezone.now()
    prepared = _prepare(
        ticket,
        action,
        actor=actor,
        as_reporter=as_reporter,
        system=system,
        now=now,
        data=data,
    )
    event = prepared.event
    with transaction.atomic():
        updated = Ticket.objects.filter(pk=ticket.pk, version=ticket.version).update(
            **prepared.fields, version=event.seq, last_hash=event.hash, updated_at=now
        )
        if updated != 1:
            raise Conflict("工单已被他人更新，请刷新后重试")
        try:
            event.save(force_insert=True)
        except IntegrityError:
            raise Conflict("工单已被他人更新，请刷新后重试") from None
        _applied(prepared, now)
        from jiayuan.tickets import notify

        notify.ticket_changed(ticket_id=ticket.pk, seq=event.seq)
    return event


@dataclass
class BatchOutcome:
    events: list[TicketEvent]
    refused: list[tuple[Ticket, JiayuanError]]


def transition_claimed_batch(
    items: list[tuple[Ticket, list[tuple[str, dict[str, Any]]]]], *, now: dt.datetime
) -> BatchOutcome:
    """System transitions on many tickets in a few statements, for the sweeper.

    Each item is a ticket and the actions to try in order (the first the workflow allows is
    applied: "call up, else supervise"). The caller must hold the tickets *claimed* in the
    current transaction — rows it has just changed with a conditional UPDATE matching their
    ``version``, so they are locked (PostgreSQL) or the database is (SQLite) until commit and
    nobody can change them meanwhile: the versioned per-ticket UPDATE of ``transition`` is not
    needed. Writes: the events in one INSERT, the tickets in one UPDATE per set of changed
    fields, and one notification task for the whole batch (an outbox row, like ``transition``).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("transition_claimed_batch needs the caller's transaction")
    prepared: list[_Prepared] = []
    refused: list[tuple[Ticket, JiayuanError]] = []
    for ticket, actions in items:
        last: JiayuanError | None = None
        for action, data in actions:
            try:
                prepared.append(
                    _prepare(
                        ticket,
                        action,
                        actor=None,
                        as_reporter=False,
                        system=True,
                        now=now,
                        data=data,
                    )
                )
                last = None
                break
            except JiayuanError as exc:
                last = exc
        if last is not None:
            refused.append((ticket, last))
    if not prepared:
        return BatchOutcome([], refused)
    _insert_events([p.event for p in prepared])
    groups: dict[tuple[str, ...], list[Ticket]] = {}
    for p in prepared:
        _applied(p, now)
        names = (*sorted(p.fields), "version", "last_hash", "updated_at")
        groups.setdefault(names, []).append(p.ticket)
    for names, tickets in groups.items():
        _update_rows(tickets, names)
    from jiayuan.tickets import notify

    notify.tickets_changed(pairs=[(p.ticket.pk, p.event.seq) for p in prepared])
    return BatchOutcome([p.event for p in prepared], refused)


def _insert_events(events: list[TicketEvent]) -> None:
    """The events of a batch in one ``executemany`` INSERT, each value adapted by its field
    (``bulk_create`` compiles every value through the ORM's insert compiler: most of a sweep
    batch's time)."""
    connection = transaction.get_connection()
    qn = connection.ops.quote_name
    fields = [f for f in TicketEvent._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(qn(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {qn(TicketEvent._meta.db_table)} ({columns}) VALUES ({marks})"
    rows = [[f.get_db_prep_save(getattr(e, f.attname), connection) for f in fields] for e in events]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _update_rows(tickets: list[Ticket], names: tuple[str, ...]) -> None:
    """One parameterised UPDATE per ticket, sent with ``executemany`` (a C loop on SQLite, a
    pipeline on PostgreSQL): Django's ``bulk_update`` builds a CASE per field and row in Python,
    which cost more than the whole rest of a sweep batch."""
    connection = transaction.get_connection()
    qn = connection.ops.quote_name
    fields = [Ticket._meta.get_field(name) for name in names]
    assignments = ", ".join(f"{qn(f.column)} = %s" for f in fields)  # type: ignore[union-attr]
    sql = f"UPDATE {qn(Ticket._meta.db_table)} SET {assignments} WHERE {qn('id')} = %s"
    rows = [
        [
            f.get_db_prep_save(getattr(t, f.attname), connection)  # type: ignore[union-attr]
            for f in fields
        ]
        + [t.pk]
        for t in tickets
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if hasattr(value, "pk"):
            out[key] = value.pk
        elif isinstance(value, list):
            out[key] = [v.pk if hasattr(v, "pk") else v for v in value]
        else:
            out[key] = value
    return out


def open_q() -> Q:
    return Q(state__in=OPEN_STATES)


__all__ = [
    "LADDER",
    "RULES",
    "Conflict",
    "InvalidTransition",
    "allowed_actions",
    "transition",
    "transition_claimed_batch",
]
