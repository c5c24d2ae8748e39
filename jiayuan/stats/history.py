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
import multiprocessing as mp
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from typing import Any

from django.db import connection, connections, transaction
from django.db.models import Index, UniqueConstraint
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
# Indexes kept through a parallel bulk load instead of being dropped and rebuilt (docs/stats.md).
# A rebuild reads its whole table again (15 GB of events at 10 M tickets). Kept: every event
# index, so the event table is never read again after the load (its random-key ones included:
# maintaining them cost the load less than their rebuilds, measured at 10 M), and the ticket
# indexes that cost the COPY little: few rows (partial, or mostly NULL keys packed by
# deduplication) or keys arriving in about ascending order (created_at).
KEPT_DURING_LOAD = frozenset(
    {
        "ticketevent_seq_unique",
        "ticketevent_resolve_at",
        "ticketevent_returns",
        "ticketevent_actor",
        "ticketevent_post",
        "ticketevent_from_region",
        "ticketevent_to_region",
        "ticketevent_department",
        "ticket_external_ref_unique",
        "ticket_idempotency_unique",
        "ticket_open_resolve_due",
        "ticket_open_grid_path",
        "ticket_open_owner_path",
        "ticket_supervised",
        "ticket_waiting_accept_due",
        "tickets_ticket_building_id_d34e80ca",
        "tickets_ticket_called_from_id_545e35ca",
        "tickets_ticket_household_id_8fb2a6da",
        "tickets_ticket_merged_into_id_3a36ad40",
        "tickets_ticket_reporter_id_431a8f10",
        "tickets_ticket_created_at_95bb8d8e",
    }
)
PARALLEL_MIN = 100_000  # tickets from which a PostgreSQL run uses worker processes
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
    workers: int = 1
    generate_seconds: float = 0.0  # generating and writing the rows
    rollup_seconds: float = 0.0  # parallel runs: connection-seconds spent on the rollup jobs
    index_seconds: float = 0.0  # parallel runs: connection-seconds rebuilding the indexes
    rebuild_seconds: float = 0.0  # parallel runs: wall time of indexes and rollups together
    slowest_jobs: list[tuple[str, float]] = field(default_factory=list)  # parallel runs: top 8
    analyze_seconds: float = 0.0
    seconds: float = 0.0
    tickets_per_second: float = 0.0
    events_per_second: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _canon(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


_CLOCK = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]


class _Dates(dict[int, str]):
    """Epoch day → ISO date, filled on demand."""

    def __missing__(self, epoch_day: int) -> str:
        text = self[epoch_day] = (dt.date(1970, 1, 1) + dt.timedelta(days=epoch_day)).isoformat()
        return text


_DATES = _Dates()


def _date(epoch_day: int) -> str:
    return _DATES[epoch_day]


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


NULL = "\\N"  # COPY's NULL


def _n(value: Any) -> str:
    """A nullable value as a COPY field."""
    return NULL if value is None else str(value)


def _field(text: str) -> str:
    """Text from the database as a COPY field (the few characters COPY treats specially)."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class _Sink:
    """COPY text (tab-separated lines, ``\\N`` for NULL) to one table: COPY on PostgreSQL
    through the given psycopg cursor, executemany on SQLite."""

    def __init__(self, model: Any, columns: list[str]) -> None:
        self.table = model._meta.db_table
        self.columns = columns
        actual = {f.column for f in model._meta.concrete_fields}
        if set(columns) != actual:
            raise RuntimeError(f"{self.table}: columns changed: {sorted(actual ^ set(columns))}")
        q = connection.ops.quote_name
        self.insert = (
            f"INSERT INTO {q(self.table)} ({', '.join(q(c) for c in columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        self.copy = f"COPY {q(self.table)} ({', '.join(q(c) for c in columns)}) FROM STDIN"

    def write(self, text: str, cursor: Any) -> None:
        if not text:
            return
        if cursor is not None:
            with cursor.copy(self.copy) as copy:
                copy.write(text)
        else:
            # SQLite: the column affinities turn '12', 't'-less '1'/'0' into numbers.
            rows = [
                tuple(None if v == NULL else v for v in line.split("\t"))
                for line in text[:-1].split("\n")
            ]
            connection.connection.executemany(self.insert, rows)


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


_Building = tuple[int, int | None, Any, Any, str, str, str, str, str]


@dataclass
class _Grid:
    id: int
    path: str
    community: tuple[int, str]
    street: tuple[int, str]
    district: tuple[int, str]
    buildings: list[_Building]


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
        buildings: dict[int, list[_Building]] = {}
        for pk, grid_id, estate_id, lng, lat, address in Building.objects.order_by(
            "pk"
        ).values_list("pk", "grid_id", "estate_id", "lng", "lat", "address"):
            # With the ticket row's COPY fields: building, lng, lat, address.
            buildings.setdefault(grid_id, []).append(
                (pk, estate_id, lng, lat, address, str(pk), _n(lng), _n(lat), _field(address))
            )
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


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
# The id-less lines: the id is prefixed when the chunk's ids are known (``_numbered``).
# The hashed text of an event: the previous hash, "|", and ``event_content`` as canonical JSON
# (keys sorted, no spaces; every string here is plain text that JSON does not escape).
PAYLOAD = (
    '%s|{"action":"%s","actor":null,"actor_label":"%s","at":"%sT%s.000000+00:00","data":%s,'
    '"department":%s,"from_level":"%s","from_region":%s,"from_state":"%s","note":"%s",'
    '"post":null,"seq":%d,"ticket":%s,"to_level":"%s","to_region":%s,"to_state":"%s"}'
)
EVENT_LINE = "\t%s\t%d\t%s\t\\N\t\\N" + "\t%s" * 13 + "\n"
TICKET_LINE = "\t".join(["%s"] * len(TICKET_COLUMNS)) + "\n"
NO_PHOTOS = _canon({"photos": []})
ASSIGNMENT_LINE = "\t%s\t%s\tlead\t%s\t%s\t%s\t%s\t%s\t%s\n"
FACT_LINE = "\t".join(["%s"] * len(FACT_COLUMNS)) + "\n"


@dataclass
class _Chunk:
    """Consecutive days generated together: ``days`` = (day, tickets, last number used before)."""

    index: int
    first_tid: int
    days: list[tuple[dt.date, int, int]]


@dataclass
class _Output:
    """One chunk's rows as COPY lines; events, assignments and department facts without ids."""

    tickets: list[str]
    events: list[str]
    assignments: list[str]
    facts: list[str]
    fact_departments: list[str]


