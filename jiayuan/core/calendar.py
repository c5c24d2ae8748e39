"""The working-day calendar (工作日历): which dates are worked, and deadline arithmetic over them.

The rule is Monday to Friday work, Saturday and Sunday off; the exceptions are rows
(``CalendarDay``): ``holiday`` 法定节假日 (a day off) and ``workday`` 调休上班 (a weekend day
worked). ``CalendarYear`` marks the years whose schedule is fully loaded. The rows are seeded
from chinese-calendar (2004–2026) by a migration and extended each year by
``jiayuan calendar import`` or the admin from the State Council's notice; the package itself is
never called here. See docs/calendar.md.

Three parts:

- ``WorkCalendar``: the arithmetic, pure (no database, no clock), over a set of exceptions.
- The process-wide cached calendar and the module-level functions every deadline uses
  (``is_working_day``, ``add_working_days``, ``add_hours``, ``working_days_between``,
  ``known_years``, ``missing_years``, ``calendar_warning``). All rows are read once per
  process; a version (row counts and latest change times) is checked at most every
  ``CHECK_SECONDS`` so that an import in another process is picked up; ``reload()`` forces it.
- ``import_calendar``: the validated import of one year's schedule from .csv/.xlsx.

Deadline rule (``add_working_days``), in Asia/Shanghai local time:

1. If the start falls on a non-working day, it moves to 00:00 of the next working day.
2. Each working day added moves to the same clock time on the next working day.

So "accept within 1 working day" of a ticket submitted on Friday 10:00 is due Monday 10:00;
of one submitted on Saturday (or during a holiday) it is due at 00:00 on the second working
day, i.e. the whole first working day is given. A date in a year that is not loaded follows
the Mon–Fri rule (plus any rows there are for it) and never raises.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any
from zoneinfo import ZoneInfo

from jiayuan.core.errors import JiayuanError

logger = logging.getLogger(__name__)

TZ = ZoneInfo("Asia/Shanghai")
WORKDAY = "workday"  # 调休上班: a weekend day that is worked
HOLIDAY = "holiday"  # 法定节假日: a day off
KIND_LABELS = {WORKDAY: "调休上班", HOLIDAY: "法定节假日"}
WEEKDAY_NAMES = "一二三四五六日"
CHECK_SECONDS = 30.0  # how often a process asks the database whether the calendar changed


# ---------------------------------------------------------------------------------------------
# The arithmetic (pure)


@dataclass(frozen=True)
class WorkCalendar:
    """A set of exceptions to the Mon–Fri rule, and the years known to be complete.

    ``days`` maps a date to ``"workday"`` or ``"holiday"``; ``names`` to its name (国庆节).
    """

    days: Mapping[dt.date, str] = field(default_factory=dict)
    years: frozenset[int] = frozenset()
    names: Mapping[dt.date, str] = field(default_factory=dict)
    # Sorted exception dates, for counting over long ranges without walking every day.
    sorted_dates: list[dt.date] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sorted_dates", sorted(self.days))

    def is_working_day(self, d: dt.date) -> bool:
        """True if ``d`` is worked: Mon–Fri unless a holiday, or a weekend 调休上班 day."""
        kind = self.days.get(d)
        if kind is not None:
            return kind == WORKDAY
        return d.weekday() < 5

    def next_working_day(self, d: dt.date) -> dt.date:
        """The first working day strictly after ``d``."""
        d += dt.timedelta(days=1)
        while not self.is_working_day(d):
            d += dt.timedelta(days=1)
        return d

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """The deadline ``days`` working days after ``start`` (rule in the module docstring).

        ``start`` must be aware; the result is aware, in Asia/Shanghai. ``days=0`` gives the
        start itself, moved to the next working day's 00:00 if it is on a day off.
        """
        if days < 0:
            raise ValueError("days must not be negative")
        local = _local(start)
        day, clock = local.date(), local.timetz().replace(tzinfo=None)
        if not self.is_working_day(day):
            day, clock = self.next_working_day(day), dt.time(0, 0)
        for _ in range(days):
            day = self.next_working_day(day)
        return dt.datetime.combine(day, clock, tzinfo=TZ)

    def working_days_between(self, a: dt.date, b: dt.date) -> int:
        """Working days ``d`` with ``a < d <= b``; negative (the same count) if ``b < a``.

        Consistent with ``add_working_days``: from a start on working day ``a``, adding ``n``
        working days lands on the date ``b`` with ``working_days_between(a, b) == n``.
        """
        if b < a:
            return -self.working_days_between(b, a)
        count = _weekdays_upto(b) - _weekdays_upto(a)
        dates = self.sorted_dates
        lo = bisect.bisect_right(dates, a)
        hi = bisect.bisect_right(dates, b)
        for d in dates[lo:hi]:
            weekday = d.weekday() < 5
            if weekday and self.days[d] == HOLIDAY:
                count -= 1
            elif not weekday and self.days[d] == WORKDAY:
                count += 1
        return count

    def missing_years(self, *, today: dt.date, horizon_days: int = 60) -> list[int]:
        """Years deadlines may reach soon but not loaded: this year, and next year once
        ``today`` is within ``horizon_days`` of its 1 January."""
        wanted = [today.year]
        if (dt.date(today.year + 1, 1, 1) - today).days <= horizon_days:
            wanted.append(today.year + 1)
        return [y for y in wanted if y not in self.years]


def _weekdays_upto(d: dt.date) -> int:
    """Mondays–Fridays from a fixed Monday (0001-01-01) up to and including ``d``."""
    n = d.toordinal()  # 0001-01-01 is ordinal 1 and a Monday
    weeks, rest = divmod(n, 7)
    return weeks * 5 + min(rest, 5)


def _local(value: dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return value.astimezone(TZ)


def warning_for(years: list[int]) -> str | None:
    """The command centre's message for years not loaded, or None."""
    if not years:
        return None
    listed = "、".join(f"{y}年" for y in years)
    return f"{listed}节假日安排尚未导入，期限暂按周末计算，请尽快导入国务院办公厅公布的安排"


