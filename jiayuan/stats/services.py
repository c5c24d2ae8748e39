"""Keeping the rollups current (汇总更新): ``stats_update`` reads the event log after the
watermark and applies each touched ticket's change of contribution as a delta; ``stats_rebuild``
empties the rollups and reads the whole log again.

One batch is one transaction: claim the watermark row with a conditional UPDATE (a concurrent
worker's claim then matches nothing and it moves on to the next batch), read up to
``batch_size`` events after it, recompute the facts of their tickets from the ticket rows, add
``new − old`` to the rollup rows (``INSERT … ON CONFLICT DO UPDATE SET x = x + excluded.x``,
the same statement on SQLite ≥ 3.24 and PostgreSQL), store the new facts and move the watermark.
Processing the same events twice changes nothing: a fact recomputed from the same row equals the
stored one, so the delta is zero. Incremental passes therefore end where a rebuild ends.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from jiayuan.core.scoping import PATH_SEP
from jiayuan.regions.models import Region
from jiayuan.stats.facts import (
    TICKET_FIELDS,
    Fact,
    department_keys,
    estate_keys,
    event_bits,
    fact_of,
    local_day,
    region_keys,
)
from jiayuan.stats.models import (
    COUNTERS,
    DAY_ROWS_ONLY,
    DepartmentDay,
    DepartmentDayTotal,
    DepartmentMonth,
    DepartmentMonthTotal,
    EstateDay,
    EstateMonth,
    RegionDay,
    RegionDayTotal,
    RegionMonth,
    RegionMonthTotal,
    TicketFact,
    TicketFactDepartment,
    Watermark,
)
from jiayuan.tickets.choices import AssignmentState
from jiayuan.tickets.models import Ticket, TicketAssignment, TicketEvent

BATCH_SIZE = 5000
# A missing event id below the watermark is rechecked for this long (a slow transaction that
# took the id may still commit), then taken for a rolled-back one.
HOLE_SECONDS = 3600
MAX_HOLES = 1000
ZERO = (0,) * len(COUNTERS)


@dataclass
class UpdateResult:
    batches: int = 0
    events: int = 0
    tickets: int = 0
    last_event_id: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Ancestry:
    """Region id → ids of the node and all its ancestors (from the materialized path), and
    which of those nodes keep day rows only (``DAY_ROWS_ONLY``)."""

    def __init__(self) -> None:
        self.cache: dict[int, tuple[int, ...]] = {}
        self.day_rows_only: set[int] = set()

    def load(self, region_ids: Iterable[int | None]) -> dict[int, tuple[int, ...]]:
        missing = {r for r in region_ids if r is not None and r not in self.cache}
        if missing:
            paths = dict(Region.objects.filter(pk__in=missing).values_list("pk", "path"))
            codes = {c for p in paths.values() for c in p.split(PATH_SEP)}
            self._add(
                paths, Region.objects.filter(code__in=codes).values_list("code", "pk", "level")
            )
        return self.cache

    def _add(self, paths: dict[int, str], nodes: Iterable[tuple[str, int, str]]) -> None:
        ids = {}
        for code, pk, level in nodes:
            ids[code] = pk
            if level in DAY_ROWS_ONLY:
                self.day_rows_only.add(pk)
        for pk, path in paths.items():
            self.cache[pk] = tuple(ids[c] for c in path.split(PATH_SEP) if c in ids)

    @classmethod
    def everything(cls) -> Ancestry:
        """All regions at once (the generator and big rebuilds)."""
        ancestry = cls()
        rows = list(Region.objects.values_list("pk", "code", "path", "level"))
        ancestry._add({pk: path for pk, _, path, _ in rows}, [(c, pk, lv) for pk, c, _, lv in rows])
        return ancestry


class Deltas:
    """Counter changes per rollup row, accumulated before one write per row."""

    def __init__(self, day_rows_only: set[int]) -> None:
        self.day_rows_only = day_rows_only  # nodes without month rows or totals
        self.regions: dict[Any, list[int]] = defaultdict(lambda: [0] * len(COUNTERS))
        self.departments: dict[Any, list[int]] = defaultdict(lambda: [0] * len(COUNTERS))
        self.estates: dict[Any, int] = defaultdict(int)

    def add(self, fact: Fact, ancestors: dict[int, tuple[int, ...]], sign: int) -> None:
        values = fact.counters()
        if values is None:
            return
        for key in region_keys(fact, ancestors):
            row = self.regions[key]
            for i, v in enumerate(values):
                row[i] += sign * v
        for dkey in department_keys(fact):
            row = self.departments[dkey]
            for i, v in enumerate(values):
                row[i] += sign * v
        for ekey in estate_keys(fact, ancestors):
            self.estates[ekey] += sign

    def write(self) -> None:
        """Add the deltas to the day rows and, summed per month, to the month rows; both also
        summed over categories and channels to the totals (for regions, the day rows only of
        the nodes in ``day_rows_only``)."""
        region_keys = ("region_id", "day", "category_pk", "channel")
        department_keys = ("department_id", "day", "category_pk", "channel")
        estates = {k: [v] for k, v in self.estates.items()}
        only = self.day_rows_only
        summarised = {k: v for k, v in self.regions.items() if k[0] not in only}
        for deltas, summed, keys, (day, month, day_total, month_total) in (
            (self.regions, summarised, region_keys, REGION_TABLES),
            (self.departments, self.departments, department_keys, DEPARTMENT_TABLES),
        ):
            monthly = _per_month(summed)
            _upsert(day, keys, deltas)
            _upsert(month, keys, monthly)
            _upsert(day_total, keys[:2], _totals(summed))
            _upsert(month_total, keys[:2], _totals(monthly))
        _upsert(EstateDay, ("region_id", "day", "estate_id"), estates, counters=("received",))
        _upsert(
            EstateMonth,
            ("region_id", "day", "estate_id"),
            _per_month(estates),
            counters=("received",),
        )


# Day, month, day-total and month-total tables of the region and department rollups.
REGION_TABLES = (RegionDay, RegionMonth, RegionDayTotal, RegionMonthTotal)
DEPARTMENT_TABLES = (DepartmentDay, DepartmentMonth, DepartmentDayTotal, DepartmentMonthTotal)


def _totals(deltas: dict[Any, list[int]]) -> dict[Any, list[int]]:
    """Deltas keyed ``(key, day, category, channel)`` summed per ``(key, day)``."""
    totals: dict[Any, list[int]] = {}
    for key, values in deltas.items():
        into = totals.get(key[:2])
        if into is None:
            totals[key[:2]] = list(values)
        else:
            for i, v in enumerate(values):
                into[i] += v
    return totals


def _per_month(deltas: dict[Any, list[int]]) -> dict[Any, list[int]]:
    """Day-keyed deltas (the day second in the key) summed per month (its first day)."""
    months: dict[Any, list[int]] = {}
    for key, values in deltas.items():
        month_key = (key[0], key[1].replace(day=1), *key[2:])
        into = months.get(month_key)
        if into is None:
            months[month_key] = list(values)
        else:
            for i, v in enumerate(values):
                into[i] += v
    return months


def month_sql(column: str) -> str:
    """SQL for the first day of the month of a date column (SQLite or PostgreSQL)."""
    if connection.vendor == "postgresql":
        return f"CAST(date_trunc('month', {column}) AS date)"
    return f"date({column}, 'start of month')"


def _upsert(
    model: Any,
    keys: tuple[str, ...],
    deltas: dict[Any, list[int]],
    counters: tuple[str, ...] = COUNTERS,
) -> None:
    """Add each delta to its row (created when missing); drop rows left with nothing received
    (every counter counts received tickets only, so such a row is all zeros)."""
    changed = [(k, v) for k, v in deltas.items() if any(v)]
    if not changed:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join((*keys, *counters))
    marks = ", ".join(["%s"] * (len(keys) + len(counters)))
    sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counters)
    sql = (
        f"INSERT INTO {table} ({cols}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    )
    emptied = [k for k, v in changed if v[0] < 0]
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(*k, *v) for k, v in changed])
        if emptied:
            where = " AND ".join(f"{k} = %s" for k in keys)
            cursor.executemany(f"DELETE FROM {table} WHERE {where} AND received = 0", emptied)


def _watermark() -> Watermark:
    mark = Watermark.objects.filter(pk=1).first()
    if mark is None:
        Watermark.objects.bulk_create([Watermark(pk=1)], ignore_conflicts=True)
        mark = Watermark.objects.get(pk=1)
    return mark


def _claim(mark: Watermark, now: dt.datetime) -> bool:
    """Take the watermark row for this transaction; False if another worker moved it first."""
    return (
        Watermark.objects.filter(pk=1, last_event_id=mark.last_event_id).update(updated_at=now) == 1
    )


EVENT_FIELDS = ("id", "ticket_id", "action", "actor_id", "actor_label", "data")


def _hole_q(holes: list[list[int]]) -> Q:
    q = Q(pk__in=[])
    for low, high, _ in holes:
        q |= Q(pk__gte=low, pk__lte=high)
    return q


def _next_holes(
    holes: list[list[int]], start: int, ids: list[int], found: set[int], now: int
) -> list[list[int]]:
    """Holes still worth rechecking: old ones minus what was found and what expired, plus the
    gaps of this batch's ids above ``start``."""
    kept: list[list[int]] = []
    for low, high, seen in holes:
        if now - seen > HOLE_SECONDS:
            continue
        run_start = None
        for i in range(low, high + 2):
            if i <= high and i not in found:
                run_start = i if run_start is None else run_start
            elif run_start is not None:
                kept.append([run_start, i - 1, seen])
                run_start = None
    previous = start if start else (ids[0] - 1 if ids else 0)  # from 0: nothing below to wait for
    for i in ids:
        if i > previous + 1:
            kept.append([previous + 1, i - 1, now])
        previous = i
    return kept[-MAX_HOLES:]