class _Generator:
    def __init__(self, *, seed: int, world: _World, end_ts: int, pg: bool) -> None:
        self.seed = seed
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
        # Vendor spellings of a timestamp's zone and of booleans (SQLite: naive UTC, 1/0).
        self.zone = "+00" if pg else ""
        self.true, self.false = ("t", "f") if pg else ("1", "0")
        # Per category: (pk text, title stem, description) and per grid and building the COPY
        # fields that never change, computed once.
        self.cat_fields = {
            c.pk: (str(c.pk), _field(c.name), _field(f"居民反映{c.name}方面的问题，请协调处理。"))
            for c in world.leaves
        }
        self.out = _Output([], [], [], [], [])

    def ts(self, ts: int | None) -> str:
        if ts is None:
            return NULL
        day, clock = divmod(ts, 86400)
        return _date(day) + " " + _CLOCK[clock] + self.zone

    def data(self, **data: Any) -> str:
        """``data`` as canonical JSON, cached by the call's own items (call sites pass the
        keys in a fixed order; lists only as the constants below)."""
        key = tuple(data.items())
        hit = self.data_cache.get(key)
        if hit is None:
            hit = self.data_cache[key] = _canon(data)
        return hit

    def dispatch_data(self, department: int) -> str:
        hit = self.data_cache.get(("dispatch", department))
        if hit is None:
            hit = self.data_cache[("dispatch", department)] = _canon({"co": [], "lead": department})
        return hit

    def chunk(self, chunk: _Chunk) -> _Output:
        """Generate a chunk of days, from its own random stream (so that any number of worker
        processes give the same rows)."""
        rng = self.rng = random.Random(f"{self.seed}:history:{chunk.index}")
        out = self.out = _Output([], [], [], [], [])
        tid = chunk.first_tid
        end_ts = self.end_ts
        for day, n, seq0 in chunk.days:
            midnight = int(
                dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp() - TZ_OFFSET
            )
            stamps = []
            for _ in range(n):
                # Office hours for most channels; the hotline answers around the clock.
                hour = _pick(rng, self.night if rng.random() < 0.4 else self.office)
                stamp = midnight + hour * HOUR + rng.randrange(HOUR)
                if stamp >= end_ts:  # today: before now
                    stamp = midnight + rng.randrange(max(1, end_ts - midnight))
                stamps.append(min(stamp, end_ts - 1))
            stamps.sort()
            heating = (day.month, day.day) >= (11, 15) or (day.month, day.day) <= (3, 15)
            table = self.cat_tables[12 if heating else day.month - 1]
            prefix = f"J{day:%Y%m%d}"
            day_text = day.isoformat()
            for j, created in enumerate(stamps, 1):
                self.ticket(
                    tid=tid,
                    number=f"{prefix}{seq0 + j:06d}",
                    created=created,
                    table=table,
                    day=day_text,
                )
                tid += 1
        return out

    def ticket(
        self,
        *,
        tid: int,
        number: str,
        created: int,
        table: tuple[list[float], list[Category]],
        day: str,
    ) -> None:
        """Generate one ticket with its events, assignment and facts into ``self.out``."""
        rng, w = self.rng, self.w
        end = self.end_ts
        grid = w.grids[_pick(rng, w.grid_cum)]
        cum, cats = table
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
        events = self.out.events
        zone = self.zone
        tid_s = str(tid)
        dates, clock_texts, sha256 = _DATES, _CLOCK, hashlib.sha256

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
            nonlocal seq, prev, state, level
            seq += 1
            day, clock = divmod(at, 86400)
            date, clock_text = dates[day], clock_texts[clock]
            from_region = str(owner[0]) if seq > 1 else None
            payload = PAYLOAD % (
                prev, action, label, date, clock_text, data,
                "null" if department is None else department, level, from_region or "null",
                state, note, seq, tid_s, to_level, "null" if to_region is None else to_region,
                to_state,
            )  # fmt: skip
            digest = sha256(payload.encode()).hexdigest()
            events.append(
                EVENT_LINE
                % (
                    tid_s, seq, date + " " + clock_text + zone, label, action, state, to_state,
                    level, to_level, from_region or NULL,
                    NULL if to_region is None else to_region,
                    NULL if department is None else department, note, data, prev, digest,
                )
            )  # fmt: skip
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

        def finish() -> None:
            self._finish(
                tid, number, created, cat, channel, urgent, building, grid_now,
                owner, state, level, called_from, acc_due, res_due, fb_due,
                supervised, supervise_due, deadline_gen, reopen, rating, result,
                accepted, resolved, closed, resolved_level, seq, prev, sticky,
                assignment, departments, day,
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
                        department=dept, note="派单", data=self.dispatch_data(dept),
                    )  # fmt: skip
                    acc_due, res_due, fb_due = self.due.due(t, urgent)
                    deadline_gen += 1
                    assignment = [None, dept, "pending", grid.street[0], t, None, None]
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
                    data=NO_PHOTOS,
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

    def _finish(  # positional parameters: this runs once per ticket
        self,
        tid: Any,
        number: Any,
        created: Any,
        cat: Any,
        channel: Any,
        urgent: Any,
        building: Any,
        grid: Any,
        owner: Any,
        state: Any,
        level: Any,
        called_from: Any,
        acc_due: Any,
        res_due: Any,
        fb_due: Any,
        supervised: Any,
        supervise_due: Any,
        deadline_gen: Any,
        reopen: Any,
        rating: Any,
        result: Any,
        accepted: Any,
        resolved: Any,
        closed: Any,
        resolved_level: Any,
        seq: Any,
        last_hash: Any,
        sticky: Any,
        assignment: Any,
        departments: Any,
        day: Any,
    ) -> None:
        ts = self.ts
        rng = self.rng
        out = self.out
        # Deadlines already past at ``end`` were swept: mark them claimed so the live sweeper
        # does not act on years-old tickets (sweep.PHASES = 3 marks per deadline generation).
        swept = deadline_gen * 3 + 2 if (res_due or 0) < self.end_ts else 0
        anonymous = rng.random() < 0.1
        name = "" if anonymous else SURNAMES[rng.randrange(len(SURNAMES))] + rng.choice(SIRS)
        cat_pk, cat_name, description = self.cat_fields[cat.pk]
        true, false = self.true, self.false
        out.tickets.append(
            TICKET_LINE
            % (
                tid, number, f"{rng.getrandbits(96):024x}", channel, cat_pk,
                cat_name + TITLES[tid % len(TITLES)], description,
                "urgent" if urgent else "normal", NULL, name,
                "" if anonymous else f"1{rng.randrange(3, 9)}{rng.randrange(10**9):09d}",
                true if anonymous else false, false, building[5] if building else NULL, NULL,
                building[6] if building else NULL, building[7] if building else NULL,
                building[8] if building else "", grid[0] if grid else NULL,
                grid[1] if grid else "", owner[1], state, level, owner[0], NULL,
                _n(called_from), ts(acc_due), ts(res_due), ts(fb_due),
                true if supervised else false, ts(supervise_due), NULL, deadline_gen,
                swept, swept, reopen, rating, "", result, NULL, "{}", "", "", "",
                "", ts(created), ts(max(created, closed or resolved or accepted or created)),
                ts(accepted), ts(resolved), ts(closed), resolved_level, seq,
                last_hash,
            )
        )  # fmt: skip
        a = assignment
        if a is not None:
            out.assignments.append(
                ASSIGNMENT_LINE
                % (
                    tid, a[1], a[2], a[3], ts(a[4]), ts(a[5]), ts(a[6]),
                    "已办理" if a[2] == "finished" else "非本部门职责" if a[2] == "returned"
                    else "",
                )
            )  # fmt: skip
        # The ticket's statistics facts, with the same function the updater uses.
        resolved_state = state in ("resolved", "closed", "archived")
        flags = fact_flags(
            state=state,
            rating=rating,
            resolved_at=resolved,
            resolve_due=res_due,
            resolved_level=resolved_level,
            sticky=sticky,
        )
        out.facts.append(
            FACT_LINE
            % (
                tid, grid[0] if grid else owner[0], day, cat_pk, channel,
                building[1] if building and building[1] is not None else NULL, flags,
                NULL if accepted is None else accepted - created,
                resolved - created if resolved_state and resolved is not None else NULL,
            )
        )  # fmt: skip
        for dept, at in departments:
            out.fact_departments.append(f"\t{tid}\t{dept}\t{_date((at + TZ_OFFSET) // DAY)}\n")


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