# ---------------------------------------------------------------------------------------------
# The process-wide calendar, read from the database and cached


class _Cache:
    lock = threading.Lock()
    calendar: WorkCalendar | None = None
    version: tuple[Any, ...] | None = None
    checked_at = 0.0


def _version() -> tuple[Any, ...]:
    """Changes whenever a row is added, changed or deleted (two small aggregate queries)."""
    from django.db.models import Count, Max

    from jiayuan.core.models import CalendarDay, CalendarYear

    days = CalendarDay.objects.aggregate(n=Count("id"), at=Max("updated_at"), top=Max("id"))
    years = CalendarYear.objects.aggregate(n=Count("id"), at=Max("loaded_at"), top=Max("id"))
    return (days["n"], days["at"], days["top"], years["n"], years["at"], years["top"])


def _load() -> WorkCalendar:
    from jiayuan.core.models import CalendarDay, CalendarYear

    days: dict[dt.date, str] = {}
    names: dict[dt.date, str] = {}
    for d, kind, name in CalendarDay.objects.values_list("date", "kind", "name"):
        days[d] = kind
        if name:
            names[d] = name
    years = frozenset(CalendarYear.objects.values_list("year", flat=True))
    return WorkCalendar(days=days, years=years, names=names)


def current() -> WorkCalendar:
    """The calendar as stored, re-read when another process has changed it.

    If the database cannot be read (e.g. before ``migrate``) the last calendar read, or the
    plain Mon–Fri rule, is used and the problem logged: deadlines never fail for it.
    """
    from django.db import DatabaseError, transaction

    now = time.monotonic()
    cached = _Cache.calendar
    if cached is not None and now - _Cache.checked_at < CHECK_SECONDS:
        return cached
    with _Cache.lock:
        try:
            # A savepoint, so that a failure cannot break the caller's transaction.
            with transaction.atomic():
                version = _version()
                if _Cache.calendar is None or version != _Cache.version:
                    _Cache.calendar = _load()
                    _Cache.version = version
            _Cache.checked_at = now
        except DatabaseError:
            logger.exception("working-day calendar could not be read; using Mon–Fri")
            if _Cache.calendar is None:
                return WorkCalendar()
        assert _Cache.calendar is not None
        return _Cache.calendar


