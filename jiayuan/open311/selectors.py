"""Reads of the Open311 API: services, service definitions and the public view of requests.

Everything here is public (no login), so a request is shown only as the public may see it:
confidential (保密) tickets never appear, the reporter's name and phone are never returned,
and phone or ID numbers typed into a description are masked.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone

from jiayuan.core.errors import NotFound
from jiayuan.core.memo import Memo
from jiayuan.open311.models import ServiceAttribute
from jiayuan.tickets.choices import OPEN_STATES, AssignmentRole, AssignmentState
from jiayuan.tickets.models import Category, Submission, SubmissionState, Ticket, TicketAssignment

MAX_REQUESTS = 1000
DEFAULT_SPAN = dt.timedelta(days=90)

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3}-?)\d{3,4}(\d{4})(?!\d)")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")


def w3c(value: dt.datetime | None) -> str | None:
    """A W3C datetime in Beijing time with its offset: 2026-11-23T19:38:26+08:00."""
    if value is None:
        return None
    return timezone.localtime(value).isoformat(timespec="seconds")


def mask_personal(text: str) -> str:
    """Mask mobile numbers, landlines and ID numbers that residents type into their text."""
    text = _ID_NUMBER.sub(r"\1********\2", text)
    text = _PHONE.sub(r"\1****\2", text)
    return _LANDLINE.sub(r"\1****\2", text)


def services_list() -> list[dict[str, Any]]:
    """GET services: one service per active second-level category."""
    rows = (
        Category.objects.filter(parent__isnull=False, is_active=True, parent__is_active=True)
        .select_related("parent")
        .annotate(has_attributes=Exists(ServiceAttribute.objects.filter(category=OuterRef("pk"))))
        .order_by("parent__sort", "parent__code", "sort", "code")
    )
    return [
        {
            "service_code": c.code,
            "service_name": c.name,
            "description": c.description,
            "metadata": bool(c.has_attributes),
            "type": "realtime",
            "keywords": c.keywords,
            "group": c.parent.name if c.parent else "",
        }
        for c in rows
    ]


_services: Memo[tuple[Category, list[ServiceAttribute]] | None] = Memo(
    "open311-services", max_age=60.0, watch=[Category, ServiceAttribute], check_every=1.0
)


def service_for_intake(code: str) -> tuple[Category, list[ServiceAttribute]]:
    """``service_by_code`` and the service's attribute definitions, memoised per process (every
    POST asks for them; they change rarely — see ``jiayuan.core.memo``)."""

    def load() -> tuple[Category, list[ServiceAttribute]] | None:
        try:
            category = service_by_code(code)
        except NotFound:
            return None
        return category, list(ServiceAttribute.objects.filter(category=category).order_by("order"))

    found = _services.get(code, load)
    if found is None:
        raise NotFound(f"service_code 不存在：{code} (service_code not found)")
    category, definitions = found
    return copy.copy(category), definitions


def service_by_code(code: str) -> Category:
    """The active second-level category behind a service_code, or NotFound."""
    category = (
        Category.objects.filter(
            code=code, parent__isnull=False, is_active=True, parent__is_active=True
        )
        .select_related("parent")
        .first()
    )
    if category is None:
        raise NotFound(f"service_code 不存在：{code} (service_code not found)")
    return category


def attribute_dict(attribute: ServiceAttribute) -> dict[str, Any]:
    return {
        "variable": attribute.variable,
        "code": attribute.code,
        "datatype": attribute.datatype,
        "required": attribute.required,
        "datatype_description": attribute.datatype_description or None,
        "order": attribute.order,
        "description": attribute.description,
        "values": [{"key": v["key"], "name": v["name"]} for v in attribute.values or []],
    }


def service_definition(code: str) -> dict[str, Any]:
    """GET services/{service_code}: the attributes a service asks for."""
    category = service_by_code(code)
    attributes = ServiceAttribute.objects.filter(category=category).order_by("order", "id")
    return {"service_code": category.code, "attributes": [attribute_dict(a) for a in attributes]}


@dataclass(frozen=True)
class RequestFilter:
    """The parsed query of GET requests. ``ids`` overrides every other filter (the spec)."""

    ids: list[str] | None = None
    service_codes: list[str] | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    statuses: list[str] | None = None


def public_tickets() -> QuerySet[Ticket]:
    """Tickets the public may see, with what their Open311 view needs in two queries."""
    leads = TicketAssignment.objects.filter(role=AssignmentRole.LEAD).exclude(
        state=AssignmentState.RETURNED
    )
    return (
        Ticket.objects.filter(confidential=False)
        .select_related("category", "owner_region", "building")
        .prefetch_related(
            Prefetch(
                "assignments",
                queryset=leads.select_related("department"),
                to_attr="live_leads",
            )
        )
    )


def requests_list(*, query: RequestFilter, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """GET requests: newest first, at most ``MAX_REQUESTS``, by default the last 90 days."""
    qs = public_tickets()
    if query.ids is not None:
        qs = qs.filter(number__in=query.ids)
    else:
        now = now or timezone.now()
        start, end = query.start, query.end
        if start is None and end is None:
            end = now
        if start is None:
            assert end is not None
            start = end - DEFAULT_SPAN
        if end is None:
            end = start + DEFAULT_SPAN
        qs = qs.filter(created_at__gte=start, created_at__lte=end)
        if query.service_codes:
            qs = qs.filter(category__code__in=query.service_codes)
        if query.statuses and set(query.statuses) != {"open", "closed"}:
            if "open" in query.statuses:
                qs = qs.filter(state__in=OPEN_STATES)
            else:
                qs = qs.exclude(state__in=OPEN_STATES)
    return [request_dict(t) for t in qs.order_by("-created_at", "-id")[:MAX_REQUESTS]]


def request_detail(service_request_id: str) -> dict[str, Any]:
    """GET requests/{id}: one public request, or NotFound (also for confidential ones)."""
    ticket = public_tickets().filter(number=service_request_id).first()
    if ticket is None:
        raise NotFound(
            f"service_request_id 不存在：{service_request_id} (service_request_id not found)"
        )
    return request_dict(ticket)


def request_by_token(token: str) -> dict[str, Any]:
    """GET tokens/{token}: the service_request_id behind a token — a queued submission's (absent
    while it waits, as GeoReport v2 allows) or a ticket's public token."""
    queued = (
        Submission.objects.filter(token=token)
        .select_related("ticket")
        .only("state", "error", "ticket__number", "ticket__confidential")
        .first()
    )
    if queued is not None:
        if queued.state == SubmissionState.FAILED:
            raise NotFound(f"该提交未能受理：{queued.error} (request could not be accepted)")
        if queued.ticket is None:
            return {"token": token}
        if queued.ticket.confidential:
            raise NotFound("token 不存在 (token not found)")
        return {"service_request_id": queued.ticket.number, "token": token}
    number = (
        Ticket.objects.filter(public_token=token, confidential=False)
        .values_list("number", flat=True)
        .first()
    )
    if number is None:
        raise NotFound("token 不存在 (token not found)")
    return {"service_request_id": number, "token": token}


