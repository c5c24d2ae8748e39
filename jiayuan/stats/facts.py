"""A ticket's facts (统计事实): what one ticket contributes to the rollups, as a pure function of
its row (as it stands) and of the sticky bits its events set.

The definitions are those of ``tickets/measures.py`` (see ``docs/measures.md``), ticket by
ticket: a ticket merged (已合并) or withdrawn (已撤销) contributes nothing; otherwise it counts as
received on its creation day under its grid (or, unlocated, its owner region), and as resolved,
on time, rated, … as its row says now. Three facts are only in the event log and never clear:
ever supervised (督办), ever overdue (the SLA sweeper's automatic call-up or supervision) and
archived with the default rating (默认满意).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from jiayuan.tickets.choices import Level, Rating, State

F_RECEIVED = 1 << 0
F_RESOLVED = 1 << 1
F_ON_TIME = 1 << 2
F_RATED = 1 << 3
F_SATISFIED = 1 << 4
F_DEFAULT = 1 << 5
F_SOLVED = 1 << 6
F_IN_GRID = 1 << 7
F_IN_COMMUNITY = 1 << 8
F_OVERDUE = 1 << 9
F_SUPERVISED = 1 << 10
STICKY = F_DEFAULT | F_OVERDUE | F_SUPERVISED
# The bit behind each counter of models.COUNTERS that is a plain 0/1 (received … supervised).
FLAG_COUNTERS = (
    F_RECEIVED,
    F_RESOLVED,
    F_ON_TIME,
    F_RATED,
    F_SATISFIED,
    F_DEFAULT,
    F_SOLVED,
    F_IN_GRID,
    F_IN_COMMUNITY,
    F_OVERDUE,
    F_SUPERVISED,
)

SYSTEM_LABEL = "系统"  # workflow.authorize's label for the intake and the SLA sweeper
NOT_RECEIVED = frozenset({State.MERGED, State.CANCELLED})
RESOLVED_STATES = frozenset({State.RESOLVED, State.CLOSED, State.ARCHIVED})
FINISHED_STATES = frozenset({State.CLOSED, State.ARCHIVED})
SATISFIED_RATINGS = frozenset({Rating.SATISFIED, Rating.BASIC})
COMMUNITY_LEVELS = frozenset({Level.GRID, Level.COMMUNITY})

# The ticket columns a fact is computed from (``Ticket.objects.values(*TICKET_FIELDS)``).
TICKET_FIELDS = (
    "id",
    "grid_id",
    "owner_region_id",
    "created_at",
    "category_id",
    "channel",
    "building__estate_id",
    "state",
    "rating",
    "accepted_at",
    "resolved_at",
    "resolve_due",
    "resolved_level",
)


def event_bits(*, action: str, actor_id: Any, actor_label: str, data: Any) -> int:
    """The sticky bits one event sets."""
    data = data if isinstance(data, dict) else {}
    bits = 0
    if action == "supervise" or (action == "rate" and "reopen_limit" in data):
        bits |= F_SUPERVISED  # 督办, by hand, by the sweeper, or past the reopen limit
    if action in ("supervise", "call_up") and actor_id is None and actor_label == SYSTEM_LABEL:
        bits |= F_OVERDUE  # the SLA sweeper's overdue action
    if action == "archive" and data.get("default_rating"):
        bits |= F_DEFAULT
    return bits


def local_day(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment).date()


@dataclass(frozen=True)
class Fact:
    ticket_id: int
    region_id: int | None
    day: dt.date
    category_pk: int
    channel: str
    estate_id: int | None
    flags: int
    first_response_seconds: int | None
    resolution_seconds: int | None
    departments: tuple[tuple[int, dt.date], ...] = ()

    @property
    def sticky(self) -> int:
        return self.flags & STICKY

    def counters(self) -> tuple[int, ...] | None:
        """The rollup counters (``models.COUNTERS`` order), None when it counts nowhere."""
        return counters_of(self.flags, self.first_response_seconds, self.resolution_seconds)


def counters_of(flags: int, first: int | None, resolution: int | None) -> tuple[int, ...] | None:
    if not flags & F_RECEIVED:
        return None
    return (
        *(1 if flags & bit else 0 for bit in FLAG_COUNTERS),
        0 if first is None else 1,
        first or 0,
        0 if resolution is None else 1,
        resolution or 0,
    )


def fact_flags(
    *,
    state: str,
    rating: str,
    resolved_at: dt.datetime | None,
    resolve_due: dt.datetime | None,
    resolved_level: str,
    sticky: int,
) -> int:
    """The fact bits of a ticket row (see the module docstring and ``docs/measures.md``)."""
    if state in NOT_RECEIVED:
        return sticky
    flags = F_RECEIVED | sticky
    if state in RESOLVED_STATES:
        flags |= F_RESOLVED
        if resolved_at is not None and resolve_due is not None and resolved_at <= resolve_due:
            flags |= F_ON_TIME
        if resolved_level == Level.GRID:
            flags |= F_IN_GRID
        if resolved_level in COMMUNITY_LEVELS:
            flags |= F_IN_COMMUNITY
    if state in FINISHED_STATES:
        if rating and not sticky & F_DEFAULT:
            flags |= F_RATED
            if rating in SATISFIED_RATINGS:
                flags |= F_SATISFIED
        if rating != Rating.UNSATISFIED:
            flags |= F_SOLVED
    return flags


def _seconds(begin: dt.datetime, end: dt.datetime | None) -> int | None:
    return None if end is None else int((end - begin).total_seconds())


def fact_of(
    row: dict[str, Any], *, sticky: int, departments: Iterable[tuple[int, dt.date]] = ()
) -> Fact:
    """The fact of one ticket row (``TICKET_FIELDS``)."""
    state = row["state"]
    resolved = state in RESOLVED_STATES
    created = row["created_at"]
    return Fact(
        ticket_id=row["id"],
        region_id=row["grid_id"] or row["owner_region_id"],
        day=local_day(created),
        category_pk=row["category_id"] or 0,
        channel=row["channel"],
        estate_id=row["building__estate_id"],
        flags=fact_flags(
            state=state,
            rating=row["rating"],
            resolved_at=row["resolved_at"],
            resolve_due=row["resolve_due"],
            resolved_level=row["resolved_level"],
            sticky=sticky,
        ),
        first_response_seconds=_seconds(created, row["accepted_at"]),
        resolution_seconds=_seconds(created, row["resolved_at"]) if resolved else None,
        departments=tuple(sorted(set(departments))),
    )


RegionKey = tuple[int, dt.date, int, str]
DepartmentKey = tuple[int, dt.date, int, str]
EstateKey = tuple[int, dt.date, int]


def region_keys(fact: Fact, ancestors: dict[int, tuple[int, ...]]) -> Iterator[RegionKey]:
    if fact.region_id is None:
        return
    for node in ancestors.get(fact.region_id, ()):
        yield (node, fact.day, fact.category_pk, fact.channel)


def department_keys(fact: Fact) -> Iterator[DepartmentKey]:
    for department_id, day in fact.departments:
        yield (department_id, day, fact.category_pk, fact.channel)


def estate_keys(fact: Fact, ancestors: dict[int, tuple[int, ...]]) -> Iterator[EstateKey]:
    if fact.region_id is None or fact.estate_id is None:
        return
    for node in ancestors.get(fact.region_id, ()):
        yield (node, fact.day, fact.estate_id)
