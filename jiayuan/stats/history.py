"""A realistic ticket history (演示诉求历史) on top of the demo city, generated fast.

``generate_history(tickets=N, years=Y, seed=S)`` writes N tickets received over the Y years
before ``end`` (default: now), each with its whole hash-chained event log (流转记录), its
department assignments and its statistics facts, then fills the rollups from the facts in SQL
and moves the rollup watermark past the new events. Every random choice comes from one
``random.Random`` seeded with the seed: the same seed and end give the same rows.

What makes it believable (figures in ``docs/stats.md``):

- **when**: days weighted by weekday (weekends and public holidays of the working-day calendar
  quieter), by month (summer and the heating season busier, the Spring Festival month quieter)
  and by a slow growth over the years; hours follow office hours, the hotline answers at night;
- **what**: first-level categories in the proportions of the 5,236 labelled messages in
  ``../shared/data/messages/train.csv`` (城乡建设 1369, 劳动和社会保障 1330, 教育文体 1077,
  商贸旅游 797, 环境保护 640, 卫生计生 606, 交通运输 417) plus 社区事务 (not in that data set)
  at 8 %; second-level categories evenly within, except 供暖 (heating) many times more frequent
  from 15 November to 15 March, 供电停电 and 噪音扰民 more frequent in summer;
- **how**: channels (12345 hotline 42 %, patrol 16 %, QR 18 %, …), 8 % of hotline tickets
  unlocated first (分拨 by the command centre), 1.5 % withdrawn, about 70 % resolved in the grid,
  call-ups to the community and the street, dispatch to the district department of the
  category (吹哨报到) with returns, extension requests, the SLA sweeper's automatic supervision
  when a deadline passes, ratings (about 90 % 满意/基本满意) with reopenings after 不满意 and
  default-satisfied archiving (默认满意) of the unrated. Tickets whose next step would fall
  after ``end`` are left open where they stand.

Events carry no user (``actor`` is empty, ``actor_label`` says the role); deadlines follow the
default "123" policy and the urgent categories' hours, computed with the working-day calendar.
Writes use PostgreSQL's COPY (psycopg 3) and SQLite's ``executemany`` in one transaction.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import accumulate
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from jiayuan.core import calendar
from jiayuan.core.errors import JiayuanError
from jiayuan.regions.choices import GridKind
from jiayuan.regions.choices import Level as RegionLevel
from jiayuan.regions.models import Building, Region
from jiayuan.staff.models import Department
from jiayuan.stats.facts import F_DEFAULT, F_OVERDUE, F_SUPERVISED, fact_flags
from jiayuan.stats.models import (
    COUNTERS,
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
from jiayuan.stats.services import Ancestry, month_sql, stats_update
from jiayuan.tickets.choices import Channel
from jiayuan.tickets.events import GENESIS
from jiayuan.tickets.models import Category, DailyCounter, Ticket, TicketAssignment, TicketEvent

CHUNK = 20000
TZ_OFFSET = 8 * 3600  # Asia/Shanghai has had no daylight saving since 1991
DAY = 86400
HOUR = 3600

# First-level category code → weight (the real data's counts; 社区事务 added at ~8 %).
CATEGORY_WEIGHTS = {
    "urban": 1369,
    "labour": 1330,
    "education": 1077,
    "commerce": 797,
    "environment": 640,
    "health": 606,
    "transport": 417,
    "community": 540,
}
# The district department (demo department slug) a category is dispatched to.
DEPARTMENT_OF = {
    "property": "zj",
    "housing_safety": "zj",
    "municipal": "cg",
    "illegal_building": "cg",
    "water_supply": "gs",
    "gas_leak": "rq",
    "heating": "gr",
    "power_supply": "gd",
    "noise": "ga",
    "garbage": "cg",
    "sewage": "sthj",
    "air": "sthj",
    "road": "jt",
    "bus": "jt",
    "parking": "cg",
    "enrolment": "jy",
    "culture_sport": "jy",
    "training": "jy",
    "wage_arrears": "rs",
    "social_insurance": "rs",
    "employment": "rs",
    "elderly_care": "mz",
    "consumer": "scjg",
    "market_order": "scjg",
    "tourism": "scjg",
    "medical": "wj",
    "public_health": "wj",
    "food_safety": "scjg",
    "neighbour_dispute": "mz",
    "community_service": "mz",
    "public_security": "ga",
}
CHANNELS = [
    (Channel.HOTLINE, 42),
    (Channel.QR, 18),
    (Channel.PATROL, 16),
    (Channel.WEB, 14),
    (Channel.OPEN311, 4),
    (Channel.MAILBOX, 3),
    (Channel.API, 3),
]
WEEKDAY = [1.15, 1.05, 1.0, 1.0, 0.95, 0.62, 0.55]
MONTH = [1.05, 0.8, 0.95, 0.95, 1.0, 1.05, 1.15, 1.15, 1.0, 0.95, 1.05, 1.1]
OFFICE_HOURS = [1, 1, 1, 1, 1, 2, 4, 10, 18, 20, 19, 14, 9, 11, 17, 18, 16, 13, 9, 7, 5, 4, 2, 1]
NIGHT_HOURS = [3, 2, 2, 2, 2, 3, 5, 9, 14, 15, 15, 12, 9, 10, 13, 14, 13, 12, 11, 10, 9, 8, 6, 4]

LABELS = {
    "grid": "网格员·演示",
    "community": "社区工作者·演示",
    "street": "街道·演示",
    "district": "指挥中心·演示",
    "department": "职能部门·演示",
}
RESULTS = ["已现场处理完毕", "已协调解决", "已维修完成", "已清理完毕", "已答复诉求人", "已整改到位"]
TITLES = ["问题反映", "诉求", "问题投诉", "求助", "咨询", "建议"]
CALL_UP_NOTES = {"community": "需社区协调解决", "street": "需街道协调解决"}
SIRS = ["先生", "女士"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"


@dataclass
class HistoryResult:
    tickets: int = 0
    events: int = 0
    assignments: int = 0
    first_day: str = ""
    last_day: str = ""
    generate_seconds: float = 0.0
    rollup_seconds: float = 0.0
    seconds: float = 0.0
    tickets_per_second: float = 0.0
    events_per_second: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _canon(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


_CLOCK = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]
_DATES: dict[int, str] = {}


def _date(epoch_day: int) -> str:
    text = _DATES.get(epoch_day)
    if text is None:
        text = _DATES[epoch_day] = (dt.date(1970, 1, 1) + dt.timedelta(days=epoch_day)).isoformat()
    return text


def _iso_utc(ts: int) -> str:
    """``event_content``'s ``at`` for a whole-second UTC epoch (time.strftime is the slow part
    of an event: days and clock times come from tables)."""
    day, clock = divmod(ts, 86400)
    return _date(day) + "T" + _CLOCK[clock] + ".000000+00:00"


def _j(value: Any) -> str:
    """One JSON scalar as json.dumps writes it (the strings here need no escaping)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return '"' + value + '"'
    return str(value)


