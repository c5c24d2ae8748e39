"""The SLA sweep (时限巡检): warn before a deadline, act once it has passed, archive what the
reporter never rated. Run by ``jiayuan sla sweep`` and by ``jiayuan worker`` in its loop.

The deadline in force (``phase``) depends on where the ticket stands:

======================  ==================  =====
state                   deadline            phase
======================  ==================  =====
assigned, called_up     ``accept_due``      0
in_progress, dispatched ``resolve_due``     1
supervised (any open)   ``supervise_due``   2
======================  ==================  =====

Exactly once, however many sweepers run: each warning and each overdue action is claimed with a
conditional UPDATE (STYLE habit 5) that moves ``warned_gen`` / ``overdue_gen`` up to the
ticket's *mark*, ``deadline_gen * 3 + phase``, only if it is still below it::

    UPDATE ticket SET overdue_gen = :mark
     WHERE id = :id AND deadline_gen = :gen AND state = :state AND supervised = :sup
       AND <deadline> <= :now AND overdue_gen < :mark

One sweeper's UPDATE changes the row, every other one changes nothing and moves on. The mark
includes the phase because accepting a ticket or supervising it switches to another deadline
without changing any deadline value (so without bumping ``deadline_gen``); within one
``deadline_gen`` the phase only goes up (0 → 1 → 2), so marks only grow.

Tickets are swept in batches of ``BATCH_SIZE``, each in one transaction: one UPDATE claims every
overdue ticket of the batch at once (the claim above for all of them, matched on ``(id,
version)`` so each row is exactly the one read, ``RETURNING`` the ids this sweeper won), then
``workflow.transition_claimed_batch`` writes their events in one INSERT, the tickets in one
UPDATE and one notification task for the batch; warnings are claimed the same way. The claims and
the actions commit together, so a claim is never left without its action. If anything in the
fast path fails, the batch is rolled back and swept again ticket by ticket (one savepoint each),
so one bad ticket cannot stop the sweep; a ticket refused by the workflow there because someone
changed it meanwhile (``Conflict``) is logged and fine: the person who changed it acted.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, IntegerField, Max, Q, QuerySet, Value, When
from django.utils import timezone

from jiayuan.core import calendar
from jiayuan.notifications import recipients
from jiayuan.notifications.models import Kind
from jiayuan.notifications.services import notify_users
from jiayuan.tickets import sla
from jiayuan.tickets.choices import Level, State
from jiayuan.tickets.models import SlaPolicy, Ticket
from jiayuan.tickets.workflow import (
    Conflict,
    InvalidTransition,
    transition,
    transition_claimed_batch,
)

logger = logging.getLogger(__name__)

ACCEPT_STATES = [State.ASSIGNED, State.CALLED_UP]
RESOLVE_STATES = [State.IN_PROGRESS, State.DISPATCHED]
SWEPT_STATES = ACCEPT_STATES + RESOLVE_STATES
CALL_UP_LEVELS = {Level.GRID, Level.COMMUNITY, Level.STREET}
PHASES = 3
DUE_FIELDS = {0: "accept_due", 1: "resolve_due", 2: "supervise_due"}
DUE_LABELS = {0: "签收期限", 1: "办结期限", 2: "督办期限"}
BATCH_SIZE = 500

CALL_UP_NOTE = "超期未办结，系统自动呼叫上级"
SUPERVISE_NOTE = "超期自动督办"


@dataclass
class SweepResult:
    """What one sweep did: warnings sent, overdue actions taken (including notify-only ones),
    unrated tickets archived, claims whose action lost to a concurrent change, and the calendar
    warning of the day (a year without holiday data), if any."""

    warned: int = 0
    overdue_actions: int = 0
    archived: int = 0
    conflicts: int = 0
    errors: int = 0
    calendar_warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "warned": self.warned,
            "overdue_actions": self.overdue_actions,
            "archived": self.archived,
            "conflicts": self.conflicts,
            "errors": self.errors,
            "calendar_warning": self.calendar_warning,
        }


def phase_of(ticket: Ticket) -> int:
    if ticket.supervised:
        return 2
    return 0 if ticket.state in ACCEPT_STATES else 1


def _phase_expr() -> Case:
    return Case(
        When(supervised=True, then=Value(2)),
        When(state__in=ACCEPT_STATES, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )


def _due_expr() -> Case:
    return Case(
        When(supervised=True, then=F("supervise_due")),
        When(state__in=ACCEPT_STATES, then=F("accept_due")),
        default=F("resolve_due"),
        output_field=DateTimeField(),
    )


def due_tickets(*, now: dt.datetime, horizon: dt.timedelta) -> QuerySet[Ticket]:
    """Open tickets whose deadline in force falls before ``now + horizon`` and that still have an
    unclaimed warning, or an unclaimed overdue action when the deadline has passed."""
    return (
        Ticket.objects.filter(state__in=SWEPT_STATES)
        .alias(
            sweep_due=_due_expr(),
            sweep_mark=F("deadline_gen") * PHASES + _phase_expr(),
        )
        .filter(sweep_due__lte=now + horizon)
        .filter(
            Q(warned_gen__lt=F("sweep_mark"))
            | Q(overdue_gen__lt=F("sweep_mark"), sweep_due__lte=now)
        )
    )


def unrated_tickets(*, now: dt.datetime) -> QuerySet[Ticket]:
    """Resolved tickets past their feedback deadline without a rating (默认满意归档)."""
    return Ticket.objects.filter(state=State.RESOLVED, feedback_due__lte=now, rating="")


ID_PAGE = 20_000


def _batches(
    qs: QuerySet[Ticket], size: int, keep: Callable[[Ticket], bool]
) -> Iterator[list[Ticket]]:
    """Batches of the rows of ``qs``, read fresh batch by batch.

    The ids are read first, a page of ``ID_PAGE`` at a time (keyset on id), and each batch is a
    new query by those ids alone, so rows changed by the previous batch are read as they are now
    (SQLite gives no isolation between a cursor and writes on the same connection, which rules
    out one long ``.iterator()`` over rows being updated); ``keep`` drops the rows that no longer
    qualify. Both keep the sweep linear: a keyset query per batch, or ``qs`` narrowed by ids,
    makes SQLite find and sort every open ticket again for each batch (it picks the state
    index), which made 100,000 tickets cost five times 20,000."""
    last = 0
    by_id = _by_id(qs)
    while True:
        ids = list(qs.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:ID_PAGE])
        if not ids:
            return
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            batch = [t for t in by_id.filter(pk__in=chunk).order_by("pk") if keep(t)]
            if batch:
                yield batch
        last = ids[-1]


def _by_id(qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """All tickets, with ``qs``'s related rows, to be narrowed by id alone (see ``_batches``)."""
    by_id = qs.model.objects.all()
    by_id.query.select_related = qs.query.select_related
    return by_id