def apply_tickets(ticket_ids: set[int], sticky: dict[int, int], ancestry: Ancestry) -> int:
    """Recompute the facts of these tickets and apply the change to the rollups (inside the
    caller's transaction). ``sticky`` holds the bits their new events set."""
    if not ticket_ids:
        return 0
    rows = list(Ticket.objects.filter(pk__in=ticket_ids).values(*TICKET_FIELDS))
    departments: dict[int, list[tuple[int, dt.date]]] = defaultdict(list)
    for ticket_id, department_id, created in (
        TicketAssignment.objects.filter(ticket_id__in=ticket_ids)
        .exclude(state=AssignmentState.RETURNED)
        .values_list("ticket_id", "department_id", "created_at")
    ):
        departments[ticket_id].append((department_id, local_day(created)))
    old = load_facts(ticket_ids)
    new = [
        fact_of(
            row,
            sticky=sticky.get(row["id"], 0) | (old[row["id"]].sticky if row["id"] in old else 0),
            departments=departments.get(row["id"], ()),
        )
        for row in rows
    ]
    ancestors = ancestry.load(
        [f.region_id for f in old.values()] + [f.region_id for f in new]  # moves: both ends
    )
    deltas = Deltas(ancestry.day_rows_only)
    for fact in old.values():
        deltas.add(fact, ancestors, -1)
    for fact in new:
        deltas.add(fact, ancestors, +1)
    deltas.write()
    changed = [f for f in new if old.get(f.ticket_id) != f]
    gone = [t for t in old if t not in {f.ticket_id for f in new}]  # ticket rows deleted
    save_facts(changed, replace=[f.ticket_id for f in changed] + gone)
    return len(rows)