def service_notice(ticket: Ticket) -> str | None:
    """What happens next, in one sentence for the person who reported it."""
    if ticket.state not in OPEN_STATES:
        return None
    if ticket.grid_id is None:
        return "已受理，正在分拨到责任网格。"
    if ticket.resolve_due is not None:
        due = timezone.localtime(ticket.resolve_due)
        return f"已受理，由所在网格办理，预计{due:%Y-%m-%d %H:%M}前办结。"
    return "已受理，由所在网格办理。"


def agency_responsible(ticket: Ticket) -> str | None:
    leads = getattr(ticket, "live_leads", None)
    if leads is None:
        leads = list(
            ticket.assignments.filter(role=AssignmentRole.LEAD)
            .exclude(state=AssignmentState.RETURNED)
            .select_related("department")
        )
    if leads:
        return leads[0].department.name
    return ticket.owner_region.name if ticket.owner_region else None


def request_dict(ticket: Ticket) -> dict[str, Any]:
    """The public Open311 view of one ticket. Never the reporter's name or phone."""
    is_open = ticket.state in OPEN_STATES
    category = ticket.category
    return {
        "service_request_id": ticket.number,
        "status": "open" if is_open else "closed",
        "status_notes": ticket.result or ticket.get_state_display(),
        "service_name": category.name if category else None,
        "service_code": category.code if category else None,
        "description": mask_personal(ticket.description),
        "agency_responsible": agency_responsible(ticket),
        "service_notice": service_notice(ticket),
        "requested_datetime": w3c(ticket.created_at),
        "updated_datetime": w3c(ticket.updated_at),
        "expected_datetime": w3c(ticket.resolve_due),
        "address": ticket.address,
        "address_id": ticket.building.code if ticket.building else None,
        "zipcode": "",
        "lat": ticket.lat,
        "long": ticket.lng,
        "media_url": ticket.media_url,
    }