def by_ids(qs: QuerySet[Ticket], tickets: list[Ticket]) -> list[Ticket]:
    """The same tickets read afresh (by id alone, see ``_batches``)."""
    return list(_by_id(qs).filter(pk__in=[t.pk for t in tickets]).order_by("pk"))


class _Policies:
    """``sla.policy_for`` once per (category, owner region) during one sweep."""

    def __init__(self) -> None:
        self.cache: dict[tuple[int | None, int | None], SlaPolicy] = {}

    def __call__(self, ticket: Ticket) -> SlaPolicy:
        key = (ticket.category_id, ticket.owner_region_id)
        policy = self.cache.get(key)
        if policy is None:
            policy = sla.policy_for(category=ticket.category, region=ticket.owner_region)
            self.cache[key] = policy
        return policy


def max_warn_hours() -> int:
    stored = SlaPolicy.objects.aggregate(m=Max("warn_before_hours"))["m"] or 0
    return max(stored, sla.DEFAULT_POLICY.warn_before_hours)


def sla_sweep(*, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE) -> SweepResult:
    """One pass over every due ticket (see the module docstring). Safe to run concurrently."""
    now = now or timezone.now()
    result = SweepResult(calendar_warning=calendar.calendar_warning(timezone.localdate(now)))
    if result.calendar_warning:
        logger.warning("calendar: %s", result.calendar_warning)
    policies = _Policies()
    horizon = dt.timedelta(hours=max_warn_hours())
    due = due_tickets(now=now, horizon=horizon).select_related("owner_region", "category")

    def swept(ticket: Ticket) -> bool:
        return ticket.state in SWEPT_STATES  # the deadlines are checked ticket by ticket

    def unrated(ticket: Ticket) -> bool:
        return (
            ticket.state == State.RESOLVED
            and ticket.feedback_due is not None
            and ticket.feedback_due <= now
            and not ticket.rating
        )

    for batch in _batches(due, batch_size, swept):
        try:
            with transaction.atomic():
                partial = SweepResult()
                _sweep_batch(batch, now=now, policies=policies, result=partial)
        except Exception:
            logger.exception("sla sweep: batch from ticket %s failed, one by one", batch[0].pk)
            # Re-read: the rolled-back attempt may have changed the instances.
            batch = [t for t in by_ids(due, batch) if swept(t)]
            with transaction.atomic():
                for ticket in batch:
                    _sweep_one(ticket, now=now, policy=policies(ticket), result=result)
        else:
            result.warned += partial.warned
            result.overdue_actions += partial.overdue_actions
            result.conflicts += partial.conflicts
    unrated_qs = unrated_tickets(now=now).select_related("owner_region")
    for batch in _batches(unrated_qs, batch_size, unrated):
        with transaction.atomic():
            for ticket in batch:
                _archive_one(ticket, now=now, result=result)
    logger.info("sla sweep at %s: %s", now.isoformat(), result.as_dict())
    return result


