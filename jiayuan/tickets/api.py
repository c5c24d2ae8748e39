"""Tickets API (诉求工单): intake, the scoped list, detail with its timeline, workflow actions,
the category tree and the hash-chain check. See docs/api-tickets.md.

Thin: each endpoint parses its input, calls ``services.ticket_create`` or
``workflow.transition`` (or a read), and shapes the answer. Every lookup goes through
``Ticket.objects.visible_to(user)``: a ticket outside the caller's scope answers 404.

``Idempotency-Key`` (≤ 100 characters) makes retries safe:

- ``POST /tickets``: the key is stored on the ticket (scope ``user:<pk>``); a retry answers
  200 with the ticket the first request created (201), never a second ticket.
- ``POST /tickets/{number}/actions/{action}``: the workflow event has no place for the key, so
  the first result is remembered in Django's cache for 24 hours as {user, key} → (ticket, seq).
  A retry within that window answers the first result again. Limitation: with the default
  in-process cache this holds per process only; production sets ``JIAYUAN_REDIS_URL`` so every
  web process shares it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.core.cache import cache
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status

from jiayuan.core.errors import JiayuanError, NotFound, PermissionDenied
from jiayuan.core.masking import can_unmask, log_unmasked, mask_phone
from jiayuan.core.memo import Memo
from jiayuan.core.paging import PageIn, paginate
from jiayuan.core.scoping import covers_path, scope_for, subtree_q
from jiayuan.regions.models import Building, Region
from jiayuan.staff.choices import Role
from jiayuan.tickets.choices import OPEN_STATES, Channel, Level, State, Urgency
from jiayuan.tickets.events import verify_chain
from jiayuan.tickets.models import Category, Submission, Ticket, TicketAssignment, TicketEvent
from jiayuan.tickets.queue import submission_create, submission_status
from jiayuan.tickets.services import ticket_create
from jiayuan.tickets.workflow import RULES, Conflict, allowed_actions, transition

router = Router(tags=["诉求工单"])

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 100
ACTION_KEY_TTL = 24 * 60 * 60
# Channels a staff member may enter on someone's behalf; ``api`` is every caller's default.
STAFF_CHANNELS = frozenset(
    {Channel.API, Channel.PATROL, Channel.MAILBOX, Channel.HOTLINE, Channel.WEB}
)
# Relayed channels: the staff member types in what someone else reported, so the ticket's
# reporter is that person's contact (name, phone), not the staff member's account.
RELAYED_CHANNELS = frozenset({Channel.MAILBOX, Channel.HOTLINE, Channel.WEB})
# The data each action reads (for clients building a form; the workflow validates).
ACTION_FIELDS: dict[str, list[str]] = {
    "assign": ["region", "note"],
    "triage": ["note"],
    "accept": ["note"],
    "handle": ["note"],
    "call_up": ["note", "lead", "co"],
    "respond": ["note"],
    "dispatch": ["lead", "co", "note"],
    "dept_accept": [],
    "dept_finish": ["result"],
    "return": ["reason"],
    "transfer": ["region", "note"],
    "request_extension": ["days", "reason"],
    "approve_extension": ["approve", "note"],
    "supervise": ["days", "note"],
    "resolve": ["result"],
    "rate": ["rating", "comment"],
    "cancel": ["reason"],
    "merge": ["into", "note"],
    "archive": ["note"],
}


# --- schemas -------------------------------------------------------------------------------------


class TicketIn(Schema):
    title: str = Field("", max_length=120)
    description: str
    category: str | None = Field(None, description="分类编码（一级或二级），见 /categories")
    urgency: Urgency = Urgency.NORMAL
    building: int | str | None = Field(None, description="楼栋 id（数字）或楼栋编码（字符串）")
    lng: float | None = None
    lat: float | None = None
    address: str = Field("", max_length=200)
    reporter_name: str = Field("", max_length=50)
    reporter_phone: str = Field("", max_length=20)
    anonymous: bool = False
    confidential: bool = False
    channel: Channel = Field(
        Channel.API, description="工作人员可填 patrol / mailbox / hotline / web；默认 api"
    )


class ActionIn(Schema):
    note: str | None = None
    reason: str | None = None
    result: str | None = None
    days: int | None = None
    region: int | None = Field(None, description="区划/网格 id（分拨、转办）")
    lead: int | None = Field(None, description="主办部门 id（派单、吹哨）")
    co: list[int] | None = Field(None, description="协办部门 id 列表")
    rating: str | None = Field(None, description="satisfied / basic / unsatisfied")
    comment: str | None = None
    into: str | None = Field(None, description="合并到的工单编号")
    approve: bool | None = None


class CategoryOut(Schema):
    code: str
    name: str
    urgent: bool
    description: str
    children: list[CategoryOut] = []


class TicketListItem(Schema):
    number: str
    title: str
    channel: str
    category: str | None
    category_name: str | None
    urgency: str
    state: str
    state_label: str
    level: str
    level_label: str
    grid_id: int | None
    grid: str | None
    owner_region_id: int | None
    owner_region: str | None
    address: str
    supervised: bool
    overdue: bool
    created_at: dt.datetime
    resolve_due: dt.datetime | None


class TicketPage(Schema):
    count: int
    page: int
    page_size: int
    items: list[TicketListItem]


class AssignmentOut(Schema):
    department_id: int
    department: str
    role: str
    role_label: str
    state: str
    state_label: str
    created_at: dt.datetime
    accepted_at: dt.datetime | None
    finished_at: dt.datetime | None
    result: str


class EventOut(Schema):
    seq: int
    at: dt.datetime
    action: str
    action_label: str
    actor_label: str
    from_state: str
    to_state: str
    from_level: str
    to_level: str
    to_region_id: int | None
    to_region: str | None
    department_id: int | None
    department: str | None
    note: str
    data: dict[str, Any]


class TicketDetail(TicketListItem):
    description: str
    channel_label: str
    urgency_label: str
    reporter_name: str
    reporter_phone: str
    anonymous: bool
    confidential: bool
    masked: bool
    building_id: int | None
    building_code: str | None
    lng: float | None
    lat: float | None
    owner_user: str | None
    accept_due: dt.datetime | None
    feedback_due: dt.datetime | None
    supervise_due: dt.datetime | None
    extension_requested_days: int | None
    rating: str
    rating_comment: str
    result: str
    reopen_count: int
    merged_into: str | None
    updated_at: dt.datetime
    accepted_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    version: int
    assignments: list[AssignmentOut]
    events: list[EventOut]


class ActionOut(Schema):
    action: str
    label: str
    fields: list[str]


class ActionResult(Schema):
    ticket: TicketDetail
    event: EventOut


class BrokenOut(Schema):
    seq: int
    reason: str


class VerifyOut(Schema):
    number: str
    ok: bool
    events: int
    broken: BrokenOut | None


class ErrorOut(Schema):
    code: str
    message: str
    field: str | None


ERRORS: dict[int, Any] = {400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut}


# --- helpers -------------------------------------------------------------------------------------


def _is_staff(user: Any) -> bool:
    """A staff caller holds a post other than 居民; everyone else reports as a member of the
    public."""
    scope = scope_for(user)
    return bool(scope.everything or (scope.roles - {Role.RESIDENT}))


def _idempotency_key(request: HttpRequest) -> str:
    key = (request.headers.get(IDEMPOTENCY_HEADER) or "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise JiayuanError(
            f"Idempotency-Key 不能超过 {MAX_IDEMPOTENCY_KEY} 个字符",
            code="invalid_idempotency_key",
            field=IDEMPOTENCY_HEADER,
        )
    return key


def _ticket_qs(user: Any) -> QuerySet[Ticket]:
    return Ticket.objects.visible_to(user).select_related(
        "category", "grid", "owner_region", "building", "owner_user", "merged_into"
    )


def _access_ticket(user: Any, number: str) -> Ticket:
    """The ticket with this number if the user may see it; NotFound either way otherwise."""
    ticket = _ticket_qs(user).filter(number=number).first()
    if ticket is None:
        raise NotFound("工单不存在或不在您的管辖范围内")
    return ticket


def _overdue(t: Ticket, now: dt.datetime) -> bool:
    return t.state in OPEN_STATES and t.resolve_due is not None and t.resolve_due < now


def _list_item(t: Ticket, now: dt.datetime) -> dict[str, Any]:
    return {
        "number": t.number,
        "title": t.title,
        "channel": t.channel,
        "category": t.category.code if t.category_id and t.category else None,
        "category_name": str(t.category) if t.category_id and t.category else None,
        "urgency": t.urgency,
        "state": t.state,
        "state_label": t.get_state_display(),
        "level": t.level,
        "level_label": t.get_level_display(),
        "grid_id": t.grid_id,
        "grid": t.grid.name if t.grid_id and t.grid else None,
        "owner_region_id": t.owner_region_id,
        "owner_region": t.owner_region.name if t.owner_region_id and t.owner_region else None,
        "address": t.address,
        "supervised": t.supervised,
        "overdue": _overdue(t, now),
        "created_at": t.created_at,
        "resolve_due": t.resolve_due,
    }


def _event_out(e: TicketEvent) -> dict[str, Any]:
    rule = RULES.get(e.action)
    return {
        "seq": e.seq,
        "at": e.at,
        "action": e.action,
        "action_label": rule.label if rule else ("提交" if e.action == "submit" else e.action),
        "actor_label": e.actor_label,
        "from_state": e.from_state,
        "to_state": e.to_state,
        "from_level": e.from_level,
        "to_level": e.to_level,
        "to_region_id": e.to_region_id,
        "to_region": e.to_region.name if e.to_region_id and e.to_region else None,
        "department_id": e.department_id,
        "department": e.department.name if e.department_id and e.department else None,
        "note": e.note,
        "data": e.data,
    }


def _detail(request: HttpRequest, ticket: Ticket, *, unmask: bool = False) -> dict[str, Any]:
    """The ticket with its assignments and timeline; the phone masked unless ``unmask`` is asked
    for by a post that may see it (then the view is written to the access log)."""
    if unmask:
        if not can_unmask(request.user):
            raise PermissionDenied("您的岗位无权查看完整个人信息")
        log_unmasked(
            user=request.user,
            action="api",
            model=Ticket,
            object_ids=[ticket.pk],
            fields=("reporter_phone",),
            request=request,
        )
    events = list(
        TicketEvent.objects.filter(ticket=ticket)
        .select_related("to_region", "department")
        .order_by("seq")
    )
    assignments = list(
        TicketAssignment.objects.filter(ticket=ticket)
        .select_related("department")
        .order_by("created_at", "id")
    )
    out = _list_item(ticket, timezone.now())
    out.update(
        {
            "description": ticket.description,
            "channel_label": ticket.get_channel_display(),
            "urgency_label": ticket.get_urgency_display(),
            "reporter_name": ticket.reporter_name,
            "reporter_phone": ticket.reporter_phone
            if unmask
            else mask_phone(ticket.reporter_phone),
            "anonymous": ticket.anonymous,
            "confidential": ticket.confidential,
            "masked": not unmask,
            "building_id": ticket.building_id,
            "building_code": ticket.building.code
            if ticket.building_id and ticket.building
            else None,
            "lng": ticket.lng,
            "lat": ticket.lat,
            "owner_user": ticket.owner_user.get_username()
            if ticket.owner_user_id and ticket.owner_user
            else None,
            "accept_due": ticket.accept_due,
            "feedback_due": ticket.feedback_due,
            "supervise_due": ticket.supervise_due,
            "extension_requested_days": ticket.extension_requested_days,
            "rating": ticket.rating,
            "rating_comment": ticket.rating_comment,
            "result": ticket.result,
            "reopen_count": ticket.reopen_count,
            "merged_into": ticket.merged_into.number
            if ticket.merged_into_id and ticket.merged_into
            else None,
            "updated_at": ticket.updated_at,
            "accepted_at": ticket.accepted_at,
            "resolved_at": ticket.resolved_at,
            "closed_at": ticket.closed_at,
            "version": ticket.version,
            "assignments": [
                {
                    "department_id": a.department_id,
                    "department": a.department.name,
                    "role": a.role,
                    "role_label": a.get_role_display(),
                    "state": a.state,
                    "state_label": a.get_state_display(),
                    "created_at": a.created_at,
                    "accepted_at": a.accepted_at,
                    "finished_at": a.finished_at,
                    "result": a.result,
                }
                for a in assignments
            ],
            "events": [_event_out(e) for e in events],
        }
    )
    return out


# Buildings by id or code with their grid (without its boundary), memoised per process: every
# API submission names one, and the scoped query cost more than the rest of a queued accept. The
# scope is checked in Python on the grid's path, exactly as ``Building.scope_q`` does in SQL.
_buildings: Memo[Building | None] = Memo(
    "api-buildings", max_age=60.0, watch=[Building, Region], check_every=1.0, max_size=20_000
)


def _load_building(value: int | str) -> Building | None:
    qs = Building.objects.select_related("grid").defer("grid__boundary")
    if isinstance(value, int):
        return qs.filter(pk=value).first()
    return qs.filter(code=value).first()


def _building_for(user: Any, value: int | str | None, *, staff: bool) -> Building | None:
    """The building a report is about: staff must have it in scope; a resident may report on
    any building (they stand in front of it)."""
    if value is None or value == "":
        return None
    building = _buildings.get(value, lambda: _load_building(value))
    if building is not None and staff and not covers_path(scope_for(user), building.grid.path):
        building = None
    if building is None:
        raise NotFound("楼栋不存在或不在您的管辖范围内", field="building")
    return building


# Active categories by code, memoised per process (every API submission names one).
_categories: Memo[Category | None] = Memo(
    "api-categories", max_age=60.0, watch=[Category], check_every=1.0
)


def _category_for(code: str | None) -> Category | None:
    if not code:
        return None
    category = _categories.get(
        code, lambda: Category.objects.filter(code=code, is_active=True).first()
    )
    if category is None:
        raise JiayuanError("诉求分类不存在", code="invalid_choice", field="category")
    return category


# --- endpoints -----------------------------------------------------------------------------------


class SubmissionOut(Schema):
    token: str
    state: str = Field(description="pending 待受理 / done 已受理 / failed 未能受理")
    state_label: str
    ticket: str | None = Field(None, description="工单编号（已受理后）")
    error: str | None = None
    received_at: dt.datetime
    processed_at: dt.datetime | None = None
    url: str


def _submission_out(submission: Submission) -> dict[str, Any]:
    return {
        **submission_status(submission),
        "url": f"/api/v1/submissions/{submission.token}",
    }


def _wants_async(request: HttpRequest) -> bool:
    prefer = request.headers.get("Prefer", "")
    return any(p.strip().lower() == "respond-async" for p in prefer.split(","))


@router.post(
    "/tickets",
    response={201: TicketDetail, 200: TicketDetail, 202: SubmissionOut, **ERRORS},
    summary="提交诉求（支持 Idempotency-Key；Prefer: respond-async 时异步受理）",
)
def create_ticket(request: HttpRequest, payload: TicketIn) -> Any:
    user: Any = request.user
    key = _idempotency_key(request)
    staff = _is_staff(user)
    channel = payload.channel.value
    if channel not in STAFF_CHANNELS:
        raise JiayuanError(
            "来源渠道应为 api、web、patrol、mailbox 或 hotline",
            code="invalid_choice",
            field="channel",
        )
    if channel != Channel.API and not staff:
        raise PermissionDenied("只有工作人员可以指定来源渠道", field="channel")
    relayed = staff and channel in RELAYED_CHANNELS
    label = Channel(channel).label
    arguments: dict[str, Any] = dict(
        channel=channel,
        title=payload.title,
        description=payload.description,
        reporter=None if relayed else user,
        reporter_name=payload.reporter_name,
        reporter_phone=payload.reporter_phone,
        anonymous=payload.anonymous,
        confidential=payload.confidential,
        category=_category_for(payload.category),
        urgency=payload.urgency.value,
        building=_building_for(user, payload.building, staff=staff),
        lng=payload.lng,
        lat=payload.lat,
        address=payload.address,
        idempotency_scope=f"user:{user.pk}" if key else "",
        idempotency_key=key,
        actor_label=f"{label}·{user.get_username()}" if staff else label,
    )
    if _wants_async(request):
        # Queued: validated and stored now, made into a ticket by the worker within seconds.
        queued = submission_create(**arguments, queued_by=user)
        return Status(202, _submission_out(queued.submission))
    intake = ticket_create(**arguments)
    ticket = Ticket.objects.select_related(
        "category", "grid", "owner_region", "building", "owner_user", "merged_into"
    ).get(pk=intake.ticket.pk)
    return Status(201 if intake.created else 200, _detail(request, ticket))


@router.get(
    "/submissions/{token}",
    response={200: SubmissionOut, **ERRORS},
    summary="异步受理的进度（工单编号）",
)
def submission_detail(request: HttpRequest, token: str) -> Any:
    user: Any = request.user
    submission = (
        Submission.objects.filter(token=token, created_by_id=user.pk)
        .select_related("ticket")
        .first()
    )
    if submission is None:
        raise NotFound("没有这条提交")
    return _submission_out(submission)


class TicketFilter(Schema):
    state: State | None = None
    level: Level | None = None
    category: str | None = Field(None, description="分类编码；一级分类含其二级分类")
    channel: Channel | None = None
    q: str | None = Field(None, description="编号、标题、内容或地址包含")
    overdue: bool | None = Field(None, description="true：未办结且已过办结期限")
    supervised: bool | None = None
    region: int | None = Field(None, description="区划 id：其下（含本级）所在或承办的工单")
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


def _filtered(user: Any, f: TicketFilter, now: dt.datetime) -> QuerySet[Ticket]:
    qs = _ticket_qs(user)
    if f.state:
        qs = qs.filter(state=f.state)
    if f.level:
        qs = qs.filter(level=f.level)
    if f.channel:
        qs = qs.filter(channel=f.channel)
    if f.category:
        qs = qs.filter(Q(category__code=f.category) | Q(category__parent__code=f.category))
    if f.q:
        q = f.q.strip()
        qs = qs.filter(
            Q(number=q)
            | Q(title__icontains=q)
            | Q(description__icontains=q)
            | Q(address__icontains=q)
        )
    if f.overdue is not None:
        late = Q(state__in=OPEN_STATES, resolve_due__lt=now)
        qs = qs.filter(late) if f.overdue else qs.exclude(late)
    if f.supervised is not None:
        qs = qs.filter(supervised=f.supervised)
    if f.region is not None:
        region = Region.objects.visible_to(user).filter(pk=f.region).first()
        if region is None:
            raise NotFound("区划不存在或不在您的管辖范围内", field="region")
        qs = qs.filter(
            subtree_q("grid_path", [region.path]) | subtree_q("owner_path", [region.path])
        )
    if f.created_after:
        qs = qs.filter(created_at__gte=_aware(f.created_after))
    if f.created_before:
        qs = qs.filter(created_at__lt=_aware(f.created_before))
    return qs.order_by("-created_at", "-id")


def _aware(value: dt.datetime) -> dt.datetime:
    return timezone.make_aware(value) if timezone.is_naive(value) else value


@router.get("/tickets", response={200: TicketPage, **ERRORS}, summary="工单列表（按管辖范围）")
def list_tickets(
    request: HttpRequest, filters: Query[TicketFilter], paging: Query[PageIn]
) -> dict[str, Any]:
    now = timezone.now()
    items, meta = paginate(_filtered(request.user, filters, now), paging)
    return {**meta, "items": [_list_item(t, now) for t in items]}


@router.get(
    "/tickets/{number}", response={200: TicketDetail, **ERRORS}, summary="工单详情与流转记录"
)
def get_ticket(request: HttpRequest, number: str, unmask: bool = False) -> Any:
    return _detail(request, _access_ticket(request.user, number), unmask=unmask)


@router.get(
    "/tickets/{number}/actions",
    response={200: list[ActionOut], **ERRORS},
    summary="当前用户可执行的操作",
)
def list_actions(request: HttpRequest, number: str) -> Any:
    ticket = _access_ticket(request.user, number)
    return [
        {"action": r.action, "label": r.label, "fields": ACTION_FIELDS.get(r.action, [])}
        for r in allowed_actions(ticket, request.user)
    ]


def _action_data(user: Any, payload: ActionIn) -> dict[str, Any]:
    data = {k: v for k, v in payload.model_dump().items() if v is not None}
    if "into" in data:
        target = Ticket.objects.visible_to(user).filter(number=data["into"]).first()
        if target is None:
            raise NotFound("要合并到的工单不存在或不在您的管辖范围内", field="into")
        data["into"] = target.pk
    return data


def _action_cache_key(user: Any, key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"jiayuan:tickets:action-key:{user.pk}:{digest}"


@router.post(
    "/tickets/{number}/actions/{action}",
    response={200: ActionResult, **ERRORS},
    summary="执行流转操作（支持 Idempotency-Key）",
)
def do_action(request: HttpRequest, number: str, action: str, payload: ActionIn) -> Any:
    user: Any = request.user
    key = _idempotency_key(request)
    ticket = _access_ticket(user, number)
    if not key:
        event = transition(ticket, action, actor=user, **_action_data(user, payload))
        return _action_result(request, ticket, event)
    cache_key = _action_cache_key(user, key)
    if not cache.add(cache_key, {"pending": True}, timeout=60):
        saved = cache.get(cache_key) or {"pending": True}
        if saved.get("pending"):
            raise Conflict("相同 Idempotency-Key 的请求正在处理，请稍后重试")
        if saved["ticket"] != ticket.pk or saved["action"] != action:
            raise JiayuanError(
                "该 Idempotency-Key 已用于另一项操作",
                code="idempotency_key_reused",
                field=IDEMPOTENCY_HEADER,
                status=409,
            )
        event = TicketEvent.objects.select_related("to_region", "department").get(
            ticket=ticket, seq=saved["seq"]
        )
        return _action_result(request, ticket, event)
    try:
        event = transition(ticket, action, actor=user, **_action_data(user, payload))
    except BaseException:
        cache.delete(cache_key)
        raise
    cache.set(
        cache_key, {"ticket": ticket.pk, "action": action, "seq": event.seq}, timeout=ACTION_KEY_TTL
    )
    return _action_result(request, ticket, event)


def _action_result(request: HttpRequest, ticket: Ticket, event: TicketEvent) -> dict[str, Any]:
    # The acting user may no longer see the ticket (a department that returned it): the answer
    # still shows the result of what they just did.
    fresh = Ticket.objects.select_related(
        "category", "grid", "owner_region", "building", "owner_user", "merged_into"
    ).get(pk=ticket.pk)
    return {"ticket": _detail(request, fresh), "event": _event_out(event)}


@router.get(
    "/tickets/{number}/verify", response={200: VerifyOut, **ERRORS}, summary="校验流转记录哈希链"
)
def verify_ticket(request: HttpRequest, number: str) -> Any:
    ticket = _access_ticket(request.user, number)
    broken = verify_chain(ticket)
    return {
        "number": ticket.number,
        "ok": broken is None,
        "events": ticket.events.count(),
        "broken": {"seq": broken.seq, "reason": broken.reason} if broken else None,
    }


@router.get("/categories", response=list[CategoryOut], summary="诉求分类（两级）")
def list_categories(request: HttpRequest) -> Any:
    active = Category.objects.filter(is_active=True)
    roots = active.filter(parent__isnull=True).prefetch_related(
        Prefetch("children", queryset=active.order_by("sort", "code"), to_attr="active_children")
    )
    return [
        {
            "code": c.code,
            "name": c.name,
            "urgent": c.urgent,
            "description": c.description,
            "children": [
                {
                    "code": k.code,
                    "name": k.name,
                    "urgent": k.urgent,
                    "description": k.description,
                    "children": [],
                }
                for k in c.active_children
            ],
        }
        for c in roots.order_by("sort", "code")
    ]