def _plan(
    *, first_day: dt.date, counts: list[int], counters: dict[dt.date, int], first_tid: int
) -> list[_Chunk]:
    """Consecutive days in chunks of about ``CHUNK`` tickets, with their first ticket ids."""
    chunks: list[_Chunk] = []
    days: list[tuple[dt.date, int, int]] = []
    size = 0
    tid = first_tid
    for i, n in enumerate(counts):
        if not n:
            continue
        day = first_day + dt.timedelta(days=i)
        days.append((day, n, counters.get(day, 0)))
        size += n
        if size >= CHUNK:
            chunks.append(_Chunk(index=len(chunks), first_tid=tid, days=days))
            tid += size
            days, size = [], 0
    if days:
        chunks.append(_Chunk(index=len(chunks), first_tid=tid, days=days))
    return chunks


class _Sinks:
    def __init__(self) -> None:
        self.tickets = _Sink(Ticket, TICKET_COLUMNS)
        self.events = _Sink(TicketEvent, EVENT_COLUMNS)
        self.assignments = _Sink(TicketAssignment, ASSIGNMENT_COLUMNS)
        self.facts = _Sink(TicketFact, FACT_COLUMNS)
        self.fact_departments = _Sink(TicketFactDepartment, FACT_DEPARTMENT_COLUMNS)

    def write(self, out: _Output, ids: Sequence[int], cursor: Any) -> None:
        """Write a chunk, numbering its events, assignments and department facts from ``ids``."""
        self.tickets.write("".join(out.tickets), cursor)
        self.events.write(_numbered(out.events, ids[0]), cursor)
        self.assignments.write(_numbered(out.assignments, ids[1]), cursor)
        self.facts.write("".join(out.facts), cursor)
        self.fact_departments.write(_numbered(out.fact_departments, ids[2]), cursor)


def _numbered(lines: list[str], first: int) -> str:
    return "".join([f"{first + i}{line}" for i, line in enumerate(lines)])


def _counts(out: _Output) -> tuple[int, int, int]:
    return len(out.events), len(out.assignments), len(out.fact_departments)