def _sql_in(values: list[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# The mark and the deadline in force, in SQL (the same as ``_phase_expr`` / ``_due_expr``).
_ACCEPT = _sql_in([str(s) for s in ACCEPT_STATES])
_PHASE_SQL = f"(CASE WHEN supervised THEN 2 WHEN state IN {_ACCEPT} THEN 0 ELSE 1 END)"
_MARK_SQL = f"(deadline_gen * {PHASES} + {_PHASE_SQL})"
_DUE_SQL = (
    f"(CASE WHEN supervised THEN supervise_due WHEN state IN {_ACCEPT} THEN accept_due "
    "ELSE resolve_due END)"
)


def _claim_many(tickets: list[Ticket], *, overdue: bool, now: dt.datetime) -> set[int]:
    """Claim the overdue actions (or the warnings) of many tickets in one conditional UPDATE;
    returns the ids this sweeper won. Rows are matched on (id, version): a ticket changed since
    it was read is left for the next sweep."""
    if not tickets:
        return set()
    table = connection.ops.quote_name(Ticket._meta.db_table)
    if overdue:
        assign = f"overdue_gen = {_MARK_SQL}, warned_gen = {_MARK_SQL}"
        condition = f"overdue_gen < {_MARK_SQL} AND {_DUE_SQL} <= %s"
    else:
        assign = f"warned_gen = {_MARK_SQL}"
        condition = f"warned_gen < {_MARK_SQL} AND {_DUE_SQL} > %s"
    ids = ", ".join(["%s"] * len(tickets))
    rows = ", ".join(["(%s, %s)"] * len(tickets))
    params: list[Any] = [t.pk for t in tickets]
    params += [v for t in tickets for v in (t.pk, t.version)]
    params.append(connection.ops.adapt_datetimefield_value(now))
    # ``id IN (…)`` lets the database find the rows by key; the row-value match alone makes
    # SQLite scan the whole table for each batch.
    sql = (
        f"UPDATE {table} SET {assign} WHERE id IN ({ids}) AND (id, version) IN (VALUES {rows}) "
        f"AND {condition} RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _overdue_actions(ticket: Ticket, policy: SlaPolicy) -> list[tuple[str, dict[str, Any]]]:
    """What the policy does about a claimed overdue deadline (see ``_overdue``); [] = notify."""
    supervise = ("supervise", {"days": 1, "note": SUPERVISE_NOTE})
    if phase_of(ticket) == 2 or policy.auto_action == SlaPolicy.AutoAction.NONE:
        return []
    if (
        policy.auto_action == SlaPolicy.AutoAction.CALL_UP
        and ticket.state == State.IN_PROGRESS
        and ticket.level in CALL_UP_LEVELS
    ):
        return [("call_up", {"note": CALL_UP_NOTE}), supervise]
    return [supervise]


def _sweep_batch(
    batch: list[Ticket], *, now: dt.datetime, policies: _Policies, result: SweepResult
) -> None:
    """The fast path: claims and actions for a whole batch in a handful of statements."""
    overdue: list[Ticket] = []
    warn: list[Ticket] = []
    for ticket in batch:
        phase = phase_of(ticket)
        due: dt.datetime | None = getattr(ticket, DUE_FIELDS[phase])
        if due is None:
            continue
        mark = ticket.deadline_gen * PHASES + phase
        if due <= now:
            if ticket.overdue_gen < mark:
                overdue.append(ticket)
        elif (
            now >= due - dt.timedelta(hours=policies(ticket).warn_before_hours)
            and ticket.warned_gen < mark
        ):
            warn.append(ticket)

    won = _claim_many(overdue, overdue=True, now=now)
    items: list[tuple[Ticket, list[tuple[str, dict[str, Any]]]]] = []
    for ticket in overdue:
        if ticket.pk not in won:
            continue
        phase = phase_of(ticket)
        mark = ticket.deadline_gen * PHASES + phase
        # The claim moved the counters in the row; keep the instance in step with it.
        ticket.overdue_gen = ticket.warned_gen = mark
        actions = _overdue_actions(ticket, policies(ticket))
        if actions:
            items.append((ticket, actions))
        else:
            policy = policies(ticket)
            _overdue(ticket, now=now, policy=policy, phase=phase, mark=mark, result=result)
    outcome = transition_claimed_batch(items, now=now)
    result.overdue_actions += len(outcome.events)
    for ticket, exc in outcome.refused:
        result.conflicts += 1
        logger.info("sla sweep: ticket %s refused (%s)", ticket.pk, exc)

    won = _claim_many(warn, overdue=False, now=now)
    for ticket in warn:
        if ticket.pk not in won:
            continue
        phase = phase_of(ticket)
        ticket.warned_gen = ticket.deadline_gen * PHASES + phase
        _warn(ticket, now=now, phase=phase, mark=ticket.warned_gen, result=result)


def _warn(ticket: Ticket, *, now: dt.datetime, phase: int, mark: int, result: SweepResult) -> None:
    due: dt.datetime = getattr(ticket, DUE_FIELDS[phase])
    local = timezone.localtime(due)
    notify_users(
        ticket=ticket,
        kind=Kind.WARNING,
        user_ids=recipients.actors_of(ticket),
        title=f"即将超期：{ticket.number} {ticket.title}",
        body=f"{DUE_LABELS[phase]} {local:%Y-%m-%d %H:%M}，请抓紧办理",
        key=f"warning:{ticket.pk}:{mark}",
        now=now,
    )
    result.warned += 1


def _claim(ticket: Ticket, *, counter: str, mark: int, due_q: Q, extra: dict[str, int]) -> bool:
    """The conditional UPDATE that exactly one sweeper wins."""
    return bool(
        Ticket.objects.filter(
            due_q,
            pk=ticket.pk,
            deadline_gen=ticket.deadline_gen,
            state=ticket.state,
            supervised=ticket.supervised,
            **{f"{counter}__lt": mark},
        ).update(**{counter: mark}, **extra)
    )


def _sweep_one(ticket: Ticket, *, now: dt.datetime, policy: SlaPolicy, result: SweepResult) -> None:
    phase = phase_of(ticket)
    field = DUE_FIELDS[phase]
    due: dt.datetime | None = getattr(ticket, field)
    if due is None:
        return
    mark = ticket.deadline_gen * PHASES + phase
    try:
        with transaction.atomic():
            if due <= now:
                if ticket.overdue_gen >= mark:
                    return
                # Past the deadline a warning is moot: the overdue claim takes the warning too.
                if _claim(
                    ticket,
                    counter="overdue_gen",
                    mark=mark,
                    due_q=Q(**{f"{field}__lte": now}),
                    extra={"warned_gen": mark},
                ):
                    _overdue(ticket, now=now, policy=policy, phase=phase, mark=mark, result=result)
                return
            warn_from = due - dt.timedelta(hours=policy.warn_before_hours)
            if now < warn_from or ticket.warned_gen >= mark:
                return
            if _claim(
                ticket,
                counter="warned_gen",
                mark=mark,
                due_q=Q(**{f"{field}__gt": now, f"{field}__lte": now + (due - warn_from)}),
                extra={},
            ):
                _warn(ticket, now=now, phase=phase, mark=mark, result=result)
    except Exception:  # one bad ticket must not stop the sweep; its claim was rolled back
        result.errors += 1
        logger.exception("sla sweep: ticket %s failed", ticket.pk)


def _overdue(
    ticket: Ticket,
    *,
    now: dt.datetime,
    policy: SlaPolicy,
    phase: int,
    mark: int,
    result: SweepResult,
) -> None:
    """Apply the policy's auto action for a claimed overdue deadline, one ticket at a time
    (the fallback path; ``_overdue_actions`` decides, as in the batch path)."""
    actions = _overdue_actions(ticket, policy)
    try:
        if not actions:
            # A missed supervision deadline (or a notify-only policy) is told, not re-supervised.
            notify_users(
                ticket=ticket,
                kind=Kind.OVERDUE,
                user_ids=recipients.actors_of(ticket),
                title=f"已超期：{ticket.number} {ticket.title}",
                body=f"{DUE_LABELS[phase]}已过，请尽快办理",
                key=f"overdue:{ticket.pk}:{mark}",
                now=now,
            )
        for i, (action, data) in enumerate(actions):
            try:
                transition(ticket, action, system=True, now=now, **data)
                break
            except InvalidTransition:  # e.g. no rung above: the next action (supervise)
                if i == len(actions) - 1:
                    raise
    except (Conflict, InvalidTransition) as exc:
        result.conflicts += 1
        logger.info("sla sweep: ticket %s changed meanwhile (%s)", ticket.pk, exc)
        return
    result.overdue_actions += 1


def _archive_one(ticket: Ticket, *, now: dt.datetime, result: SweepResult) -> None:
    """逾期未评价，默认满意归档. ``transition``'s versioned UPDATE is the claim here."""
    try:
        with transaction.atomic():
            transition(ticket, "archive", system=True, now=now)
        result.archived += 1
    except (Conflict, InvalidTransition) as exc:
        result.conflicts += 1
        logger.info("sla sweep: ticket %s not archived (%s)", ticket.pk, exc)
    except Exception:
        result.errors += 1
        logger.exception("sla sweep: ticket %s could not be archived", ticket.pk)