def reload() -> None:
    """Forget the cached calendar: the next call reads the rows again (tests, after import)."""
    with _Cache.lock:
        _Cache.calendar = None
        _Cache.version = None
        _Cache.checked_at = 0.0


def is_working_day(d: dt.date) -> bool:
    """True if ``d`` is a working day (工作日), holidays and 调休 included."""
    return current().is_working_day(d)


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    """Deadline ``days`` working days after the aware ``start`` (see the module docstring)."""
    return current().add_working_days(start, days)


def add_hours(start: dt.datetime, hours: float) -> dt.datetime:
    """Deadline in plain hours, around the clock (urgent categories); aware, Asia/Shanghai."""
    return _local(start) + dt.timedelta(hours=hours)


def working_days_between(a: dt.date, b: dt.date) -> int:
    """Working days in ``(a, b]`` (negative if ``b < a``)."""
    return current().working_days_between(a, b)


def known_years() -> set[int]:
    """Years whose schedule is fully loaded (``CalendarYear`` rows)."""
    return set(current().years)


def missing_years(*, today: dt.date, horizon_days: int = 60) -> list[int]:
    """This year, and next year once within ``horizon_days`` of it, when not loaded."""
    return current().missing_years(today=today, horizon_days=horizon_days)


def calendar_warning(today: dt.date | None = None) -> str | None:
    """The warning the command centre shows while ``missing_years`` is not empty, or None."""
    if today is None:
        today = dt.datetime.now(TZ).date()
    return warning_for(missing_years(today=today))


def holiday_name(d: dt.date) -> str:
    """The name stored for ``d`` (国庆节), or ""."""
    return current().names.get(d, "")


# ---------------------------------------------------------------------------------------------
# Import of one year's schedule (节假日安排) from .csv / .xlsx

REPORT_HEADERS = ["行号", "列", "值", "错误说明"]
MAX_ROWS = 400
COLUMNS = {
    "date": ("date", "日期"),
    "kind": ("kind", "类型", "type"),
    "name": ("name", "名称", "节日", "节日名称"),
}
KIND_WORDS = {
    "workday": WORKDAY,
    "上班": WORKDAY,
    "调休": WORKDAY,
    "调休上班": WORKDAY,
    "补班": WORKDAY,
    "工作日": WORKDAY,
    "holiday": HOLIDAY,
    "休息": HOLIDAY,
    "放假": HOLIDAY,
    "休": HOLIDAY,
    "节假日": HOLIDAY,
    "法定节假日": HOLIDAY,
}
KIND_HELP = "workday/上班/调休 或 holiday/休息/放假"


@dataclass
class RowError:
    """One entry of the per-row report; ``row`` is None for the file as a whole."""

    row: int | None
    column: str
    value: str
    message: str


