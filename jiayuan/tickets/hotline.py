"""12345 hotline batch import (12345 热线工单导入): the hotline system's Excel/CSV export in,
one ticket per hotline number out.

One entry point, ``hotline_import(filename=, content=, user=, dry_run=)``, used by the
``jiayuan tickets import-hotline`` command and the ``/tickets/hotline-import/`` page. It reuses
the base-data importer's machinery (``jiayuan.regions.importer``): the same file reading
(.xlsx, .csv in UTF-8 or GBK), header matching, per-row report and all-or-nothing rule.

- Every row is validated first; any error means nothing is written, and the report lists each
  problem (row, column, value, message in Chinese). Caller phone numbers are masked in it.
- A valid file is written in one transaction: each new row becomes a ticket with
  ``channel="hotline"``, ``external_ref`` = the hotline number and ``created_at`` = the call's
  time (Beijing time when the cell has no zone). A row whose hotline number is already a ticket
  is skipped, so importing the same file again creates nothing.
- A row with a building code goes to that building's grid; the others wait in triage (待分拨).
- A row without a caller number is taken as anonymous (the hotline withheld it).
- ``user=None`` is the system (the CLI) and sees every building; a page user must have the
  building in scope (outside reads exactly like unknown).

docs/hotline-import.md has the column list and an example.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from jiayuan.core.errors import JiayuanError, PermissionDenied
from jiayuan.core.masking import mask_phone
from jiayuan.regions.importer import (
    DB_ERROR_MESSAGE,
    OUT_OF_SCOPE,
    CellError,
    Change,
    Column,
    FileProblem,
    Importer,
    ImportResult,
    RawTable,
    Row,
    RowError,
    _chunks,
    _fetch,
    can_import,
    parse_bool,
    parse_choice,
    parse_phone,
    read_table,
)
from jiayuan.regions.models import Building
from jiayuan.tickets.choices import Channel, Urgency
from jiayuan.tickets.models import Category, Ticket
from jiayuan.tickets.services import MAX_TEXT, MAX_TITLE, ticket_create

logger = logging.getLogger(__name__)
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
KIND = "hotline"
KIND_LABEL = "12345 热线工单"
ACTOR_LABEL = "12345 热线导入"
# A call "in the future" by more than this is a wrong clock or a typo, not a call.
FUTURE_SLACK = dt.timedelta(minutes=10)
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=SHANGHAI)

COLUMNS: tuple[Column, ...] = (
    Column(
        "hotline_no",
        "工单编号",
        ("热线工单编号", "12345工单编号", "热线编号", "受理编号"),
        True,
        "热线系统的工单编号（最长 40 字符）；已导入过的编号跳过",
    ),
    Column(
        "received_at",
        "来电时间",
        ("受理时间", "登记时间"),
        note="如 2026-11-23 09:30:00（北京时间）；空则为导入时间",
    ),
    Column("caller_name", "来电人", ("来电人姓名", "联系人")),
    Column(
        "caller_phone",
        "来电号码",
        ("来电电话", "联系电话", "联系方式"),
        note="手机号或带区号的固定电话；空则按匿名处理",
    ),
    Column("content", "诉求内容", ("来电内容", "问题描述", "工单内容"), True),
    Column("title", "标题", ("诉求标题", "工单标题"), note="空则取诉求内容前 30 字"),
    Column(
        "category",
        "诉求分类",
        ("分类", "问题分类"),
        note="一级或二级分类的名称或编码，也可写 一级/二级（如 城乡建设/物业管理）",
    ),
    Column("address", "地址", ("事发地址", "诉求地址", "详细地址")),
    Column("building_code", "楼栋编码", (), note="有则派到楼栋所在网格，否则进入待分拨"),
    Column("urgency", "紧急程度", ("紧急度",), note="一般 / 紧急；空为一般"),
    Column("confidential", "是否保密", ("保密",), note="是 / 否；空为否"),
)

URGENCY_WORDS: dict[str, str] = {
    "一般": Urgency.NORMAL,
    "普通": Urgency.NORMAL,
    "normal": Urgency.NORMAL,
    "紧急": Urgency.URGENT,
    "加急": Urgency.URGENT,
    "特急": Urgency.URGENT,
    "urgent": Urgency.URGENT,
}
TIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日%H:%M:%S",
    "%Y年%m月%d日%H:%M",
    "%Y年%m月%d日",
    "%Y%m%d%H%M%S",
)


@dataclass
class HotlineResult(ImportResult):
    """The import's outcome: ``rows`` read, tickets ``created``, rows ``skipped`` because their
    hotline number was imported before, and the per-row ``errors``."""

    kind: str = KIND
    skipped: int = 0

    @property
    def kind_label(self) -> str:
        return KIND_LABEL

    def summary(self) -> str:
        if self.errors:
            return f"发现 {len(self.errors)} 处错误，未写入任何数据。"
        counts = f"共 {self.rows} 行：新建工单 {self.created}，已导入过（跳过）{self.skipped}"
        if self.dry_run:
            return f"校验通过（仅校验，未写入）。{counts}。"
        return f"导入完成。{counts}。"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "skipped": self.skipped,
            "errors": [e.as_dict() for e in self.errors],
        }


def parse_received_at(text: str, *, now: dt.datetime) -> dt.datetime:
    """A call time as the hotline exports it; naive times are Beijing time."""
    value: dt.datetime | None = None
    cleaned = re.sub(r"\s+", " ", text.strip())
    if re.fullmatch(r"\d{5}(\.\d+)?", cleaned):
        # An Excel date serial (the column was formatted as a number).
        from openpyxl.utils.datetime import from_excel

        value = from_excel(float(cleaned))
    else:
        try:
            value = dt.datetime.fromisoformat(cleaned)
        except ValueError:
            for fmt in TIME_FORMATS:
                try:
                    value = dt.datetime.strptime(cleaned, fmt)
                    break
                except ValueError:
                    continue
    if value is None:
        raise CellError("来电时间格式不正确，应如 2026-11-23 09:30:00")
    if timezone.is_naive(value):
        value = value.replace(tzinfo=SHANGHAI)
    if value < EARLIEST:
        raise CellError("来电时间不正确（早于 2000 年）")
    if value > now + FUTURE_SLACK:
        raise CellError("来电时间晚于当前时间")
    return value


class CategoryIndex:
    """Active categories by code, by name (first or second level) and by 一级/二级 path."""

    def __init__(self) -> None:
        cats = list(Category.objects.filter(is_active=True).select_related("parent"))
        self.by_code = {c.code.lower(): c for c in cats}
        self.by_name: dict[str, list[Category]] = {}
        self.by_path: dict[str, Category] = {}
        for c in cats:
            self.by_name.setdefault(c.name, []).append(c)
            if c.parent_id and c.parent is not None:
                self.by_path[f"{c.parent.name}/{c.name}"] = c

    def find(self, text: str) -> Category:
        key = re.sub(r"\s*[/／\\-]\s*", "/", text.strip())
        found = self.by_code.get(key.lower()) or self.by_path.get(key)
        if found is not None:
            return found
        if "/" in key:
            key = key.rsplit("/", 1)[1]
        named = self.by_name.get(key, [])
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            raise CellError("分类名称不唯一，请写成 一级/二级 或填写分类编码")
        raise CellError("诉求分类不存在（填写分类名称或编码，见 /api/v1/categories）")


class HotlineImporter(Importer):
    """Validate hotline rows into ``Change`` objects (``created`` = a new hotline number)."""

    kind = KIND

    def __init__(self, *, user: Any, table: RawTable, result: HotlineResult) -> None:
        # Not ``super().__init__``: the base looks its columns up in the base-data specs.
        self.user = user
        self.table = table
        self.result = result
        self.columns = COLUMNS
        self.key = "hotline_no"
        self.header_of = {}
        self.rows = []
        self.changes = []
        self.now = timezone.now()
        self.categories = CategoryIndex()

    def error(self, row: Row | None, key: str, message: str, value: Any = None) -> None:
        if value is None and row is not None:
            value = row.cells.get(key, "")
        if key == "caller_phone" and value:
            value = mask_phone(str(value))
        super().error(row, key, message, value)

    def parse_row(self, row: Row) -> None:
        v = row.values
        v["hotline_no"] = self.text(row, "hotline_no", max_length=40, required=True)
        v["content"] = self.text(row, "content", max_length=MAX_TEXT, required=True)
        v["title"] = self.text(row, "title", max_length=MAX_TITLE) or ""
        v["caller_name"] = self.text(row, "caller_name", max_length=50) or ""
        v["caller_phone"] = self.parsed(row, "caller_phone", parse_phone) or ""
        v["address"] = self.text(row, "address", max_length=200) or ""
        v["received_at"] = self.parsed(
            row, "received_at", lambda t: parse_received_at(t, now=self.now)
        )
        v["category"] = self.parsed(row, "category", self.categories.find)
        v["urgency"] = (
            self.parsed(row, "urgency", lambda t: parse_choice(t, URGENCY_WORDS, "一般、紧急"))
            or Urgency.NORMAL
        )
        v["confidential"] = bool(self.parsed(row, "confidential", parse_bool))
        v["building_code"] = row.cells.get("building_code", "")

    def resolve(self) -> None:
        rows = [r for r in self.rows if r.ok]
        buildings = _fetch(
            self.objs(Building).select_related("grid"),
            "code",
            [r.values["building_code"] for r in rows],
        )
        existing: set[str] = set()
        refs = sorted({r.values["hotline_no"] for r in rows})
        for chunk in _chunks(refs):
            existing.update(
                Ticket.objects.filter(channel=Channel.HOTLINE, external_ref__in=chunk).values_list(
                    "external_ref", flat=True
                )
            )
        for row in rows:
            code = row.values["building_code"]
            row.values["building"] = buildings.get(code) if code else None
            if code and row.values["building"] is None:
                self.error(row, "building_code", f"楼栋编码{OUT_OF_SCOPE}")
                continue
            self.changes.append(Change(row, None, row.values["hotline_no"] not in existing, []))

    def run(self, *, dry_run: bool) -> None:
        assert isinstance(self.result, HotlineResult)
        result = self.result
        if not self.map_columns():
            return
        self.check_keys()
        for row in self.rows:
            self.parse_row(row)
        self.resolve()
        result.rows = len(self.rows)
        if result.errors:
            result.errors.sort(key=lambda e: e.row or 0)
            return
        new = [c for c in self.changes if c.created]
        result.created, result.skipped = len(new), len(self.changes) - len(new)
        if dry_run or not new:
            return
        try:
            with transaction.atomic():
                created = self.write_rows(new)
        except _Abort:
            result.created = result.skipped = 0
            return
        except DatabaseError:
            logger.exception("hotline import failed while writing")
            result.errors.append(RowError(None, "", "", DB_ERROR_MESSAGE))
            result.created = result.skipped = 0
            return
        # A concurrent import of the same numbers may have won some rows: they count as skipped.
        result.created, result.skipped = created, len(self.changes) - created
        result.written = True

    def write_rows(self, changes: list[Change]) -> int:
        created = 0
        for change in changes:
            v = change.row.values
            try:
                intake = ticket_create(
                    channel=Channel.HOTLINE,
                    title=v["title"],
                    description=v["content"],
                    reporter_name=v["caller_name"],
                    reporter_phone=v["caller_phone"],
                    anonymous=not v["caller_phone"],
                    confidential=v["confidential"],
                    category=v["category"],
                    urgency=v["urgency"],
                    building=v["building"],
                    address=v["address"],
                    external_ref=v["hotline_no"],
                    created_at=v["received_at"] or self.now,
                    actor_label=ACTOR_LABEL,
                )
            except JiayuanError as exc:
                key = {"description": "content", "phone": "caller_phone"}.get(
                    exc.field or "", exc.field or ""
                )
                self.error(change.row, key, exc.message)
                raise _Abort from exc
            created += int(intake.created)
        return created


class _Abort(Exception):
    """A row failed while writing: roll the whole import back (its error is in the report)."""


def can_import_hotline(user: Any) -> bool:
    """The same posts that import base data: community level and above, admins; the system."""
    return can_import(user)


def hotline_import(
    *, filename: str, content: bytes, user: Any = None, dry_run: bool = False
) -> HotlineResult:
    """Import (导入) one hotline export; see the module docstring for the rules.

    Raises ``PermissionDenied`` for a user whose posts may not import; every problem with the
    file or its rows is reported in ``HotlineResult.errors`` instead, and then nothing is written.
    """
    if not can_import_hotline(user):
        raise PermissionDenied("只有社区及以上岗位或管理员可以导入 12345 热线工单")
    result = HotlineResult(dry_run=dry_run)
    try:
        table = read_table(filename=filename, content=content)
    except FileProblem as exc:
        result.errors.append(RowError(None, "", "", exc.message))
        return result
    if table.has_geometry:
        result.errors.append(RowError(None, "", "", "请上传 .xlsx 或 .csv 文件"))
        return result
    HotlineImporter(user=user, table=table, result=result).run(dry_run=dry_run)
    return result