def generate_history(
    *,
    tickets: int,
    years: float = 1.0,
    seed: int = 2026,
    end: dt.datetime | None = None,
    say: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> HistoryResult:
    """Write ``tickets`` tickets received over the ``years`` before ``end`` (see the module
    docstring). Run it while nothing else writes tickets (it assigns ids itself).

    ``workers``: processes generating and writing in parallel, PostgreSQL only (``None``: two
    for runs of ``PARALLEL_MIN`` tickets or more outside a transaction, else one). A parallel
    run is the bulk load of ``docs/stats.md``: the ticket tables' secondary indexes are dropped
    and rebuilt afterwards and each chunk is committed on its own, so an interrupted run keeps
    the chunks already written."""
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
    pg = connection.vendor == "postgresql"
    gen = _Generator(seed=seed, world=world, end_ts=end_ts, pg=pg)
    counts = _day_counts(gen.rng, first_day, days, tickets)
    if workers is None:
        big = tickets >= PARALLEL_MIN and not connection.in_atomic_block
        workers = min(2, os.cpu_count() or 1) if big else 1
    parallel = pg and workers > 1 and not connection.in_atomic_block
    first_tid = _max_id(Ticket) + 1
    first_ids = (
        _max_id(TicketEvent) + 1,
        _max_id(TicketAssignment) + 1,
        _max_id(TicketFactDepartment) + 1,
    )
    counters = dict(
        DailyCounter.objects.filter(day__gte=first_day, day__lte=last_day).values_list(
            "day", "value"
        )
    )
    chunks = _plan(first_day=first_day, counts=counts, counters=counters, first_tid=first_tid)
    sinks = _Sinks()
    restore: _Restore | None = None
    if parallel:
        restore = _Restore.drop_indexes(BULK_MODELS)
        try:
            next_ids = _load_parallel(
                gen, chunks, first_ids, sinks, workers=workers, say=say, started=started
            )
        except BaseException:
            restore.run()
            raise
        result.generate_seconds = round(time.perf_counter() - started, 1)
        say(f"工单与流转记录已写入（{result.generate_seconds} 秒），正在重建索引并汇总统计……")
    else:
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size = -262144")
        with transaction.atomic():
            ids = list(first_ids)
            done = 0
            for chunk in chunks:
                out = gen.chunk(chunk)
                if pg:
                    with connection.cursor() as cursor:
                        sinks.write(out, ids, cursor.cursor)
                else:
                    sinks.write(out, ids, None)
                ids = [i + n for i, n in zip(ids, _counts(out), strict=True)]
                done += len(out.tickets)
                say(f"已生成 {done:,} 张工单，{time.perf_counter() - started:.0f} 秒")
            next_ids = (ids[0], ids[1], ids[2])
        result.generate_seconds = round(time.perf_counter() - started, 1)
    with transaction.atomic():
        new_counters = {day: seq0 + n for chunk in chunks for day, n, seq0 in chunk.days}
        DailyCounter.objects.bulk_create(
            [DailyCounter(day=d, value=v) for d, v in new_counters.items()],
            update_conflicts=True,
            unique_fields=["day"],
            update_fields=["value"],
        )
        _reset_sequences([Ticket, TicketEvent, TicketAssignment, TicketFactDepartment])
    if pg:  # fresh rows: the rollup sums plan with their sizes (before the index builds start:
        # ANALYZE and CREATE INDEX wait for each other, and in the rollups' transaction its lock
        # would hold the fact tables' index builds until the rollups commit)
        with connection.cursor() as cursor:
            for table in (TicketFact._meta.db_table, TicketFactDepartment._meta.db_table):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    result.tickets = sum(counts)
    result.events = next_ids[0] - first_ids[0]
    result.assignments = next_ids[1] - first_ids[1]
    watermark = {"last_event_id": next_ids[0] - 1, "updated_at": timezone.now()}
    if restore is not None:
        _rebuild_and_fill(restore, first_tid, watermark, result)
    else:
        with transaction.atomic():
            rollup_started = time.perf_counter()
            fill_rollups(first_ticket_id=first_tid)
            Watermark.objects.update_or_create(pk=1, defaults=watermark)
            result.rollup_seconds = round(time.perf_counter() - rollup_started, 1)
    analyze_started = time.perf_counter()
    with connection.cursor() as cursor:
        for model in (*BULK_MODELS, *ROLLUP_MODELS):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    result.analyze_seconds = round(time.perf_counter() - analyze_started, 1)
    result.first_day, result.last_day = first_day.isoformat(), last_day.isoformat()
    result.workers = workers if parallel else 1
    result.seconds = round(time.perf_counter() - started, 1)
    result.tickets_per_second = round(result.tickets / max(result.seconds, 1e-9))
    result.events_per_second = round(result.events / max(result.seconds, 1e-9))
    return result


def _rebuild_and_fill(
    restore: _Restore, first_tid: int, watermark: dict[str, Any], result: HistoryResult
) -> None:
    """After a parallel load: rebuild the dropped indexes and fill the rollups on the same two
    connections. When every rollup table is empty (a first history) the rollup months are jobs
    in the index builders' queue, each committed on its own; if one fails, the rollup tables
    are emptied again, the watermark stays where it was, and the error says to run ``jiayuan
    stats rebuild``. Otherwise the rollups are added in one transaction while the indexes
    build (an upsert into rows already there must not be left half done)."""
    ancestors = "stats_bulk_ancestor"
    with connection.cursor() as cursor:
        empty = _rollups_empty(cursor)
        if not all(empty.values()):
            restore.start()
            try:
                rollup_started = time.perf_counter()
                with transaction.atomic():
                    fill_rollups(first_ticket_id=first_tid)
                    Watermark.objects.update_or_create(pk=1, defaults=watermark)
                restore.busy["rollup"] = time.perf_counter() - rollup_started
            finally:
                restore.join()
            _record(restore, result)
            return
        plan = _RollupPlan(cursor, first_ticket_id=first_tid, ancestors=ancestors, empty=empty)
        plan.create_ancestors(cursor, temporary=False)
        plan.drop_keys(cursor)
    restore.start(rollups=plan)
    try:
        restore.join()
        if restore.rollup_errors:
            raise restore.rollup_errors[0]
    except BaseException as exc:
        with connection.cursor() as cursor:
            q = connection.ops.quote_name
            for model in ROLLUP_MODELS:
                cursor.execute(f"TRUNCATE {q(model._meta.db_table)}")
            for keys in plan.keys:
                cursor.execute(
                    "SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s",
                    [keys.table, keys.names[0]],
                )
                if cursor.fetchone() is None:  # not attached: indexes built alone go first
                    for name in keys.names:
                        cursor.execute(f"DROP INDEX IF EXISTS {q(name)}")
                    for sql, params in keys.statements():
                        cursor.execute(sql, params)
            cursor.execute(f"DROP TABLE IF EXISTS {ancestors}")
        raise JiayuanError(
            "统计汇总未完成（工单已写入），请运行 jiayuan stats rebuild",
            code="history_rollups_failed",
        ) from exc
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {ancestors}")
    Watermark.objects.update_or_create(pk=1, defaults=watermark)
    _record(restore, result)


def _record(restore: _Restore, result: HistoryResult) -> None:
    """The rebuild's figures: its wall time, the connection-seconds of each kind of job, and
    the eight longest jobs."""
    result.rebuild_seconds = round(restore.seconds, 1)
    result.rollup_seconds = round(restore.busy["rollup"], 1)
    result.index_seconds = round(restore.busy["index"], 1)
    result.slowest_jobs = [
        (name, round(seconds, 1))
        for name, seconds in sorted(restore.timings, key=lambda t: -t[1])[:8]
    ]


BULK_MODELS = (Ticket, TicketEvent, TicketAssignment, TicketFact, TicketFactDepartment)
ROLLUP_MODELS = (
    RegionDay,
    RegionMonth,
    RegionDayTotal,
    RegionMonthTotal,
    DepartmentDay,
    DepartmentMonth,
    DepartmentDayTotal,
    DepartmentMonthTotal,
    EstateDay,
    EstateMonth,
)


# Parallel bulk load (PostgreSQL). Workers take chunks in order from a shared counter, generate
# them, then number them in chunk order (each waits for the previous chunk's counts: ids follow
# the tickets' order whatever the timing) and COPY them through their own connections.
_TAKE, _TURN, _EVENTS, _ASSIGNMENTS, _FACT_DEPARTMENTS, _FAILED, _DONE = range(7)


def _load_parallel(
    gen: _Generator,
    chunks: list[_Chunk],
    first_ids: tuple[int, int, int],
    sinks: _Sinks,
    *,
    workers: int,
    say: Callable[[str], None],
    started: float,
) -> tuple[int, int, int]:
    conninfo = _conninfo()
    connections.close_all()  # a forked child must not share the parent's socket
    ctx = mp.get_context("fork")
    cond = ctx.Condition()
    shared = ctx.Array("q", [0, 0, *first_ids, 0, 0], lock=False)
    procs = [
        ctx.Process(target=_worker, args=(gen, chunks, sinks, conninfo, shared, cond))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            for p in procs:
                p.join(timeout=10)
                break
            say(f"已生成 {shared[_DONE]:,} 张工单，{time.perf_counter() - started:.0f} 秒")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    if any(p.exitcode for p in procs) or shared[_FAILED]:
        raise JiayuanError("历史工单生成进程失败", code="history_worker_failed")
    return shared[_EVENTS], shared[_ASSIGNMENTS], shared[_FACT_DEPARTMENTS]


def _conninfo() -> dict[str, Any]:
    s = connection.settings_dict
    info = {
        "dbname": s["NAME"],
        "user": s["USER"],
        "password": s["PASSWORD"],
        "host": s["HOST"],
        "port": s["PORT"],
    }
    return {k: v for k, v in info.items() if v}


def _worker(
    gen: _Generator,
    chunks: list[_Chunk],
    sinks: _Sinks,
    conninfo: dict[str, Any],
    shared: Any,
    cond: Any,
) -> None:
    import psycopg

    try:
        with psycopg.connect(**conninfo) as conn:
            conn.execute("SET synchronous_commit = off")
            try:  # foreign keys unchecked: the rows refer to what the generator just read
                conn.execute("SET session_replication_role = replica")
                conn.commit()
            except psycopg.Error:  # not a superuser: checked at each commit
                conn.rollback()
            cursor = conn.cursor()
            while True:
                with cond:
                    k = shared[_TAKE]
                    if k >= len(chunks) or shared[_FAILED]:
                        return
                    shared[_TAKE] = k + 1
                out = gen.chunk(chunks[k])
                with cond:
                    while shared[_TURN] != k:
                        if shared[_FAILED]:
                            return
                        cond.wait(1.0)
                    ids = shared[_EVENTS], shared[_ASSIGNMENTS], shared[_FACT_DEPARTMENTS]
                    for slot, n in zip(
                        (_EVENTS, _ASSIGNMENTS, _FACT_DEPARTMENTS), _counts(out), strict=True
                    ):
                        shared[slot] += n
                    shared[_TURN] = k + 1
                    cond.notify_all()
                sinks.write(out, ids, cursor)
                conn.commit()
                with cond:
                    shared[_DONE] += len(out.tickets)
    except BaseException:
        with cond:
            shared[_FAILED] = 1
            cond.notify_all()
        raise


class _Restore:
    """The secondary indexes and unique constraints of some tables, dropped for a bulk load and
    recreated afterwards under the same names and definitions (two connections build them in
    parallel, each with a large ``maintenance_work_mem``); autovacuum is off for those tables in
    between."""

    def __init__(
        self, tables: list[str], statements: list[tuple[str, str]], finals: list[str]
    ) -> None:
        self.tables = tables
        self.statements = statements
        self.finals = finals
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self.seconds = 0.0
        self.busy = {"index": 0.0, "rollup": 0.0}  # connection-seconds per kind of job
        self.timings: list[tuple[str, float]] = []  # (job, seconds), for the slowest_jobs figure
        self.rollup_errors: list[Exception] = []  # a failed rollup job stops the rollups only

    @classmethod
    def drop_indexes(cls, models: Sequence[Any]) -> _Restore:
        q = connection.ops.quote_name
        tables = [m._meta.db_table for m in models]
        statements: list[tuple[str, str]] = []  # (index or constraint, the SQL building it)
        # Run once every index is built: they lock the table against the other connection's
        # index builds (a constraint attached while the other one builds would wait for it).
        finals: list[str] = []
        # The indexes a model declares are recreated with the migrations' own SQL: the
        # catalogue's text of a partial index would come back spelled differently.
        declared: dict[str, str] = {}
        with connection.schema_editor(atomic=False, collect_sql=True) as editor:
            for model in models:
                for item in [*model._meta.indexes, *model._meta.constraints]:
                    if isinstance(item, Index) or (
                        isinstance(item, UniqueConstraint) and item.condition is not None
                    ):
                        declared[item.name] = str(item.create_sql(model, editor))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), "
                "pg_get_indexdef(c.conindid) FROM pg_constraint c WHERE c.contype = 'u' "
                "AND c.conrelid = ANY(%s::regclass[]) ORDER BY 1, 2",
                [tables],
            )
            rows = cursor.fetchall()
            for table, name, definition, index in rows:
                if name in KEPT_DURING_LOAD:
                    continue
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {q(name)}")
                if definition.startswith("UNIQUE (") and definition.endswith(")"):
                    # Built as an index first: adding it to the table is then instantaneous
                    # and does not wait for the other connection's index builds.
                    statements.append((name, index))
                    finals.append(
                        f"ALTER TABLE {table} ADD CONSTRAINT {q(name)} UNIQUE USING INDEX {q(name)}"
                    )
                else:
                    statements.append(
                        (name, f"ALTER TABLE {table} ADD CONSTRAINT {q(name)} {definition}")
                    )
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index i WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
                "ORDER BY 1",
                [tables],
            )
            constraint_indexes = {row[1] for row in rows}
            for name, definition in cursor.fetchall():
                bare = name.split(".")[-1].strip('"')
                if bare in KEPT_DURING_LOAD or bare in constraint_indexes:
                    continue
                cursor.execute(f"DROP INDEX {name}")
                statements.append((bare, declared.get(bare, definition)))
            for table in tables:
                cursor.execute(f"ALTER TABLE {q(table)} SET (autovacuum_enabled = false)")
                finals.append(f"ALTER TABLE {q(table)} RESET (autovacuum_enabled)")
        # The biggest table first: both connections scan it at once (synchronized scans).
        order = {t: i for i, t in enumerate(["tickets_ticketevent", "tickets_ticket"])}
        statements.sort(
            key=lambda s: min((order.get(t, 9) for t in tables if t in s[1]), default=9)
        )
        return cls(tables, statements, finals)

    def start(self, connections_count: int = 2, rollups: _RollupPlan | None = None) -> None:
        """Build the indexes on ``connections_count`` connections; with ``rollups``, the
        rollup jobs share the same queue (the two cores stay busy to the end) and the rollup
        tables' keys are built once every job is through."""
        pending: list[tuple[str, str, list[Statement]]] = [
            ("index", name, [(sql, [])]) for name, sql in self.statements
        ]
        pending += [("rollup", name, job) for name, job in (rollups.jobs if rollups else [])]
        # Each key of the rollup tables as an index of its own (two builds on one table can run
        # at once), attached to its table by the last connection through.
        keys: list[tuple[str, str, list[Statement]]] = [
            ("rollup", name, [build]) for name, build in (rollups.key_jobs() if rollups else [])
        ]
        attach = [keys.attach[0] for keys in rollups.keys] if rollups else []
        done: list[Any] = []
        lock = threading.Lock()
        barrier = threading.Barrier(connections_count)
        conninfo = _conninfo()
        started = time.perf_counter()

        def take(queue: list[tuple[str, str, list[Statement]]], conn: Any) -> None:
            while True:
                with lock:
                    if not queue or self.errors:
                        return
                    kind, name, job = queue.pop(0)
                began = time.perf_counter()
                try:
                    for sql, params in job:
                        conn.execute(sql, params or None)
                except Exception as exc:
                    if kind != "rollup":
                        raise
                    # The indexes must come back whatever happens to the rollups.
                    with lock:
                        self.rollup_errors.append(exc)
                        queue[:] = [item for item in queue if item[0] != "rollup"]
                with lock:
                    self.busy[kind] += time.perf_counter() - began
                    self.timings.append((name, time.perf_counter() - began))

        def build() -> None:
            import psycopg

            try:
                with psycopg.connect(**conninfo, autocommit=True) as conn:
                    conn.execute("SET maintenance_work_mem = '1GB'")
                    conn.execute("SET max_parallel_maintenance_workers = 0")
                    conn.execute("SET work_mem = '512MB'")
                    take(pending, conn)
                    barrier.wait()  # every month is in: the rollup keys can be built
                    if not self.rollup_errors:  # else the caller empties the tables first
                        take(keys, conn)
                    with lock:
                        done.append(conn)
                        last = len(done) == connections_count
                    if last:  # the other connections are through: nothing locks the tables
                        for statement in [
                            *(attach if not self.rollup_errors else []),
                            *self.finals,
                        ]:
                            conn.execute(statement)
            except BaseException as exc:
                self.errors.append(exc)
                barrier.abort()
            self.seconds = max(self.seconds, time.perf_counter() - started)

        self.threads = [threading.Thread(target=build) for _ in range(connections_count)]
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]

    def run(self) -> None:
        self.start()
        self.join()