def load_facts(ticket_ids: Iterable[int]) -> dict[int, Fact]:
    ids = list(ticket_ids)
    departments: dict[int, list[tuple[int, dt.date]]] = defaultdict(list)
    for ticket_id, department_id, day in TicketFactDepartment.objects.filter(
        ticket_id__in=ids
    ).values_list("ticket_id", "department_id", "day"):
        departments[ticket_id].append((department_id, day))
    return {
        row.ticket_id: Fact(
            ticket_id=row.ticket_id,
            region_id=row.region_id,
            day=row.day,
            category_pk=row.category_pk,
            channel=row.channel,
            estate_id=row.estate_id,
            flags=row.flags,
            first_response_seconds=row.first_response_seconds,
            resolution_seconds=row.resolution_seconds,
            departments=tuple(sorted(departments.get(row.ticket_id, ()))),
        )
        for row in TicketFact.objects.filter(ticket_id__in=ids)
    }


def save_facts(facts: list[Fact], *, replace: list[int]) -> None:
    if replace:
        TicketFact.objects.filter(ticket_id__in=replace).delete()
        TicketFactDepartment.objects.filter(ticket_id__in=replace).delete()
    TicketFact.objects.bulk_create(
        [
            TicketFact(
                ticket_id=f.ticket_id,
                region_id=f.region_id,
                day=f.day,
                category_pk=f.category_pk,
                channel=f.channel,
                estate_id=f.estate_id,
                flags=f.flags,
                first_response_seconds=f.first_response_seconds,
                resolution_seconds=f.resolution_seconds,
            )
            for f in facts
        ],
        batch_size=1000,
    )
    TicketFactDepartment.objects.bulk_create(
        [
            TicketFactDepartment(ticket_id=f.ticket_id, department_id=d, day=day)
            for f in facts
            for d, day in f.departments
        ],
        batch_size=1000,
    )


