"""Writes of notifications: who is told about a ticket event, the outbound copies, sending them
exactly once with retries, and marking read.

Exactly once, in two halves:

- a ``Notification`` row per (event, recipient) has a unique ``dedupe_key``; it is inserted with
  ``ON CONFLICT DO NOTHING``, so a retried task, a repeated call or two workers at once leave one
  row;
- each ``OutboundMessage`` is claimed by ``UPDATE … SET state='sending' WHERE state='pending'``
  before the backend is called; only the claimer sends.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from jiayuan.core.tasks import enqueue
from jiayuan.notifications import recipients as who
from jiayuan.notifications.backends import get_backend
from jiayuan.notifications.models import Kind, Notification, OutboundMessage, OutboundState
from jiayuan.notifications.selectors import access_notification
from jiayuan.tickets.choices import AssignmentRole, Level, State
from jiayuan.tickets.models import Ticket, TicketEvent

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 4  # the first try and three retries
BACKOFF = [dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=25)]
# A pending message this far past its time has lost its task (a crash between commit and
# enqueue): the worker picks it up (``resend_stale_outbound``).
STALE_AFTER = dt.timedelta(minutes=10)


def ticket_url(ticket: Ticket) -> str:
    """The staff page of a ticket (``/tickets/<number>/``)."""
    return reverse("tickets:detail", kwargs={"number": ticket.number})


@dataclass(frozen=True)
class Message:
    kind: str
    user_ids: list[int]
    title: str
    body: str = ""


def _label(ticket: Ticket) -> str:
    return f"{ticket.number} {ticket.title}"


def message_for_event(*, ticket: Ticket, event: TicketEvent) -> Message | None:
    """Who must be told about one event, and what. ``None`` when nobody needs to act."""
    action, label = event.action, _label(ticket)
    to_region_id = event.to_region_id
    if action in {"call_up", "dispatch", "submit"} and event.to_state == State.DISPATCHED:
        # A dispatch — or an intake a dispatch rule sent straight to departments (精准派单).
        depts = [event.data.get("lead"), *(event.data.get("co") or [])]
        return Message(
            Kind.DISPATCHED,
            who.department_officers(department_ids=[d for d in depts if d]),
            f"派单待办理：{label}",
            event.note,
        )
    if action in {"submit", "assign", "transfer"}:
        if event.to_state == State.TRIAGE:
            return Message(
                Kind.TRIAGE,
                who.command_centre_over(region=ticket.owner_region),
                f"待分拨：{label}",
                "诉求未能自动分拨（位置或分类不确定），请分拨",
            )
        return Message(
            Kind.ASSIGNED,
            who.handlers_at(region_id=to_region_id, level=event.to_level),
            f"新工单待签收：{label}",
            event.note,
        )
    if action == "triage":
        return Message(
            Kind.TRIAGE,
            who.command_centre_over(region=ticket.owner_region),
            f"退回待分拨：{label}",
            event.note,
        )
    if action == "call_up":
        return Message(
            Kind.CALLED_UP,
            who.handlers_at(region_id=to_region_id, level=event.to_level),
            f"下级呼叫待响应：{label}",
            event.note,
        )
    if action == "return":
        if to_region_id is None:  # a co-handler gave its part back
            if event.data.get("resolved"):
                return _resolved(ticket, event)
            lead = ticket.assignments.filter(role=AssignmentRole.LEAD).first()
            region_id = lead.dispatched_from_id if lead else None
            level = _level_of_region(region_id)
        else:
            region_id, level = to_region_id, event.to_level
        return Message(
            Kind.RETURNED,
            who.handlers_at(region_id=region_id, level=level),
            f"工单被回退：{label}",
            event.note,
        )
    if action == "supervise":
        return Message(Kind.SUPERVISED, who.actors_of(ticket), f"督办：{label}", event.note)
    if action == "request_extension":
        return Message(
            Kind.EXTENSION,
            who.supervisors_above(region=_region(event.from_region_id)),
            f"延期待审批：{label}",
            event.note,
        )
    if action == "approve_extension":
        return Message(
            Kind.EXTENSION_DECIDED, who.actors_of(ticket), f"延期审批结果：{label}", event.note
        )
    if action == "resolve" or (action == "dept_finish" and event.data.get("resolved")):
        return _resolved(ticket, event)
    if action == "rate":
        if event.data.get("reopened"):
            return Message(
                Kind.REOPENED, who.actors_of(ticket), f"群众不满意，请重办：{label}", event.note
            )
        return Message(
            Kind.RATED,
            _resolvers(ticket),
            f"群众评价：{label}",
            f"评价：{ticket.get_rating_display()} {event.note}".strip(),
        )
    if action == "cancel":
        return Message(
            Kind.CANCELLED,
            who.handlers_at(region_id=event.from_region_id, level=event.from_level),
            f"诉求已撤销：{label}",
            event.note,
        )
    return None


def _resolved(ticket: Ticket, event: TicketEvent) -> Message | None:
    if ticket.reporter_id is None:
        return None  # anonymous or by phone: the reporter follows it by number + phone
    return Message(
        Kind.RESOLVED, [ticket.reporter_id], f"您的诉求已办结：{_label(ticket)}", ticket.result
    )


def _resolvers(ticket: Ticket) -> list[int]:
    if ticket.resolved_level == Level.DEPARTMENT:
        depts = ticket.assignments.filter(role=AssignmentRole.LEAD).values_list(
            "department_id", flat=True
        )
        return who.department_officers(department_ids=depts)
    if ticket.owner_user_id is not None:
        return [ticket.owner_user_id]
    return who.handlers_at(region_id=ticket.owner_region_id, level=ticket.level)


def _region(region_id: int | None):  # type: ignore[no-untyped-def]
    from jiayuan.regions.models import Region

    return Region.objects.filter(pk=region_id).first() if region_id else None


def _level_of_region(region_id: int | None) -> str:
    from jiayuan.tickets.workflow import level_of

    region = _region(region_id)
    return level_of(region) if region is not None else Level.DISTRICT


def notify_ticket_event(*, ticket_id: int, seq: int) -> int:
    """Tell whoever must act about event ``seq`` of the ticket; return the rows written now.

    The dedupe key ``{ticket}:{seq}:{user}`` makes a repeated call write nothing twice. The actor
    of the event is not told about their own action.
    """
    event = (
        TicketEvent.objects.select_related("ticket", "ticket__owner_region")
        .filter(ticket_id=ticket_id, seq=seq)
        .first()
    )
    if event is None:
        logger.warning("notify: no event %s#%s", ticket_id, seq)
        return 0
    message = message_for_event(ticket=event.ticket, event=event)
    if message is None:
        return 0
    users = [u for u in message.user_ids if u != event.actor_id]
    return len(
        notify_users(
            ticket=event.ticket,
            kind=message.kind,
            user_ids=users,
            title=message.title,
            body=message.body,
            key=f"{ticket_id}:{seq}",
            now=event.at,
        )
    )


def notify_users(
    *,
    ticket: Ticket | None,
    kind: str,
    user_ids: Iterable[int],
    title: str,
    body: str = "",
    key: str,
    now: dt.datetime | None = None,
) -> list[int]:
    """Write one notification per user (dedupe key ``{key}:{user}``), its outbound copy for the
    configured channel, and queue the send after commit. Returns the ids of rows new now."""
    users = sorted(set(user_ids))
    if not users:
        return []
    now = now or timezone.now()
    keys = {f"{key}:{u}": u for u in users}
    url = ticket_url(ticket) if ticket is not None else ""
    with transaction.atomic():
        existing = set(
            Notification.objects.filter(dedupe_key__in=list(keys)).values_list(
                "dedupe_key", flat=True
            )
        )
        Notification.objects.bulk_create(
            [
                Notification(
                    recipient_id=u,
                    ticket=ticket,
                    kind=kind,
                    title=title[:120],
                    body=(body or "")[:500],
                    url=url,
                    created_at=now,
                    dedupe_key=k,
                )
                for k, u in keys.items()
                if k not in existing
            ],
            ignore_conflicts=True,
        )
        new_ids = list(
            Notification.objects.filter(dedupe_key__in=[k for k in keys if k not in existing])
            .order_by("id")
            .values_list("id", flat=True)
        )
        channel = get_backend().channel
        OutboundMessage.objects.bulk_create(
            [
                OutboundMessage(notification_id=n, channel=channel, next_attempt_at=now)
                for n in new_ids
            ],
            ignore_conflicts=True,
        )
        outbound = OutboundMessage.objects.filter(
            notification_id__in=new_ids, channel=channel, state=OutboundState.PENDING
        ).values_list("id", flat=True)
        from jiayuan.notifications.tasks import send_outbound_task

        for outbound_id in outbound:
            enqueue(send_outbound_task, outbound_id=outbound_id)
    return new_ids


def send_outbound(*, outbound_id: int, now: dt.datetime | None = None) -> str:
    """Send one outbound message at most once; on failure put it back with a backoff and queue
    the retry, until ``MAX_ATTEMPTS``. Returns the state it is left in."""
    now = now or timezone.now()
    claimed = OutboundMessage.objects.filter(
        pk=outbound_id, state=OutboundState.PENDING, next_attempt_at__lte=now
    ).update(state=OutboundState.SENDING, attempts=F("attempts") + 1)
    if not claimed:
        state = OutboundMessage.objects.filter(pk=outbound_id).values_list("state", flat=True)
        return state.first() or "missing"
    message = OutboundMessage.objects.select_related("notification__recipient").get(pk=outbound_id)
    note, backend = message.notification, get_backend()
    user = note.recipient
    try:
        if backend.channel != message.channel:
            raise RuntimeError(f"渠道 {message.channel} 未启用（当前 {backend.channel}）")
        backend.send(
            recipient=user.get_full_name() or user.get_username(),
            title=note.title,
            body=note.body,
            url=note.url,
        )
    except Exception as exc:  # any failure of a channel is retried, never raised into the worker
        error = f"{type(exc).__name__}: {exc}"[:500]
        if message.attempts >= MAX_ATTEMPTS:
            OutboundMessage.objects.filter(pk=outbound_id, state=OutboundState.SENDING).update(
                state=OutboundState.FAILED, last_error=error
            )
            logger.error(
                "outbound %s failed for good after %s attempts: %s",
                outbound_id,
                message.attempts,
                error,
            )
            return OutboundState.FAILED
        retry_at = now + BACKOFF[min(message.attempts, len(BACKOFF)) - 1]
        with transaction.atomic():
            OutboundMessage.objects.filter(pk=outbound_id, state=OutboundState.SENDING).update(
                state=OutboundState.PENDING, last_error=error, next_attempt_at=retry_at
            )
            from jiayuan.notifications.tasks import send_outbound_task

            enqueue(send_outbound_task, run_after=retry_at, outbound_id=outbound_id)
        logger.warning(
            "outbound %s attempt %s failed (%s), retry at %s",
            outbound_id,
            message.attempts,
            error,
            retry_at,
        )
        return OutboundState.PENDING
    OutboundMessage.objects.filter(pk=outbound_id, state=OutboundState.SENDING).update(
        state=OutboundState.SENT, sent_at=timezone.now(), last_error=""
    )
    return OutboundState.SENT


def resend_stale_outbound(*, now: dt.datetime, limit: int = 500) -> int:
    """Send pending messages whose task was lost (``STALE_AFTER`` past their time). The claim in
    ``send_outbound`` keeps this safe next to the queued tasks."""
    ids = list(
        OutboundMessage.objects.filter(
            state=OutboundState.PENDING, next_attempt_at__lte=now - STALE_AFTER
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    return sum(send_outbound(outbound_id=i, now=now) == OutboundState.SENT for i in ids)


# --- marking read (the page) -----------------------------------------------------------------


def notification_mark_read(
    *, user: object, notification_id: int, now: dt.datetime | None = None
) -> Notification:
    note = access_notification(user=user, notification_id=notification_id)
    if note.read_at is None:
        Notification.objects.filter(pk=note.pk, read_at__isnull=True).update(
            read_at=now or timezone.now()
        )
        note.refresh_from_db(fields=["read_at"])
    return note


def notifications_mark_all_read(*, user: object, now: dt.datetime | None = None) -> int:
    return Notification.objects.filter(
        recipient_id=getattr(user, "pk", None), read_at__isnull=True
    ).update(read_at=now or timezone.now())