Statement = tuple[str, list[Any]]


@dataclass
class _TableKeys:
    """The unique and primary keys of one rollup table, dropped for a bulk fill: each rebuilt as
    an index of its own (``builds``, one per name: two builds on one table can run at once),
    then attached to the table as its keys in one statement (``attach``: all or none)."""

    table: str
    names: tuple[str, ...]
    builds: list[Statement]
    attach: Statement

    def statements(self) -> list[Statement]:
        return [*self.builds, self.attach]


REGION_ROLLUPS = (RegionDay, RegionMonth, RegionDayTotal, RegionMonthTotal)
DEPARTMENT_ROLLUPS = (DepartmentDay, DepartmentMonth, DepartmentDayTotal, DepartmentMonthTotal)


def _month_of(column: str) -> str:
    """SQL for the first day of the month of a date column, without going through a time zone
    on PostgreSQL (``date_trunc`` of a date would)."""
    if connection.vendor == "postgresql":
        return f"CAST(date_trunc('month', CAST({column} AS timestamp)) AS date)"
    return month_sql(column)


def _rollups_empty(cursor: Any) -> dict[Any, bool]:
    """Whether each rollup table has no row at all."""
    empty = {}
    for model in ROLLUP_MODELS:
        cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(model._meta.db_table)} LIMIT 1")
        empty[model] = cursor.fetchone() is None
    return empty