@dataclass
class CalendarImportResult:
    filename: str
    year: int | None = None
    rows: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: bool = False
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.errors:
            return f"发现 {len(self.errors)} 处错误，未写入任何数据。"
        counts = (
            f"{self.year}年共 {self.rows} 行：新增 {self.created}，修改 {self.updated}，"
            f"删除 {self.deleted}，未变 {self.unchanged}"
        )
        if self.dry_run:
            return f"校验通过（仅校验，未写入）。{counts}。"
        return f"导入完成。{counts}。"

    def report_rows(self) -> list[list[Any]]:
        return [
            [e.row if e.row is not None else "文件", e.column, e.value, e.message]
            for e in self.errors
        ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read(*, filename: str, content: bytes) -> list[list[str]]:
    suffix = PurePath(filename or "").suffix.lower()
    if not content or not content.strip():
        raise JiayuanError("文件是空的", code="import_file")
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
            try:
                rows = [[_cell(v) for v in r] for r in wb.worksheets[0].iter_rows(values_only=True)]
            finally:
                wb.close()
        except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
            raise JiayuanError(
                "无法读取该 .xlsx 文件，请确认它是 Excel 工作簿", code="import_file"
            ) from exc
        return rows
    if suffix in {".csv", ".txt"}:
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = content.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise JiayuanError(
                "无法识别文件编码，请保存为 UTF-8 或 GBK 编码的 CSV", code="import_file"
            )
        first_line = text.split("\n", 1)[0]
        delimiter = max([",", "\t", ";"], key=first_line.count)
        try:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            return [[c.strip() for c in r] for r in reader]
        except csv.Error as exc:
            raise JiayuanError(f"CSV 格式错误：{exc}", code="import_file") from exc
    raise JiayuanError("不支持的文件类型，请上传 .csv 或 .xlsx 文件", code="import_file")


_DATE_PATTERNS = [
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
]


def parse_date(text: str) -> dt.date | None:
    """2027-01-01, 2027/1/1, 2027.1.1, 2027年1月1日 or 20270101; None if not a date."""
    text = text.strip().split(" ")[0].split("T")[0]
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            try:
                return dt.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return None
    return None


def _header_key(text: str) -> str | None:
    cleaned = re.sub(r"[\s*＊:：]", "", text).lower()
    for key, names in COLUMNS.items():
        if cleaned in names:
            return key
    return None


def parse_schedule(
    *, filename: str, content: bytes, year: int | None = None
) -> tuple[list[tuple[dt.date, str, str]], list[RowError], int | None]:
    """Validate a schedule file: ``(rows, errors, year)``; rows only mean something if no errors.

    Checks every row (date, kind, name length, 调休上班 only on a weekend, duplicates, the year)
    and reports each problem with its row number (the header is row 1).
    """
    errors: list[RowError] = []
    try:
        table = _read(filename=filename, content=content)
    except JiayuanError as exc:
        return [], [RowError(None, "", "", exc.message)], year
    table = [r for r in table if any(r)]
    if not table:
        return [], [RowError(None, "", "", "文件是空的")], year
    header = table[0]
    index: dict[str, int] = {}
    for i, text in enumerate(header):
        key = _header_key(text)
        if key and key not in index:
            index[key] = i
    for key in ("date", "kind"):
        if key not in index:
            label = "/".join(COLUMNS[key][:2])
            errors.append(RowError(None, label, "", f"缺少“{label}”列（表头应为 日期,类型,名称）"))
    if errors:
        return [], errors, year
    if len(table) < 2:
        return [], [RowError(None, "", "", "文件只有表头，没有数据行")], year
    if len(table) - 1 > MAX_ROWS:
        return [], [RowError(None, "", "", f"一年的安排最多 {MAX_ROWS} 行")], year

    def col(row: list[str], key: str) -> str:
        i = index.get(key)
        return row[i].strip() if i is not None and i < len(row) else ""

    date_col, kind_col = header[index["date"]], header[index["kind"]]
    name_col = header[index["name"]] if "name" in index else "名称"
    rows: list[tuple[dt.date, str, str]] = []
    seen: dict[dt.date, int] = {}
    for number, raw in enumerate(table[1:], start=2):
        date_text, kind_text, name = col(raw, "date"), col(raw, "kind"), col(raw, "name")
        d = parse_date(date_text)
        if d is None:
            message = "日期不能为空" if not date_text else "日期格式不正确，应为 YYYY-MM-DD"
            errors.append(RowError(number, date_col, date_text, message))
        elif year is not None and d.year != year:
            errors.append(RowError(number, date_col, date_text, f"日期不在 {year} 年内"))
            d = None
        elif d in seen:
            errors.append(RowError(number, date_col, date_text, f"日期与第 {seen[d]} 行重复"))
            d = None
        else:
            seen[d] = number
        kind = KIND_WORDS.get(kind_text.lower())
        if kind is None:
            message = f"类型不能为空，应为 {KIND_HELP}"
            if kind_text:
                message = f"无法识别的类型，应为 {KIND_HELP}"
            errors.append(RowError(number, kind_col, kind_text, message))
        elif kind == WORKDAY and d is not None and d.weekday() < 5:
            errors.append(
                RowError(
                    number,
                    kind_col,
                    kind_text,
                    f"{d.isoformat()} 是星期{WEEKDAY_NAMES[d.weekday()]}，本来就是工作日，"
                    "调休上班只能是星期六或星期日",
                )
            )
        if len(name) > 50:
            errors.append(RowError(number, name_col, name, "名称最多 50 个字"))
        if d is not None and kind is not None:
            rows.append((d, kind, name))
    if year is None and not errors:
        years = sorted({d.year for d, _, _ in rows})
        if len(years) > 1:
            listed = "、".join(str(y) for y in years)
            errors.append(
                RowError(
                    None,
                    date_col,
                    "",
                    f"文件包含多个年份（{listed}）的日期，一次只能导入一年，请用 --year 指定年份",
                )
            )
        else:
            year = years[0]
    return rows, errors, year


def import_calendar(
    *,
    filename: str,
    content: bytes,
    year: int | None = None,
    source: str = "",
    note: str = "",
    dry_run: bool = False,
) -> CalendarImportResult:
    """Import one year's schedule: validate every row, then replace that year's rows.

    Any error: nothing is written and ``result.errors`` is the per-row report. Otherwise, in
    one transaction, the year's ``CalendarDay`` rows become exactly the file's rows (source:
    ``source`` or the file name) and its ``CalendarYear`` is marked loaded. Only differences are
    written, so importing the same file again changes nothing.
    """
    from django.db import transaction
    from django.utils import timezone

    from jiayuan.core.models import CalendarDay, CalendarYear

    result = CalendarImportResult(filename=filename, dry_run=dry_run)
    rows, errors, year = parse_schedule(filename=filename, content=content, year=year)
    result.errors, result.year, result.rows = errors, year, len(rows)
    if errors or year is None:
        return result
    source = (source or PurePath(filename).name or "导入")[:200]
    with transaction.atomic():
        existing = {
            obj.date: obj for obj in CalendarDay.objects.select_for_update().filter(date__year=year)
        }
        wanted = {d: (kind, name) for d, kind, name in rows}
        create, update = [], []
        for d, (kind, name) in sorted(wanted.items()):
            obj = existing.get(d)
            if obj is None:
                create.append(CalendarDay(date=d, kind=kind, name=name, source=source))
            elif (obj.kind, obj.name, obj.source) != (kind, name, source):
                obj.kind, obj.name, obj.source = kind, name, source
                update.append(obj)
        delete = [obj.pk for d, obj in existing.items() if d not in wanted]
        result.created, result.updated, result.deleted = len(create), len(update), len(delete)
        result.unchanged = len(rows) - len(create) - len(update)
        marker = CalendarYear.objects.filter(year=year).first()
        changed = bool(create or update or delete) or marker is None or marker.source != source
        if dry_run or not changed:
            return result
        CalendarDay.objects.filter(pk__in=delete).delete()
        CalendarDay.objects.bulk_create(create)
        now = timezone.now()
        for obj in update:
            obj.updated_at = now
        CalendarDay.objects.bulk_update(update, ["kind", "name", "source", "updated_at"])
        CalendarYear.objects.update_or_create(
            year=year, defaults={"source": source, "loaded_at": now, "note": note}
        )
        result.written = True
    reload()
    return result


def exceptions_of(year: int) -> list[tuple[dt.date, str, str, str]]:
    """The stored rows of ``year`` as ``(date, kind, name, source)``, in date order."""
    from jiayuan.core.models import CalendarDay

    return list(
        CalendarDay.objects.filter(date__year=year)
        .order_by("date")
        .values_list("date", "kind", "name", "source")
    )


def schedule_csv(rows: Iterable[tuple[dt.date, str, str]]) -> str:
    """Rows in the import format (``date,kind,name``), e.g. to edit a year and import it back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["date", "kind", "name"])
    for d, kind, name in rows:
        writer.writerow([d.isoformat(), kind, name])
    return out.getvalue()