class _Deadlines:
    """The "123" rule and the urgent categories' hours, cached per local day."""

    def __init__(self) -> None:
        self.cal = calendar.current()
        self.cache: dict[int, tuple[bool, int, int, int]] = {}

    def days(self, epoch_day: int) -> tuple[bool, int, int, int]:
        hit = self.cache.get(epoch_day)
        if hit is None:
            day = dt.date(1970, 1, 1) + dt.timedelta(days=epoch_day)
            working = self.cal.is_working_day(day)
            d = day if working else self.cal.next_working_day(day)
            targets = []
            for _ in range(3):
                d = self.cal.next_working_day(d)
                targets.append((d - dt.date(1970, 1, 1)).days)
            hit = (working, targets[0], targets[1], targets[2])
            self.cache[epoch_day] = hit
        return hit

    def due(self, ts: int, urgent: bool) -> tuple[int, int, int]:
        if urgent:
            return ts + HOUR, ts + 24 * HOUR, ts + 48 * HOUR
        local = ts + TZ_OFFSET
        epoch_day, clock = divmod(local, DAY)
        working, a, r, f = self.days(epoch_day)
        clock = clock if working else 0
        return (
            a * DAY + clock - TZ_OFFSET,
            r * DAY + clock - TZ_OFFSET,
            f * DAY + clock - TZ_OFFSET,
        )