def _one_batch(batch_size: int, ancestry: Ancestry) -> tuple[int, int, int] | None:
    """Process one batch; (events, tickets, watermark), or None when there is nothing new."""
    now = timezone.now()
    with transaction.atomic():
        mark = _watermark()
        if not _claim(mark, now):
            return (0, 0, mark.last_event_id)  # another worker took this batch: try the next
        start = mark.last_event_id
        events = list(
            TicketEvent.objects.filter(pk__gt=start)
            .order_by("pk")
            .values_list(*EVENT_FIELDS)[:batch_size]
        )
        late = (
            list(TicketEvent.objects.filter(_hole_q(mark.holes)).values_list(*EVENT_FIELDS))
            if mark.holes
            else []
        )
        if not events and not late:
            if mark.holes:
                holes = _next_holes(mark.holes, start, [], set(), int(time.time()))
                if holes != mark.holes:
                    Watermark.objects.filter(pk=1).update(holes=holes)
            return None
        sticky: dict[int, int] = defaultdict(int)
        for _, ticket_id, action, actor_id, label, data in (*events, *late):
            sticky[ticket_id] |= event_bits(
                action=action, actor_id=actor_id, actor_label=label, data=data
            )
        tickets = apply_tickets(set(sticky), sticky, ancestry)
        last = events[-1][0] if events else start
        holes = _next_holes(
            mark.holes, start, [e[0] for e in events], {e[0] for e in late}, int(time.time())
        )
        Watermark.objects.filter(pk=1).update(last_event_id=last, holes=holes)
    return (len(events) + len(late), tickets, last)


def stats_update(*, batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> UpdateResult:
    """One pass of the rollup updater (汇总更新): every event after the watermark, in batches."""
    started = time.perf_counter()
    result = UpdateResult()
    ancestry = Ancestry()
    while max_batches is None or result.batches < max_batches:
        done = _one_batch(batch_size, ancestry)
        if done is None:
            break
        events, tickets, last = done
        result.batches += 1
        result.events += events
        result.tickets += tickets
        result.last_event_id = last
    result.last_event_id = result.last_event_id or _watermark().last_event_id
    result.seconds = round(time.perf_counter() - started, 3)
    return result


STATS_MODELS = (
    *REGION_TABLES,
    *DEPARTMENT_TABLES,
    EstateDay,
    EstateMonth,
    TicketFact,
    TicketFactDepartment,
)


def stats_clear(*, last_event_id: int = 0) -> None:
    """Empty every rollup and fact and set the watermark (inside one transaction holding the
    watermark row, so no concurrent pass writes in between)."""
    with transaction.atomic():
        mark = _watermark()
        Watermark.objects.filter(pk=1).update(
            last_event_id=mark.last_event_id, updated_at=timezone.now()
        )
        with connection.cursor() as cursor:
            for model in STATS_MODELS:
                table = connection.ops.quote_name(model._meta.db_table)
                if connection.vendor == "postgresql":
                    cursor.execute(f"TRUNCATE {table}")
                else:
                    cursor.execute(f"DELETE FROM {table}")
        Watermark.objects.filter(pk=1).update(last_event_id=last_event_id, holes=[])


def stats_rebuild(*, batch_size: int = BATCH_SIZE) -> UpdateResult:
    """Recompute every rollup from the event log (truncate, then one full pass)."""
    stats_clear()
    return stats_update(batch_size=batch_size)