def fill_rollups(*, first_ticket_id: int) -> None:
    """Add the facts of tickets ``>= first_ticket_id`` to the rollups, in SQL (the same sums the
    updater makes row by row; the tests compare the two), in the current transaction: the
    statements of ``_RollupPlan`` run one after the other."""
    with connection.cursor() as cursor:
        plan = _RollupPlan(cursor, first_ticket_id=first_ticket_id, ancestors="stats_tmp_ancestor")
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL work_mem = '512MB'")
        plan.create_ancestors(cursor, temporary=True)
        plan.drop_keys(cursor)
        for _, job in plan.jobs:
            for sql, params in job:
                cursor.execute(sql, params)
        for keys in plan.keys:
            for sql, params in keys.statements():
                cursor.execute(sql, params)
        cursor.execute("DROP TABLE stats_tmp_ancestor")


class _RollupPlan:
    """The SQL that adds new facts to the rollups, as independent jobs.

    The region rollups are summed **one month at a time** (a job): the month's new facts summed
    per node (every ancestor), day, category and channel into a temporary table, from which its
    day rows, its month rows and both totals are inserted. A month's sums fit in memory (one sum
    over the whole history spilled gigabytes to disk at 10 M tickets), and the facts are read by
    ticket id range (the generator numbers tickets in day order; the day bounds keep it right
    whatever the order). Departments and estates (a few per cent of the rows) are one more job.

    A rollup table empty to begin with gets plain INSERTs (the months' keys are disjoint) and,
    on PostgreSQL, its unique key dropped (``drop_keys``) and built once at the end (``keys``)
    instead of row by row; otherwise each row is added to the one already there (upsert)."""

    def __init__(
        self,
        cursor: Any,
        *,
        first_ticket_id: int,
        ancestors: str,
        empty: dict[Any, bool] | None = None,
    ) -> None:
        q = connection.ops.quote_name
        self.pg = pg = connection.vendor == "postgresql"
        self.ancestors = ancestors
        self.empty = _rollups_empty(cursor) if empty is None else empty
        self.keys: list[_TableKeys] = []  # the keys ``drop_keys`` dropped, per table
        facts = q(TicketFact._meta.db_table)
        new = f"(f.flags & 1) = 1 AND f.ticket_id >= {int(first_ticket_id)}"
        bits = [f"SUM((f.flags >> {i}) & 1)" for i in range(11)] + [
            "COUNT(f.first_response_seconds)",
            "COALESCE(SUM(f.first_response_seconds), 0)",
            "COUNT(f.resolution_seconds)",
            "COALESCE(SUM(f.resolution_seconds), 0)",
        ]
        # Typed like the rollup columns: a SUM of bigints would be summed again as numeric.
        types = {c: "bigint" if c.endswith("_seconds") else "integer" for c in COUNTERS}
        sums = ", ".join(
            f"CAST({b} AS {types[c]}) AS {c}" for b, c in zip(bits, COUNTERS, strict=True)
        )
        self.summed = ", ".join(f"CAST(SUM({c}) AS {types[c]})" for c in COUNTERS)
        month = _month_of("day")
        self.jobs: list[tuple[str, list[Statement]]] = []  # (name, statements)
        cursor.execute(
            f"SELECT {_month_of('f.day')}, MIN(f.ticket_id), MAX(f.ticket_id) "
            f"FROM {facts} f WHERE {new} GROUP BY 1 ORDER BY 1"
        )
        for first, low, high in cursor.fetchall():
            first = first if isinstance(first, dt.date) else dt.date.fromisoformat(first)
            after = (first + dt.timedelta(days=32)).replace(day=1)
            key = f"CAST('{first.isoformat()}' AS date)" if pg else f"'{first.isoformat()}'"
            month_sums = (
                f"CREATE TEMPORARY TABLE stats_tmp_region AS SELECT a.node AS region_id, "
                f"a.summarised AS summarised, f.day AS day, f.category_pk AS category_pk, "
                f"f.channel AS channel, {sums} FROM {facts} f "
                f"JOIN {ancestors} a ON a.region_id = f.region_id "
                f"WHERE {new} AND f.ticket_id BETWEEN %s AND %s AND f.day >= %s "
                f"AND f.day < %s GROUP BY a.node, a.summarised, f.day, f.category_pk, f.channel"
            )
            job: list[Statement] = [
                ("DROP TABLE IF EXISTS stats_tmp_region", []),
                (month_sums, [low, high, first.isoformat(), after.isoformat()]),
                *self._counter_rows(
                    "stats_tmp_region", "region_id", REGION_ROLLUPS, key, "summarised = 1"
                ),
                ("DROP TABLE stats_tmp_region", []),
            ]
            self.jobs.append((f"rollup {first:%Y-%m}", job))
        department = (
            f"SELECT d.department_id AS department_id, d.day AS day, "
            f"f.category_pk AS category_pk, f.channel AS channel, {sums} FROM {facts} f "
            f"JOIN {q(TicketFactDepartment._meta.db_table)} d ON d.ticket_id = f.ticket_id "
            f"WHERE {new} GROUP BY d.department_id, d.day, f.category_pk, f.channel"
        )
        estate = (
            f"SELECT a.node AS region_id, f.day AS day, f.estate_id AS estate_id, "
            f"COUNT(*) AS received FROM {facts} f "
            f"JOIN {ancestors} a ON a.region_id = f.region_id "
            f"WHERE {new} AND f.estate_id IS NOT NULL GROUP BY a.node, f.day, f.estate_id"
        )
        estate_key = "region_id, day, estate_id"
        estate_month = (
            f"SELECT region_id, {month}, estate_id, SUM(received) FROM stats_tmp_estate "
            f"WHERE 1 = 1 GROUP BY region_id, {month}, estate_id"
        )
        job = [
            ("DROP TABLE IF EXISTS stats_tmp_department", []),
            ("DROP TABLE IF EXISTS stats_tmp_estate", []),
            (f"CREATE TEMPORARY TABLE stats_tmp_department AS {department}", []),
            (f"CREATE TEMPORARY TABLE stats_tmp_estate AS {estate}", []),
            *self._counter_rows("stats_tmp_department", "department_id", DEPARTMENT_ROLLUPS, month),
            self._add(
                EstateDay,
                estate_key,
                ("received",),
                f"SELECT {estate_key}, received FROM stats_tmp_estate",
            ),
            self._add(EstateMonth, estate_key, ("received",), estate_month),
            ("DROP TABLE stats_tmp_department", []),
            ("DROP TABLE stats_tmp_estate", []),
        ]
        # First: one long job (a month's is a fraction of it), so it never runs alone at the end.
        self.jobs.insert(0, ("rollup departments and estates", job))

    def key_jobs(self) -> list[tuple[str, Statement]]:
        """Each dropped key's index build, named by the key."""
        return [(n, b) for k in self.keys for n, b in zip(k.names, k.builds, strict=True)]

    def _counter_rows(
        self,
        tmp: str,
        key: str,
        models: tuple[Any, Any, Any, Any],
        month: str,
        summarised: str = "1 = 1",
    ) -> list[Statement]:
        """The day rows, month rows, day totals and month totals of ``models`` from the sums in
        ``tmp`` (per ``key``, day, category and channel); ``month`` is the SQL of a row's
        month (a column expression, or a constant when ``tmp`` holds one month). Month rows and
        totals only of the rows where ``summarised`` holds (``DAY_ROWS_ONLY``)."""
        day_rows, month_rows, day_totals, month_totals = models
        detail = f"{key}, day, category_pk, channel"
        source, summed = f"{tmp} WHERE {summarised}", self.summed
        return [
            self._add(
                day_rows,
                detail,
                COUNTERS,
                f"SELECT {detail}, {', '.join(COUNTERS)} FROM {tmp} WHERE 1 = 1",
            ),
            self._add(
                month_rows,
                detail,
                COUNTERS,
                f"SELECT {key}, {month}, category_pk, channel, {summed} FROM {source} "
                f"GROUP BY {key}, {month}, category_pk, channel",
            ),
            self._add(
                day_totals,
                f"{key}, day",
                COUNTERS,
                f"SELECT {key}, day, {summed} FROM {source} GROUP BY {key}, day",
            ),
            self._add(
                month_totals,
                f"{key}, day",
                COUNTERS,
                f"SELECT {key}, {month}, {summed} FROM {source} GROUP BY {key}, {month}",
            ),
        ]

    def _add(self, model: Any, keys: str, names: tuple[str, ...], select: str) -> Statement:
        """Insert into a table empty at the start, else add to the rows already there
        (``WHERE 1 = 1``: SQLite's upsert needs a WHERE before ON CONFLICT)."""
        table = connection.ops.quote_name(model._meta.db_table)
        insert = f"INSERT INTO {table} ({keys}, {', '.join(names)}) {select}"
        if self.empty[model]:
            return (insert, [])
        sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in names)
        return (f"{insert} ON CONFLICT ({keys}) DO UPDATE SET {sets}", [])

    def create_ancestors(self, cursor: Any, *, temporary: bool) -> None:
        """The (region, node) pairs of every region and each of its ancestors (itself too), and
        whether the node keeps month rows and totals (1) or day rows only (0)."""
        ancestry = Ancestry.everything()
        only = ancestry.day_rows_only
        nodes = [(r, n, int(n not in only)) for r, chain in ancestry.cache.items() for n in chain]
        kind = "TEMPORARY" if temporary else "UNLOGGED"
        cursor.execute(f"DROP TABLE IF EXISTS {self.ancestors}")
        cursor.execute(
            f"CREATE {kind} TABLE {self.ancestors} "
            "(region_id integer, node integer, summarised integer)"
        )
        if self.pg:
            cursor.execute(
                f"INSERT INTO {self.ancestors} "
                "SELECT * FROM unnest(%s::int[], %s::int[], %s::int[])",
                [[r for r, _, _ in nodes], [n for _, n, _ in nodes], [s for _, _, s in nodes]],
            )
            cursor.execute(f"ANALYZE {self.ancestors}")
        else:
            cursor.executemany(f"INSERT INTO {self.ancestors} VALUES (%s, %s, %s)", nodes)

    def drop_keys(self, cursor: Any) -> None:
        """PostgreSQL: drop the unique keys and primary keys of the tables that were empty (an
        insert then neither checks a key nor adds to its index: a fifth less time per row,
        docs/stats.md); ``keys`` says how to build them back under the same names and
        definitions (``_TableKeys``)."""
        if not self.pg:
            return
        q = connection.ops.quote_name
        for model, empty in self.empty.items():
            if not empty:
                continue
            table = q(model._meta.db_table)
            cursor.execute(
                "SELECT conname, contype, pg_get_indexdef(conindid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype IN ('u', 'p') ORDER BY conname",
                [table],
            )
            constraints = cursor.fetchall()
            for name, _, _ in constraints:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {q(name)}")
            if constraints:
                uses = ", ".join(
                    f"ADD CONSTRAINT {q(n)} {'PRIMARY KEY' if kind == 'p' else 'UNIQUE'} "
                    f"USING INDEX {q(n)}"
                    for n, kind, _ in constraints
                )
                self.keys.append(
                    _TableKeys(
                        table=table,
                        names=tuple(n for n, _, _ in constraints),
                        builds=[(index, []) for _, _, index in constraints],
                        attach=(f"ALTER TABLE {table} {uses}", []),
                    )
                )