class _Sink:
    """Rows to one table: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, model: Any, columns: list[str]) -> None:
        self.table = model._meta.db_table
        self.columns = columns
        actual = {f.column for f in model._meta.concrete_fields}
        if set(columns) != actual:
            raise RuntimeError(f"{self.table}: columns changed: {sorted(actual ^ set(columns))}")
        self.pg = connection.vendor == "postgresql"

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        cols = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        table = connection.ops.quote_name(self.table)
        if self.pg:
            with connection.cursor() as cursor:
                raw = cursor.cursor
                with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    copy.write("".join(_copy_line(r) for r in rows))
        else:
            marks = ", ".join("?" * len(self.columns))
            raw_conn = connection.connection
            raw_conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)


def _copy_value(v: Any) -> str:
    if v is None:
        return "\\N"
    if v is True:
        return "t"
    if v is False:
        return "f"
    return str(v)


def _copy_line(row: tuple[Any, ...]) -> str:
    return "\t".join([_copy_value(v) for v in row]) + "\n"


TICKET_COLUMNS = [
    "id", "number", "public_token", "channel", "category_id", "title", "description", "urgency",
    "reporter_id", "reporter_name", "reporter_phone", "anonymous", "confidential", "building_id",
    "household_id", "lng", "lat", "address", "grid_id", "grid_path", "owner_path", "state",
    "level", "owner_region_id", "owner_user_id", "called_from_id", "accept_due", "resolve_due",
    "feedback_due", "supervised", "supervise_due", "extension_requested_days", "deadline_gen",
    "warned_gen", "overdue_gen", "reopen_count", "rating", "rating_comment", "result",
    "merged_into_id", "attributes", "media_url", "external_ref", "idempotency_scope",
    "idempotency_key", "created_at", "updated_at", "accepted_at", "resolved_at", "closed_at",
    "resolved_level", "version", "last_hash",
]  # fmt: skip
EVENT_COLUMNS = [
    "id", "ticket_id", "seq", "at", "actor_id", "post_id", "actor_label", "action",
    "from_state", "to_state", "from_level", "to_level", "from_region_id", "to_region_id",
    "department_id", "note", "data", "prev_hash", "hash",
]  # fmt: skip
ASSIGNMENT_COLUMNS = [
    "id", "ticket_id", "department_id", "role", "state", "dispatched_from_id", "created_at",
    "accepted_at", "finished_at", "result",
]  # fmt: skip
FACT_COLUMNS = [
    "ticket_id", "region_id", "day", "category_pk", "channel", "estate_id", "flags",
    "first_response_seconds", "resolution_seconds",
]  # fmt: skip
FACT_DEPARTMENT_COLUMNS = ["id", "ticket_id", "department_id", "day"]


@dataclass
class _Grid:
    id: int
    path: str
    community: tuple[int, str]
    street: tuple[int, str]
    district: tuple[int, str]
    buildings: list[tuple[int, int | None, float | None, float | None, str]]


class _World:
    """The demo city as the generator needs it: grids with their ladder, buildings,
    categories, departments."""

    def __init__(self) -> None:
        regions = {
            pk: (path, parent, level)
            for pk, path, parent, level in Region.objects.values_list(
                "pk", "path", "parent_id", "level"
            )
        }
        buildings: dict[int, list[tuple[int, int | None, float | None, float | None, str]]] = {}
        for pk, grid_id, estate_id, lng, lat, address in Building.objects.order_by(
            "pk"
        ).values_list("pk", "grid_id", "estate_id", "lng", "lat", "address"):
            buildings.setdefault(grid_id, []).append((pk, estate_id, lng, lat, address))
        self.grids: list[_Grid] = []
        weights: list[float] = []
        grid_rows = Region.objects.filter(level=RegionLevel.GRID).order_by("code")
        for pk, kind in grid_rows.values_list("pk", "kind"):
            path, parent, _ = regions[pk]
            comm = parent
            street = regions[comm][1]
            district = regions[street][1]
            if regions[district][2] != RegionLevel.DISTRICT:
                continue
            self.grids.append(
                _Grid(
                    id=pk,
                    path=path,
                    community=(comm, regions[comm][0]),
                    street=(street, regions[street][0]),
                    district=(district, regions[district][0]),
                    buildings=buildings.get(pk, []),
                )
            )
            weights.append(1.0 if kind == GridKind.RESIDENTIAL else 0.4)
        if not self.grids:
            raise JiayuanError("请先生成演示城市（jiayuan demo-data）", code="no_demo_city")
        self.grid_cum = list(accumulate(weights))
        self.departments: dict[tuple[int, str], int] = {}
        for pk, code, region_id in Department.objects.values_list("pk", "code", "region_id"):
            self.departments[(region_id, code.rsplit("-", 1)[-1])] = pk
        cats = list(Category.objects.select_related("parent").filter(is_active=True))
        self.leaves = [c for c in cats if c.parent_id is not None and c.parent is not None]
        if not self.leaves:
            raise JiayuanError("没有诉求分类", code="no_categories")


def _category_tables(leaves: list[Category]) -> list[tuple[list[float], list[Category]]]:
    """Per month (0–11; index 12 = heating season) the cumulative weights of leaf categories."""
    by_parent: dict[int, list[Category]] = {}
    for c in leaves:
        by_parent.setdefault(c.parent_id or 0, []).append(c)
    tables = []
    for month in range(13):
        weights: list[float] = []
        cats: list[Category] = []
        for _, children in sorted(by_parent.items()):
            parent = children[0].parent
            assert parent is not None
            total = CATEGORY_WEIGHTS.get(parent.code, 300)
            raw = []
            for c in children:
                w = 1.0
                if c.code == "heating":
                    w = 6.0 if month == 12 else 0.15
                elif c.code in ("power_supply", "noise") and month in (5, 6, 7):
                    w = 2.0
                raw.append(w)
            scale = total / sum(raw)
            weights += [w * scale for w in raw]
            cats += children
        tables.append((list(accumulate(weights)), cats))
    return tables


def _pick(rng: random.Random, cum: Sequence[float]) -> int:
    return bisect.bisect_right(cum, rng.random() * cum[-1])


def _day_counts(rng: random.Random, first: dt.date, days: int, total: int) -> list[int]:
    cal = calendar.current()
    weights = []
    for i in range(days):
        d = first + dt.timedelta(days=i)
        w = WEEKDAY[d.weekday()] * MONTH[d.month - 1] * (0.85 + 0.3 * i / max(1, days))
        if d.weekday() < 5 and not cal.is_working_day(d):
            w *= 0.6  # public holiday
        weights.append(w * (0.9 + 0.2 * rng.random()))
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    order = sorted(range(days), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


class _Generator:
    def __init__(self, *, seed: int, world: _World, end_ts: int) -> None:
        self.rng = random.Random(f"{seed}:history")
        self.w = world
        self.end_ts = end_ts
        self.due = _Deadlines()
        self.cat_tables = _category_tables(world.leaves)
        self.channel_cum = list(accumulate(w for _, w in CHANNELS))
        self.channels = [str(c) for c, _ in CHANNELS]
        self.channel_labels = {str(c): str(c.label) for c, _ in CHANNELS}
        self.office = list(accumulate(OFFICE_HOURS))
        self.night = list(accumulate(NIGHT_HOURS))
        self.data_cache: dict[Any, str] = {}
        self.ticket_rows: list[tuple[Any, ...]] = []
        self.event_rows: list[tuple[Any, ...]] = []
        self.assignment_rows: list[tuple[Any, ...]] = []
        self.fact_rows: list[tuple[Any, ...]] = []
        self.fact_dept_rows: list[tuple[Any, ...]] = []
        self.pg = connection.vendor == "postgresql"
        self.ts_text: Callable[[int | None], str | None] = (
            self._pg_ts if self.pg else self._sqlite_ts
        )

    @staticmethod
    def _pg_ts(ts: int | None) -> str | None:
        if ts is None:
            return None
        day, clock = divmod(ts, 86400)
        return _date(day) + " " + _CLOCK[clock] + "+00"

    @staticmethod
    def _sqlite_ts(ts: int | None) -> str | None:
        if ts is None:
            return None
        day, clock = divmod(ts, 86400)
        return _date(day) + " " + _CLOCK[clock]

    def data(self, **data: Any) -> str:
        key = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(data.items()))
        hit = self.data_cache.get(key)
        if hit is None:
            hit = self.data_cache[key] = _canon(data)
        return hit

    def ticket(
        self, *, tid: int, number: str, created: int, event_id: int, assignment_id: int
    ) -> tuple[int, int, int]:
        """Generate one ticket; return (events written, next event id, next assignment id)."""
        rng, w = self.rng, self.w
        end = self.end_ts
        grid = w.grids[_pick(rng, w.grid_cum)]
        local = dt.datetime.fromtimestamp(created + TZ_OFFSET, tz=dt.UTC)
        month = local.month
        heating = (month, local.day) >= (11, 15) or (month, local.day) <= (3, 15)
        cum, cats = self.cat_tables[12 if heating else month - 1]
        cat = cats[_pick(rng, cum)]
        channel = self.channels[_pick(rng, self.channel_cum)]
        urgent = cat.urgent
        building = None
        if grid.buildings and channel != "patrol" and rng.random() < 0.9:
            building = grid.buildings[rng.randrange(len(grid.buildings))]
        unlocated = channel == "hotline" and rng.random() < 0.08

        # The row as it stands; updated event by event.
        state = "triage" if unlocated else "assigned"
        level = "district" if unlocated else "grid"
        owner = grid.district if unlocated else (grid.id, grid.path)
        grid_now: tuple[int, str] | None = None if unlocated else (grid.id, grid.path)
        called_from: int | None = None
        acc_due = res_due = fb_due = None
        if not unlocated:
            acc_due, res_due, fb_due = self.due.due(created, urgent)
        deadline_gen = 0 if unlocated else 1
        supervised = False
        supervise_due: int | None = None
        reopen = 0
        rating = ""
        result = ""
        accepted = resolved = closed = None
        resolved_level = ""
        sticky = 0
        assignment: list[Any] | None = None
        departments: list[tuple[int, int]] = []

        seq = 0
        prev = GENESIS
        t = created
        events = self.event_rows
        tid_s = str(tid)

        def emit(
            at: int,
            action: str,
            to_state: str,
            to_level: str,
            label: str,
            *,
            to_region: int | None = None,
            department: int | None = None,
            note: str = "",
            data: str = "{}",
        ) -> None:
            nonlocal seq, prev, event_id, state, level
            seq += 1
            payload = (
                '{"action":"' + action + '","actor":null,"actor_label":"' + label + '","at":"'
                + _iso_utc(at) + '","data":' + data + ',"department":' + _j(department)
                + ',"from_level":"' + level + '","from_region":' + _j(owner[0] if seq > 1 else None)
                + ',"from_state":"' + state + '","note":"' + note + '","post":null,"seq":'
                + str(seq) + ',"ticket":' + tid_s + ',"to_level":"' + to_level
                + '","to_region":' + _j(to_region) + ',"to_state":"' + to_state + '"}'
            )  # fmt: skip
            digest = hashlib.sha256((prev + "|" + payload).encode()).hexdigest()
            events.append(
                (
                    event_id, tid, seq, self.ts_text(at), None, None, label, action,
                    state if seq > 1 else "", to_state, level if seq > 1 else "", to_level,
                    owner[0] if seq > 1 else None, to_region, department, note, data, prev,
                    digest,
                )
            )  # fmt: skip
            event_id += 1
            prev = digest
            state, level = to_state, to_level

        # 受理: submit (the first event's from_* are empty, as ticket_create writes them).
        state, level = "", ""
        first_level = "district" if unlocated else "grid"
        emit(
            created,
            "submit",
            "triage" if unlocated else "assigned",
            first_level,
            self.channel_labels[channel],
            to_region=owner[0],
            data=self.data(channel=channel, located=not unlocated),
        )

        def arrive(at: int, region: tuple[int, str]) -> None:
            nonlocal owner, acc_due, res_due, fb_due, deadline_gen
            owner = region
            acc_due, res_due, fb_due = self.due.due(at, urgent)
            deadline_gen += 1

        def finish() -> tuple[int, int, int]:
            return self._finish(
                tid=tid, number=number, created=created, cat=cat, channel=channel,
                urgent=urgent, building=building, grid=grid_now, owner=owner, state=state,
                level=level, called_from=called_from, acc_due=acc_due, res_due=res_due,
                fb_due=fb_due, supervised=supervised, supervise_due=supervise_due,
                deadline_gen=deadline_gen, reopen=reopen, rating=rating, result=result,
                accepted=accepted, resolved=resolved, closed=closed,
                resolved_level=resolved_level, seq=seq, last_hash=prev, sticky=sticky,
                assignment=assignment, departments=departments, event_id=event_id,
                assignment_id=assignment_id,
            )  # fmt: skip

        def work_hours(at: int, mean: float) -> int:
            """``at`` plus an exponential delay, nights moved to the next morning."""
            nxt = at + int(rng.expovariate(1 / mean)) + 60
            hour = ((nxt + TZ_OFFSET) // HOUR) % 24
            if hour < 8 or hour >= 20:
                day_start = (nxt + TZ_OFFSET) // DAY * DAY - TZ_OFFSET
                if hour >= 20:
                    day_start += DAY
                nxt = day_start + 8 * HOUR + int(rng.random() * 2 * HOUR)
            return nxt

        # 撤销
        if not unlocated and rng.random() < 0.015:
            t = created + int(rng.random() * HOUR) + 60
            if t >= end:
                return finish()
            emit(t, "cancel", "cancelled", level, "诉求人")
            closed = t
            return finish()
        # 分拨: the command centre assigns an unlocated ticket to its grid.
        if unlocated:
            t = work_hours(created, 2 * HOUR)
            if t >= end:
                return finish()
            emit(t, "assign", "assigned", "grid", LABELS["district"], to_region=grid.id)
            grid_now = (grid.id, grid.path)
            arrive(t, (grid.id, grid.path))
        # 签收
        t = work_hours(t, 1.5 * HOUR)
        if t >= end:
            return finish()
        emit(t, "accept", "in_progress", "grid", LABELS["grid"])
        accepted = t

        # Where it gets resolved.
        u = rng.random()
        handler = "grid"
        if u >= 0.70:
            for up, region in (("community", grid.community), ("street", grid.street)):
                t = work_hours(t, 3 * HOUR)
                if t >= end:
                    return finish()
                called_from = owner[0]
                emit(
                    t, "call_up", "called_up", up, LABELS[handler], to_region=region[0],
                    note=CALL_UP_NOTES[up],
                )  # fmt: skip
                arrive(t, region)
                t = work_hours(t, 2 * HOUR)
                if t >= end:
                    return finish()
                emit(t, "respond", "in_progress", up, LABELS[up])
                handler = up
                if up == "community" and u < 0.86:
                    break
            if handler == "street" and u >= 0.91:
                dept = w.departments.get((grid.district[0], DEPARTMENT_OF.get(cat.code, "cg")))
                if dept is not None:
                    t = work_hours(t, 2 * HOUR)
                    if t >= end:
                        return finish()
                    emit(
                        t, "dispatch", "dispatched", "department", LABELS["street"],
                        department=dept, note="派单", data=self.data(co=[], lead=dept),
                    )  # fmt: skip
                    acc_due, res_due, fb_due = self.due.due(t, urgent)
                    deadline_gen += 1
                    assignment = [assignment_id, dept, "pending", grid.street[0], t, None, None]
                    assignment_id += 1
                    departments.append((dept, t))
                    t = work_hours(t, 4 * HOUR)
                    if t >= end:
                        return finish()
                    emit(
                        t, "dept_accept", "dispatched", "department", LABELS["department"],
                        department=dept, data=self.data(role="lead"),
                    )  # fmt: skip
                    assignment[2], assignment[5] = "accepted", t
                    if rng.random() < 0.08:  # 回退: not this department's matter
                        t = work_hours(t, 6 * HOUR)
                        if t >= end:
                            return finish()
                        emit(
                            t, "return", "in_progress", "street", LABELS["department"],
                            to_region=grid.street[0], department=dept, note="非本部门职责",
                            data=self.data(role="lead"),
                        )  # fmt: skip
                        assignment[2] = "returned"
                        departments.clear()
                        arrive(t, grid.street)
                    else:
                        handler = "department"
        # 延期
        if rng.random() < 0.03 and res_due is not None:
            t = work_hours(t, 4 * HOUR)
            if t >= end:
                return finish()
            days = 1 + rng.randrange(5)
            emit(
                t, "request_extension", state, level, LABELS[handler], note="需协调多方，申请延期",
                data=self.data(days=days),
                department=assignment[1] if assignment and handler == "department" else None,
            )  # fmt: skip
            t = work_hours(t, 3 * HOUR)
            if t >= end:
                return finish()
            emit(
                t, "approve_extension", state, level, LABELS["street"], note="同意延期",
                data=self.data(approved=True, days=days),
            )  # fmt: skip
            res_due += days * DAY  # calendar days: close enough for a demo
            if fb_due is not None:
                fb_due += days * DAY
            deadline_gen += 1

        # A few reporters stay unsatisfied whatever is done: closed 不满意 at the reopen limit.
        grumpy = rng.random() < 0.08
        means = {"grid": 5 * HOUR, "community": 14 * HOUR, "street": 30 * HOUR}
        while True:
            done = work_hours(t, means.get(handler, 30 * HOUR))
            # The SLA sweeper supervises what passes its deadline first (超期自动督办).
            if res_due is not None and done > res_due and not supervised:
                at = max(res_due, t) + int(rng.random() * 600)
                if at >= end:
                    return finish()
                emit(
                    at, "supervise", state, level, "系统", note="超期自动督办",
                    data=self.data(auto=True, days=1),
                )  # fmt: skip
                supervised = True
                supervise_due = at + DAY
                sticky |= F_SUPERVISED | F_OVERDUE
            if done >= end:
                return finish()
            t = done
            text = RESULTS[rng.randrange(len(RESULTS))]
            if handler == "department":
                assert assignment is not None
                emit(
                    t, "dept_finish", "resolved", "department", LABELS["department"],
                    department=assignment[1], note=text, data=self.data(resolved=True, role="lead"),
                )  # fmt: skip
                assignment[2], assignment[6] = "finished", t
            else:
                emit(
                    t, "resolve", "resolved", level, LABELS[handler], note=text,
                    data=self.data(photos=[]),
                )  # fmt: skip
                supervised = False
            resolved, resolved_level, result = t, level, text
            # 评价
            if rng.random() < 0.82:
                t = t + int(rng.expovariate(1 / (8 * HOUR))) + 300
                if t >= end:
                    return finish()
                v = rng.random()
                if grumpy:
                    choice = "unsatisfied"
                elif reopen:
                    choice = "satisfied" if v < 0.6 else "basic" if v < 0.9 else "unsatisfied"
                else:
                    choice = "satisfied" if v < 0.8 else "basic" if v < 0.95 else "unsatisfied"
                rating = choice
                if choice != "unsatisfied":
                    emit(t, "rate", "closed", level, "诉求人", data=self.data(rating=choice))
                    closed = t
                    return finish()
                if reopen >= 2:  # past the policy's limit: closed unsatisfied, supervised
                    emit(
                        t, "rate", "closed", level, "诉求人",
                        data=self.data(rating=choice, reopen_limit=2),
                    )  # fmt: skip
                    closed, supervised = t, True
                    sticky |= F_SUPERVISED
                    return finish()
                back = owner
                if level == "department":
                    back = grid.street  # the dispatcher; the finished assignment stays
                emit(
                    t, "rate", "in_progress", _ladder_level(back, grid), "诉求人",
                    to_region=back[0], data=self.data(rating=choice, reopened=True),
                )  # fmt: skip
                arrive(t, back)
                reopen += 1
                resolved = None
                handler = level if level != "department" else "street"
                continue
            # 逾期未评价，默认满意归档 by the sweeper once the feedback deadline passes.
            at = max(fb_due or t, t) + int(rng.random() * 1800) + 60
            if at >= end:
                return finish()
            emit(
                at, "archive", "archived", level, "系统", note="逾期未评价，默认满意归档",
                data=self.data(default_rating=True),
            )  # fmt: skip
            rating, closed = "satisfied", at
            sticky |= F_DEFAULT
            return finish()

    def _finish(self, **k: Any) -> tuple[int, int, int]:
        tid, created, state = k["tid"], k["created"], k["state"]
        ts = self.ts_text
        grid, owner, building = k["grid"], k["owner"], k["building"]
        rng = self.rng
        res_due, acc_due = k["res_due"], k["acc_due"]
        deadline_gen = k["deadline_gen"]
        # Deadlines already past at ``end`` were swept: mark them claimed so the live sweeper
        # does not act on years-old tickets (sweep.PHASES = 3 marks per deadline generation).
        swept = deadline_gen * 3 + 2 if (res_due or 0) < self.end_ts else 0
        anonymous = rng.random() < 0.1
        name = "" if anonymous else SURNAMES[rng.randrange(len(SURNAMES))] + rng.choice(SIRS)
        cat = k["cat"]
        self.ticket_rows.append(
            (
                tid, k["number"], f"{rng.getrandbits(96):024x}", k["channel"], cat.pk,
                cat.name + TITLES[tid % len(TITLES)], f"居民反映{cat.name}方面的问题，请协调处理。",
                "urgent" if k["urgent"] else "normal", None, name,
                "" if anonymous else f"1{rng.randrange(3, 9)}{rng.randrange(10**9):09d}",
                anonymous, False, building[0] if building else None, None,
                building[2] if building else None, building[3] if building else None,
                building[4] if building else "", grid[0] if grid else None,
                grid[1] if grid else "", owner[1], state, k["level"], owner[0], None,
                k["called_from"], ts(acc_due), ts(res_due), ts(k["fb_due"]), k["supervised"],
                ts(k["supervise_due"]), None, deadline_gen, swept, swept, k["reopen"],
                k["rating"], "", k["result"], None, "{}", "", "", "", "", ts(created),
                ts(max(created, k["closed"] or k["resolved"] or k["accepted"] or created)),
                ts(k["accepted"]), ts(k["resolved"]), ts(k["closed"]), k["resolved_level"],
                k["seq"], k["last_hash"],
            )
        )  # fmt: skip
        a = k["assignment"]
        if a is not None:
            self.assignment_rows.append(
                (
                    a[0], tid, a[1], "lead", a[2], a[3], ts(a[4]), ts(a[5]), ts(a[6]),
                    "已办理" if a[2] == "finished" else "非本部门职责" if a[2] == "returned"
                    else "",
                )
            )  # fmt: skip
        # The ticket's statistics facts, with the same function the updater uses.
        resolved = k["resolved"]
        resolved_state = state in ("resolved", "closed", "archived")
        flags = fact_flags(
            state=state,
            rating=k["rating"],
            resolved_at=resolved,
            resolve_due=res_due,
            resolved_level=k["resolved_level"],
            sticky=k["sticky"],
        )
        day = dt.date.fromordinal(_EPOCH_ORDINAL + (created + TZ_OFFSET) // DAY)
        self.fact_rows.append(
            (
                tid, grid[0] if grid else owner[0], day.isoformat(), cat.pk, k["channel"],
                building[1] if building else None, flags,
                None if k["accepted"] is None else k["accepted"] - created,
                resolved - created if resolved_state and resolved is not None else None,
            )
        )  # fmt: skip
        for dept, at in k["departments"]:
            dday = dt.date.fromordinal(_EPOCH_ORDINAL + (at + TZ_OFFSET) // DAY)
            self.fact_dept_rows.append((None, tid, dept, dday.isoformat()))
        return k["seq"], k["event_id"], k["assignment_id"]


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _ladder_level(region: tuple[int, str], grid: _Grid) -> str:
    if region[0] == grid.id:
        return "grid"
    if region[0] == grid.community[0]:
        return "community"
    if region[0] == grid.street[0]:
        return "street"
    return "district"


def _max_id(model: Any) -> int:
    return int(model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0)


def _reset_sequences(models: Iterable[Any]) -> None:
    if connection.vendor != "postgresql":
        return  # SQLite's AUTOINCREMENT follows the highest id inserted
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'COALESCE((SELECT MAX(id) FROM "{table}"), 1))'
            )


def generate_history(
    *,
    tickets: int,
    years: float = 1.0,
    seed: int = 2026,
    end: dt.datetime | None = None,
    say: Callable[[str], None] | None = None,
) -> HistoryResult:
    """Write ``tickets`` tickets received over the ``years`` before ``end`` (see the module
    docstring). Run it while nothing else writes tickets (it assigns ids itself)."""
    if tickets < 0 or years <= 0:
        raise JiayuanError("工单数和年数必须为正数", code="invalid_history")
    say = say or (lambda _: None)
    started = time.perf_counter()
    result = HistoryResult()
    # The rollups must be current before new events are appended behind the watermark.
    stats_update()
    world = _World()
    end = end or timezone.now()
    end_ts = int(end.timestamp())
    last_day = timezone.localtime(end).date()
    days = max(1, round(years * 365))
    first_day = last_day - dt.timedelta(days=days - 1)
    gen = _Generator(seed=seed, world=world, end_ts=end_ts)
    counts = _day_counts(gen.rng, first_day, days, tickets)
    sinks = {
        "tickets": _Sink(Ticket, TICKET_COLUMNS),
        "events": _Sink(TicketEvent, EVENT_COLUMNS),
        "assignments": _Sink(TicketAssignment, ASSIGNMENT_COLUMNS),
        "facts": _Sink(TicketFact, FACT_COLUMNS),
        "fact_departments": _Sink(TicketFactDepartment, FACT_DEPARTMENT_COLUMNS),
    }
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -262144")
    with transaction.atomic():
        tid = first_tid = _max_id(Ticket) + 1
        event_id = _max_id(TicketEvent) + 1
        assignment_id = first_assignment = _max_id(TicketAssignment) + 1
        counters = dict(
            DailyCounter.objects.filter(day__gte=first_day, day__lte=last_day).values_list(
                "day", "value"
            )
        )
        new_counters: dict[dt.date, int] = {}
        pending = 0
        for i, n in enumerate(counts):
            day = first_day + dt.timedelta(days=i)
            if not n:
                continue
            midnight = int(
                dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp() - TZ_OFFSET
            )
            stamps = []
            for _ in range(n):
                # Office hours for most channels; the hotline answers around the clock.
                hour = _pick(gen.rng, gen.night if gen.rng.random() < 0.4 else gen.office)
                stamp = midnight + hour * HOUR + gen.rng.randrange(HOUR)
                if stamp >= end_ts:  # today: before now
                    stamp = midnight + gen.rng.randrange(max(1, end_ts - midnight))
                stamps.append(stamp)
            stamps.sort()
            seq0 = counters.get(day, 0)
            prefix = f"J{day:%Y%m%d}"
            for j, created in enumerate(stamps, 1):
                if created >= end_ts:
                    continue
                number = f"{prefix}{seq0 + j:06d}"
                written, event_id, assignment_id = gen.ticket(
                    tid=tid,
                    number=number,
                    created=created,
                    event_id=event_id,
                    assignment_id=assignment_id,
                )
                result.events += written
                new_counters[day] = seq0 + j
                tid += 1
                pending += 1
                if pending >= CHUNK:
                    _flush(gen, sinks)
                    pending = 0
                    say(
                        f"已生成 {tid - first_tid:,} 张工单（{day}），"
                        f"{time.perf_counter() - started:.0f} 秒"
                    )
        _flush(gen, sinks)
        result.tickets = tid - first_tid
        result.assignments = assignment_id - first_assignment
        DailyCounter.objects.bulk_create(
            [DailyCounter(day=d, value=v) for d, v in new_counters.items()],
            update_conflicts=True,
            unique_fields=["day"],
            update_fields=["value"],
        )
        _reset_sequences([Ticket, TicketEvent, TicketAssignment, TicketFactDepartment])
        result.generate_seconds = round(time.perf_counter() - started, 1)
        say(f"工单与流转记录已写入（{result.generate_seconds} 秒），正在汇总统计……")
        rollup_started = time.perf_counter()
        fill_rollups(first_ticket_id=first_tid)
        Watermark.objects.update_or_create(
            pk=1, defaults={"last_event_id": event_id - 1, "updated_at": timezone.now()}
        )
        result.rollup_seconds = round(time.perf_counter() - rollup_started, 1)
    with connection.cursor() as cursor:
        for model in (
            Ticket,
            TicketEvent,
            TicketAssignment,
            RegionDay,
            RegionMonth,
            RegionDayTotal,
            RegionMonthTotal,
            EstateDay,
            EstateMonth,
        ):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    result.first_day, result.last_day = first_day.isoformat(), last_day.isoformat()
    result.seconds = round(time.perf_counter() - started, 1)
    result.tickets_per_second = round(result.tickets / max(result.seconds, 1e-9))
    result.events_per_second = round(result.events / max(result.seconds, 1e-9))
    return result


def _flush(gen: _Generator, sinks: dict[str, _Sink]) -> None:
    sinks["tickets"].write(gen.ticket_rows)
    sinks["events"].write(gen.event_rows)
    sinks["assignments"].write(gen.assignment_rows)
    sinks["facts"].write(gen.fact_rows)
    if gen.fact_dept_rows:
        next_id = _max_id(TicketFactDepartment) + 1
        sinks["fact_departments"].write(
            [(next_id + i, *row[1:]) for i, row in enumerate(gen.fact_dept_rows)]
        )
    for rows in (
        gen.ticket_rows,
        gen.event_rows,
        gen.assignment_rows,
        gen.fact_rows,
        gen.fact_dept_rows,
    ):
        rows.clear()


def fill_rollups(*, first_ticket_id: int) -> None:
    """Add the facts of tickets ``>= first_ticket_id`` to the rollups, in SQL (the same sums the
    updater makes row by row; the tests compare the two)."""
    ancestry = Ancestry.everything()
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS stats_tmp_ancestor")
        cursor.execute(
            "CREATE TEMPORARY TABLE stats_tmp_ancestor (region_id integer, node integer)"
        )
        pairs = [(r, n) for r, nodes in ancestry.cache.items() for n in nodes]
        cursor.executemany("INSERT INTO stats_tmp_ancestor VALUES (%s, %s)", pairs)
        cursor.execute("CREATE INDEX stats_tmp_ancestor_r ON stats_tmp_ancestor (region_id)")
        bits = ", ".join(f"SUM((f.flags >> {i}) & 1)" for i in range(11))
        sums = (
            f"{bits}, COUNT(f.first_response_seconds), "
            "COALESCE(SUM(f.first_response_seconds), 0), COUNT(f.resolution_seconds), "
            "COALESCE(SUM(f.resolution_seconds), 0)"
        )
        facts = q(TicketFact._meta.db_table)
        new = f"(f.flags & 1) = 1 AND f.ticket_id >= {int(first_ticket_id)}"

        def upsert(table: str, keys: str, counters: tuple[str, ...], select: str) -> None:
            sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counters)
            cursor.execute(
                f"INSERT INTO {table} ({keys}, {', '.join(counters)}) {select} "
                f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"
            )

        # Day rows, then the same sums per month (``day`` = the month's first day).
        for tables, day in (
            ((RegionDay, RegionDayTotal, DepartmentDay, DepartmentDayTotal, EstateDay), "{t}.day"),
            (
                (RegionMonth, RegionMonthTotal, DepartmentMonth, DepartmentMonthTotal, EstateMonth),
                month_sql("{t}.day"),
            ),
        ):
            region_table, region_total, department_table, department_total, estate_table = tables
            f_day, d_day = day.format(t="f"), day.format(t="d")
            regions = f"FROM {facts} f JOIN stats_tmp_ancestor a ON a.region_id = f.region_id"
            departments = (
                f"FROM {facts} f "
                f"JOIN {q(TicketFactDepartment._meta.db_table)} d ON d.ticket_id = f.ticket_id"
            )
            upsert(
                q(region_table._meta.db_table),
                "region_id, day, category_pk, channel",
                COUNTERS,
                f"SELECT a.node, {f_day}, f.category_pk, f.channel, {sums} {regions} "
                f"WHERE {new} GROUP BY a.node, {f_day}, f.category_pk, f.channel",
            )
            upsert(
                q(region_total._meta.db_table),
                "region_id, day",
                COUNTERS,
                f"SELECT a.node, {f_day}, {sums} {regions} WHERE {new} GROUP BY a.node, {f_day}",
            )
            upsert(
                q(department_table._meta.db_table),
                "department_id, day, category_pk, channel",
                COUNTERS,
                f"SELECT d.department_id, {d_day}, f.category_pk, f.channel, {sums} "
                f"{departments} WHERE {new} "
                f"GROUP BY d.department_id, {d_day}, f.category_pk, f.channel",
            )
            upsert(
                q(department_total._meta.db_table),
                "department_id, day",
                COUNTERS,
                f"SELECT d.department_id, {d_day}, {sums} {departments} WHERE {new} "
                f"GROUP BY d.department_id, {d_day}",
            )
            upsert(
                q(estate_table._meta.db_table),
                "region_id, day, estate_id",
                ("received",),
                f"SELECT a.node, {f_day}, f.estate_id, COUNT(*) FROM {facts} f "
                f"JOIN stats_tmp_ancestor a ON a.region_id = f.region_id "
                f"WHERE {new} AND f.estate_id IS NOT NULL GROUP BY a.node, {f_day}, f.estate_id",
            )
        cursor.execute("DROP TABLE stats_tmp_ancestor")
