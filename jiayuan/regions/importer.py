"""Import of base data (基础数据导入): regions, grids, buildings, households and residents.

One entry point, ``base_data_import(kind=, filename=, content=, user=, dry_run=)``, used by the
``jiayuan import`` command and by the upload page. It reads .xlsx, .csv (UTF-8, UTF-8 with BOM,
GBK) or GeoJSON, validates *every* row first and collects all errors as a per-row report
(row, column, value, message in Chinese). Any error means nothing is written; otherwise the
changes are written in one transaction. Rows are matched to existing objects by natural key
(``code``; ``id_number`` for residents), so importing the same file twice changes nothing.

Rules shared by every kind (docs/import.md has the column specs):

- A blank cell leaves the existing value as it is (on create: the default). ``care_tags``
  accepts ``无`` to clear a resident's tags.
- Columns not in the spec are ignored and listed in ``ImportResult.ignored_columns``.
- ``user=None`` is the system (CLI) and sees everything; otherwise every reference goes through
  ``visible_to(user)`` and a reference outside the user's scope reads exactly like a missing one.
- ID and phone numbers are masked in the report: an error report must not leak them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any

from django.db import DatabaseError, models, transaction
from django.utils import timezone

from jiayuan.core.errors import JiayuanError, PermissionDenied
from jiayuan.core.excel import FORMULA_PREFIXES
from jiayuan.core.masking import mask_id_number, mask_phone
from jiayuan.core.scoping import PATH_SEP, scope_for
from jiayuan.regions.choices import (
    LEVEL_ORDER,
    PARENT_LEVEL,
    Gender,
    GridKind,
    Level,
    Relation,
    RentalStatus,
)
from jiayuan.regions.models import (
    Building,
    CareTagType,
    Estate,
    Household,
    Region,
    Resident,
    Unit,
)
from jiayuan.staff.choices import Role

KIND_LABELS = {
    "regions": "区划（市、区、街道、社区）",
    "grids": "网格、微网格",
    "buildings": "楼栋",
    "households": "户",
    "residents": "居民",
}
KINDS = tuple(KIND_LABELS)

# Roles whose posts may import (community level and above); admins and superusers always may.
IMPORT_ROLES = frozenset(
    {
        Role.COMMUNITY_WORKER,
        Role.COMMUNITY_SECRETARY,
        Role.STREET_OFFICER,
        Role.COMMAND_CENTER,
        Role.ADMIN,
    }
)
OUT_OF_SCOPE = "不存在或不在您的管辖范围内"
MAX_ROWS = 200_000
# Some SQLite builds allow only 999 parameters in one statement: look keys up in chunks.
LOOKUP_CHUNK = 900
GEOMETRY_COLUMN = "geometry"
DB_ERROR_MESSAGE = (
    "写入数据库时出错（可能有人同时修改了相同的数据），已全部撤销，未写入任何数据；请重新导入"
)
logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Column specs


@dataclass(frozen=True)
class Column:
    """One column of an import file: its key, its Chinese header, other accepted headers."""

    key: str
    zh: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    note: str = ""

    @property
    def headers(self) -> tuple[str, ...]:
        return (self.zh, self.key, *self.aliases)


_BOUNDARY = Column("boundary", "边界", ("范围",), note="GeoJSON 几何（Polygon/MultiPolygon）文本")
_CENTER_LNG = Column("center_lng", "中心经度", ("center_longitude",))
_CENTER_LAT = Column("center_lat", "中心纬度", ("center_latitude",))

SPECS: dict[str, tuple[Column, ...]] = {
    "regions": (
        Column("code", "编码", ("区划代码", "统一编码", "代码"), True, "12 位统计用区划代码"),
        Column("name", "名称", ("区划名称",), True),
        Column("level", "层级", ("级别",), True, "市 / 区（市） / 街道（乡镇） / 社区（村）"),
        Column("parent_code", "上级编码", ("上级代码", "上级区划代码"), note="市级可空"),
        _BOUNDARY,
        _CENTER_LNG,
        _CENTER_LAT,
    ),
    "grids": (
        Column(
            "code", "网格编码", ("编码",), True, "网格 = 社区编码 + 3 位；微网格 = 网格编码 + 2 位"
        ),
        Column("name", "网格名称", ("名称",), True),
        Column("parent_code", "上级编码", ("社区编码", "上级网格编码"), True),
        Column("level", "层级", ("级别",), note="网格 / 微网格；空则按编码长度判断"),
        Column(
            "kind", "网格类型", ("类型",), note="综合网格（默认）、企业、商圈市场、学校、医院、园区"
        ),
        _BOUNDARY,
        _CENTER_LNG,
        _CENTER_LAT,
    ),
    "buildings": (
        Column("code", "楼栋编码", ("编码",), True),
        Column("name", "楼栋名称", ("名称",), True),
        Column("grid_code", "网格编码", (), True),
        Column("address", "地址", ("楼栋地址",), True),
        Column("estate", "小区", ("小区名称", "estate_name"), note="网格所在社区内已有小区的名称"),
        Column("micro_grid_code", "微网格编码", ()),
        Column("lng", "经度", ("longitude",)),
        Column("lat", "纬度", ("latitude",)),
        Column("floors", "层数", ("楼层数",)),
    ),
    "households": (
        Column("code", "户编码", ("编码",), True),
        Column("building_code", "楼栋编码", (), True),
        Column("unit", "单元", ("单元号",), True, "没有的单元自动创建"),
        Column("room", "房号", ("门牌号", "房间号"), True),
        Column("head_name", "户主姓名", ("户主",)),
        Column("rental_status", "居住状态", ("房屋状态",), note="自住 / 出租 / 空置 / 其他"),
        Column("party_member_center", "党员中心户", (), note="是 / 否"),
        Column("area_m2", "面积", ("面积㎡", "area"), note="平方米"),
    ),
    "residents": (
        Column(
            "id_number",
            "身份证号",
            ("公民身份号码", "身份证号码"),
            True,
            "18 位，校验码按 GB 11643",
        ),
        Column("name", "姓名", (), True),
        Column("household_code", "户编码", (), True),
        Column("phone", "联系电话", ("手机号", "手机号码", "电话")),
        Column("gender", "性别", (), note="男 / 女；须与身份证号一致，空则按身份证号"),
        Column(
            "relation", "与户主关系", ("关系",), note="户主、配偶、子女、父母、孙辈、租户、其他"
        ),
        Column("is_party_member", "党员", ("是否党员",), note="是 / 否"),
        Column("is_building_leader", "楼栋长", ("是否楼栋长",), note="是 / 否"),
        Column(
            "care_tags", "特殊人群标签", ("标签",), note="名称或编码，用 、 或 , 分隔；无 = 清空"
        ),
    ),
}
# Natural key of each kind.
KEYS = {
    "regions": "code",
    "grids": "code",
    "buildings": "code",
    "households": "code",
    "residents": "id_number",
}
PERSONAL_COLUMNS = {"id_number": mask_id_number, "phone": mask_phone}


def normalize_header(text: str) -> str:
    """A header as it is matched: no spaces, no asterisks, no parenthesised note, lower case."""
    text = re.sub(r"[（(][^）)]*[)）]", "", str(text))
    text = re.sub(r"[\s*＊:：]", "", text).replace("-", "_")
    return text.lower()


# ---------------------------------------------------------------------------------------------
# Result


@dataclass
class RowError:
    """One entry of the per-row report. ``row`` is None for an error about the whole file."""

    row: int | None
    column: str
    value: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "message": self.message,
        }


@dataclass
class ImportResult:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: bool = False
    dry_run: bool = False
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def summary(self) -> str:
        if self.errors:
            return f"发现 {len(self.errors)} 处错误，未写入任何数据。"
        counts = (
            f"共 {self.rows} 行：新增 {self.created}，更新 {self.updated}，未变 {self.unchanged}"
        )
        if self.dry_run:
            return f"校验通过（仅校验，未写入）。{counts}。"
        return f"导入完成。{counts}。"


REPORT_HEADERS = ["行号", "列", "值", "错误说明"]


def report_rows(result: ImportResult) -> list[list[Any]]:
    """The error report as table rows (for the CLI, the page and the .xlsx download)."""
    return [
        [e.row if e.row is not None else "文件", e.column, e.value, e.message]
        for e in result.errors
    ]


# ---------------------------------------------------------------------------------------------
# Reading files


class FileProblem(JiayuanError):
    """The file as a whole cannot be read."""

    code = "import_file"


@dataclass
class RawRow:
    number: int
    cells: list[str]
    geometry: Any = None


@dataclass
class RawTable:
    headers: list[str]
    rows: list[RawRow]
    has_geometry: bool = False


def cell_text(value: Any) -> str:
    """A cell as text: integral numbers without ``.0``, dates as ISO, never evaluated."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    text = str(value).strip()
    # jiayuan's own exports prefix formula-looking text with ' (see core.excel.safe_cell).
    if len(text) > 1 and text[0] == "'" and text[1:].startswith(FORMULA_PREFIXES):
        text = text[1:]
    return text


def read_table(*, filename: str, content: bytes) -> RawTable:
    """Read an uploaded file into a header row and data rows; ``FileProblem`` if unreadable."""
    suffix = PurePath(filename or "").suffix.lower()
    if not content or not content.strip():
        raise FileProblem("文件是空的")
    if suffix == ".xlsx":
        table = _read_xlsx(content)
    elif suffix in {".csv", ".txt"}:
        table = _read_csv(content)
    elif suffix in {".geojson", ".json"}:
        table = _read_geojson(content)
    elif suffix in {".xls", ".et", ".wps"}:
        raise FileProblem("不支持旧版 Excel（.xls）格式，请另存为 .xlsx 或 .csv 后再导入")
    else:
        raise FileProblem("不支持的文件类型，请上传 .xlsx、.csv 或 .geojson 文件")
    if not any(table.headers):
        raise FileProblem("文件第 1 行应为表头，但它是空的")
    if not table.rows:
        raise FileProblem("文件只有表头，没有数据行")
    if len(table.rows) > MAX_ROWS:
        raise FileProblem(f"一次最多导入 {MAX_ROWS} 行，请拆分文件")
    return table


def _rows_from_cells(rows: Iterable[Sequence[Any]]) -> RawTable:
    iterator = iter(rows)
    try:
        header = [cell_text(v) for v in next(iterator)]
    except StopIteration:
        raise FileProblem("文件是空的") from None
    out: list[RawRow] = []
    for number, values in enumerate(iterator, start=2):
        cells = [cell_text(v) for v in values]
        if any(cells):
            out.append(RawRow(number, cells))
    return RawTable(header, out)


def _read_xlsx(content: bytes) -> RawTable:
    from openpyxl import load_workbook

    try:
        # Formulas are not evaluated: a formula cell is imported as its text ("=…"), as text.
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise FileProblem("无法读取该 .xlsx 文件，请确认它是 Excel 工作簿") from exc
    try:
        ws = wb.worksheets[0]
        return _rows_from_cells(ws.iter_rows(values_only=True))
    except FileProblem:
        raise
    except Exception as exc:
        raise FileProblem("无法读取该 .xlsx 文件的第一个工作表") from exc
    finally:
        wb.close()


def _decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileProblem("无法识别文件编码，请保存为 UTF-8 或 GBK 编码的 CSV")


def _read_csv(content: bytes) -> RawTable:
    text = _decode(content)
    if "\x00" in text:
        raise FileProblem("无法读取该 CSV 文件（含有二进制内容）")
    first_line = text.split("\n", 1)[0]
    delimiter = max([",", "\t", ";"], key=first_line.count)
    try:
        return _rows_from_cells(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise FileProblem(f"CSV 格式错误：{exc}") from exc


def _read_geojson(content: bytes) -> RawTable:
    try:
        data = json.loads(_decode(content))
    except json.JSONDecodeError as exc:
        raise FileProblem(f"GeoJSON 格式错误（第 {exc.lineno} 行）") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise FileProblem("GeoJSON 文件应为 FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list):
        raise FileProblem("GeoJSON 文件缺少 features 列表")
    headers: list[str] = []
    for feature in features:
        props = feature.get("properties") if isinstance(feature, dict) else None
        for key in props or {}:
            if key not in headers:
                headers.append(key)
    rows: list[RawRow] = []
    for number, feature in enumerate(features, start=1):
        if not isinstance(feature, dict):
            raise FileProblem(f"第 {number} 个要素不是 GeoJSON Feature")
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise FileProblem(f"第 {number} 个要素的 properties 不是对象")
        rows.append(
            RawRow(number, [cell_text(props.get(h)) for h in headers], feature.get("geometry"))
        )
    return RawTable(headers, rows, has_geometry=True)


# ---------------------------------------------------------------------------------------------
# Parsing values


class CellError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


TRUE_WORDS = {"是", "1", "true", "yes", "y", "√", "✓", "t"}
FALSE_WORDS = {"否", "0", "false", "no", "n", "×", "f"}


def parse_bool(text: str) -> bool:
    low = text.lower()
    if low in TRUE_WORDS:
        return True
    if low in FALSE_WORDS:
        return False
    raise CellError("请填写 是 或 否")


def parse_float(text: str, *, low: float, high: float, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CellError(f"{what}应为数字") from None
    if not (low <= value <= high):
        raise CellError(f"{what}应在 {low:g} 到 {high:g} 之间")
    return value


def _choice_map(choices: Any, extra: dict[str, str] | None = None) -> dict[str, str]:
    mapping = {}
    for value, label in choices.choices:
        mapping[value.lower()] = value
        mapping[str(label)] = value
    for key, value in (extra or {}).items():
        mapping[key] = value
    return mapping


LEVEL_WORDS = _choice_map(
    Level,
    {
        "区": Level.DISTRICT, "县": Level.DISTRICT, "区(市)": Level.DISTRICT,
        "县级市": Level.DISTRICT, "区县": Level.DISTRICT, "街道": Level.STREET,
        "乡镇": Level.STREET, "镇": Level.STREET, "乡": Level.STREET,
        "街道(乡镇)": Level.STREET, "社区": Level.COMMUNITY, "村": Level.COMMUNITY,
        "居委会": Level.COMMUNITY, "村委会": Level.COMMUNITY, "社区(村)": Level.COMMUNITY,
        "microgrid": Level.MICRO_GRID,
    },
)  # fmt: skip
GRID_KIND_WORDS = _choice_map(
    GridKind,
    {
        "综合": GridKind.RESIDENTIAL, "企业": GridKind.ENTERPRISE,
        "商圈市场": GridKind.MARKET, "商圈": GridKind.MARKET, "市场": GridKind.MARKET,
        "学校": GridKind.SCHOOL, "医院": GridKind.HOSPITAL, "园区": GridKind.PARK,
    },
)  # fmt: skip
RENTAL_WORDS = _choice_map(RentalStatus, {"自有": RentalStatus.OWNER, "租住": RentalStatus.RENTED})
GENDER_WORDS = _choice_map(Gender, {"男性": Gender.MALE, "女性": Gender.FEMALE})
RELATION_WORDS = _choice_map(
    Relation,
    {
        "本人": Relation.HEAD, "妻": Relation.SPOUSE, "夫": Relation.SPOUSE,
        "妻子": Relation.SPOUSE, "丈夫": Relation.SPOUSE, "子": Relation.CHILD,
        "女": Relation.CHILD, "儿子": Relation.CHILD, "女儿": Relation.CHILD,
        "父亲": Relation.PARENT, "母亲": Relation.PARENT, "孙子": Relation.GRANDCHILD,
        "孙女": Relation.GRANDCHILD, "外孙": Relation.GRANDCHILD, "外孙女": Relation.GRANDCHILD,
        "租客": Relation.TENANT,
    },
)  # fmt: skip


def parse_choice(text: str, mapping: dict[str, str], allowed: str) -> str:
    key = text.replace("（", "(").replace("）", ")")
    value = mapping.get(key) or mapping.get(key.lower())
    if value is None:
        raise CellError(f"应为 {allowed} 之一")
    return value


ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """GB 11643-1999 check character of the first 17 digits of a citizen ID number."""
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def parse_id_number(text: str, *, today: dt.date | None = None) -> tuple[str, dt.date, str]:
    """An 18-character citizen ID (公民身份号码): the number, birth date and gender it encodes."""
    value = text.replace(" ", "").upper()
    if re.fullmatch(r"\d(\.\d+)?E\+?\d+", value):
        raise CellError("身份证号被 Excel 显示成了科学计数法，请把该列设为文本后重新填写")
    if not re.fullmatch(r"\d{17}[\dX]", value):
        raise CellError("身份证号应为 18 位（前 17 位为数字，最后一位为数字或 X）")
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise CellError("身份证号中的出生日期不正确") from None
    if birth.year < 1890 or birth > (today or timezone.localdate()):
        raise CellError("身份证号中的出生日期不正确")
    if id_check_digit(value[:17]) != value[17]:
        raise CellError("身份证号校验码不正确，请核对")
    gender = Gender.MALE if int(value[16]) % 2 else Gender.FEMALE
    return value, birth, gender


MOBILE_RE = re.compile(r"1[3-9]\d{9}")
LANDLINE_RE = re.compile(r"0\d{2,3}-?\d{7,8}(-\d{1,6})?")


def parse_phone(text: str) -> str:
    value = re.sub(r"[\s]", "", text)
    if value.startswith("+86"):
        value = value[3:]
    if MOBILE_RE.fullmatch(value.replace("-", "")):
        return value.replace("-", "")
    if LANDLINE_RE.fullmatch(value) and len(value) <= 20:
        return value
    raise CellError("联系电话应为 11 位手机号或带区号的固定电话（如 0535-6212345）")


def parse_geometry(geometry: Any, *, kinds: tuple[str, ...]) -> Any:
    """Validate a GeoJSON geometry with shapely; returns (geojson dict, shapely geometry)."""
    from shapely.geometry import mapping, shape

    if isinstance(geometry, str):
        try:
            geometry = json.loads(geometry)
        except json.JSONDecodeError:
            raise CellError("不是有效的 GeoJSON 几何") from None
    if not isinstance(geometry, dict) or geometry.get("type") not in kinds:
        raise CellError(f"几何类型应为 {' / '.join(kinds)}")
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise CellError("不是有效的 GeoJSON 几何") from exc
    if geom.is_empty:
        raise CellError("几何为空")
    min_x, min_y, max_x, max_y = geom.bounds
    if min_x < -180 or max_x > 180 or min_y < -90 or max_y > 90:
        raise CellError("坐标超出经纬度范围（经度 -180~180，纬度 -90~90；顺序为 经度, 纬度）")
    if not geom.is_valid:
        from shapely.validation import explain_validity

        raise CellError(f"边界几何无效（{explain_validity(geom)}），请检查自相交或未闭合的环")
    clean = json.loads(json.dumps(mapping(geom)))
    return clean, geom


# ---------------------------------------------------------------------------------------------
# Rows and the shared machinery


@dataclass
class Row:
    number: int
    cells: dict[str, str]
    geometry: Any
    values: dict[str, Any] = field(default_factory=dict)
    ok: bool = True


@dataclass
class Change:
    """What one valid row does: create ``obj``, update ``fields`` of it, or nothing."""

    row: Row
    obj: Any
    created: bool
    fields: list[str]
    extra: dict[str, Any] = field(default_factory=dict)


def _chunks(values: Sequence[Any], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _fetch(queryset: Any, field_name: str, values: Iterable[Any]) -> dict[Any, Any]:
    """Objects of ``queryset`` by ``field_name``, looked up in chunks."""
    wanted = sorted({v for v in values if v not in (None, "")})
    out: dict[Any, Any] = {}
    for chunk in _chunks(wanted):
        for obj in queryset.filter(**{f"{field_name}__in": chunk}):
            out[getattr(obj, field_name)] = obj
    return out


def _existing_keys(model: type[models.Model], field_name: str, values: Iterable[Any]) -> set[Any]:
    """Keys that exist at all, whoever may see them (only to tell "taken" from "new")."""
    wanted = sorted({v for v in values if v not in (None, "")})
    out: set[Any] = set()
    for chunk in _chunks(wanted):
        out.update(
            model._default_manager.filter(**{f"{field_name}__in": chunk}).values_list(
                field_name, flat=True
            )
        )
    return out


class Importer:
    """Validate rows of one kind into a list of ``Change``; write them in one go."""

    kind = ""

    def __init__(self, *, user: Any, table: RawTable, result: ImportResult) -> None:
        self.user = user
        self.table = table
        self.result = result
        self.columns = SPECS[self.kind]
        self.key = KEYS[self.kind]
        self.header_of: dict[str, str] = {}
        self.rows: list[Row] = []
        self.changes: list[Change] = []

    # -- reporting --------------------------------------------------------------------------

    def error(self, row: Row | None, key: str, message: str, value: Any = None) -> None:
        if value is None and row is not None:
            value = row.cells.get(key, "")
        text = cell_text(value) if not isinstance(value, str) else value
        if key in PERSONAL_COLUMNS and text:
            text = PERSONAL_COLUMNS[key](text)
        column = self.header_of.get(key, key)
        self.result.errors.append(
            RowError(row.number if row else None, column, text[:200], message)
        )
        if row is not None:
            row.ok = False

    def objs(self, model: type[models.Model]) -> Any:
        """The gate: every lookup of an object for this import goes through ``visible_to``."""
        manager: Any = model._default_manager
        return manager.visible_to(self.user) if self.user is not None else manager.all()

    # -- columns -----------------------------------------------------------------------------

    def map_columns(self) -> bool:
        by_header: dict[str, Column] = {}
        for col in self.columns:
            for header in col.headers:
                by_header[normalize_header(header)] = col
        index: dict[str, int] = {}
        for i, header in enumerate(self.table.headers):
            if not header:
                continue
            found = by_header.get(normalize_header(header))
            if found is None:
                self.result.ignored_columns.append(header)
                continue
            col = found
            if col.key in index:
                self.result.errors.append(
                    RowError(None, header, "", f"列「{header}」与「{self.header_of[col.key]}」重复")
                )
                continue
            index[col.key] = i
            self.header_of[col.key] = header
        if self.table.has_geometry:
            self.header_of.setdefault(GEOMETRY_COLUMN, GEOMETRY_COLUMN)
        for col in self.columns:
            if col.required and col.key not in index:
                self.result.errors.append(
                    RowError(None, col.zh, "", f"缺少必填列「{col.zh}」（或 {col.key}）")
                )
        if self.result.errors:
            return False
        for raw in self.table.rows:
            cells = {key: (raw.cells[i] if i < len(raw.cells) else "") for key, i in index.items()}
            self.rows.append(Row(raw.number, cells, raw.geometry))
        return True

    # -- the steps -----------------------------------------------------------------------------

    def run(self, *, dry_run: bool) -> None:
        if not self.map_columns():
            return
        self.check_keys()
        for row in self.rows:
            self.parse_row(row)
        self.resolve()
        self.result.rows = len(self.rows)
        if self.result.errors:
            # In file order; within a row, in the order the checks found them (sort is stable).
            self.result.errors.sort(key=lambda e: e.row or 0)
            return
        self.result.created = sum(1 for c in self.changes if c.created)
        self.result.updated = sum(1 for c in self.changes if not c.created and c.fields)
        self.result.unchanged = len(self.changes) - self.result.created - self.result.updated
        if dry_run or not (self.result.created or self.result.updated):
            return
        try:
            with transaction.atomic():
                self.write()
        except DatabaseError:
            # The database's own message may quote a key (an ID number): log it, don't report it.
            logger.exception("base-data import of %s failed while writing", self.kind)
            self.result.errors.append(RowError(None, "", "", DB_ERROR_MESSAGE))
            self.result.created = self.result.updated = self.result.unchanged = 0
            return
        self.result.written = True

    def check_keys(self) -> None:
        seen: dict[str, int] = {}
        for row in self.rows:
            key = row.cells.get(self.key, "")
            if not key:
                continue
            if self.key == "id_number":
                key = key.replace(" ", "").upper()
            if key in seen:
                self.error(row, self.key, f"与第 {seen[key]} 行重复")
            else:
                seen[key] = row.number

    def text(self, row: Row, key: str, *, max_length: int, required: bool = False) -> str | None:
        value = row.cells.get(key, "")
        if not value:
            if required:
                label = self.header_of.get(key, key)
                self.error(row, key, f"「{label}」不能为空")
            return None
        if len(value) > max_length:
            self.error(row, key, f"不能超过 {max_length} 个字符")
            return None
        return value

    def parsed(self, row: Row, key: str, parser: Any) -> Any:
        value = row.cells.get(key, "")
        if not value:
            return None
        try:
            return parser(value)
        except CellError as exc:
            self.error(row, key, exc.message)
            return None

    def coordinates(self, row: Row, lng_key: str, lat_key: str) -> tuple[float, float] | None:
        lng = self.parsed(row, lng_key, lambda t: parse_float(t, low=-180, high=180, what="经度"))
        lat = self.parsed(row, lat_key, lambda t: parse_float(t, low=-90, high=90, what="纬度"))
        has_lng, has_lat = bool(row.cells.get(lng_key)), bool(row.cells.get(lat_key))
        if has_lng != has_lat:
            self.error(row, lat_key if has_lng else lng_key, "经度和纬度应同时填写")
            return None
        if lng is None or lat is None:
            return None
        return lng, lat

    def diff(self, row: Row, obj: Any, values: dict[str, Any]) -> Change:
        fields = [name for name, value in values.items() if getattr(obj, name) != value]
        for name in fields:
            setattr(obj, name, values[name])
        return Change(row, obj, False, fields)

    # -- per kind ------------------------------------------------------------------------------

    def parse_row(self, row: Row) -> None:
        raise NotImplementedError

    def resolve(self) -> None:
        raise NotImplementedError

    def write(self) -> None:
        raise NotImplementedError

    def bulk_update(self, model: type[models.Model], changes: list[Change]) -> None:
        updated = [c for c in changes if not c.created and c.fields]
        if not updated:
            return
        fields = sorted({f for c in updated for f in c.fields})
        if any(f.name == "updated_at" for f in model._meta.fields):
            now = timezone.now()
            for c in updated:
                c.obj.updated_at = now
            fields.append("updated_at")
        model._default_manager.bulk_update([c.obj for c in updated], fields, batch_size=500)


# ---------------------------------------------------------------------------------------------
# Regions and grids


class RegionImporter(Importer):
    """区划（市/区/街道/社区, 12-digit codes) and 网格/微网格 (codes extending the parent's)."""

    kind = "regions"
    levels: tuple[str, ...] = (Level.CITY, Level.DISTRICT, Level.STREET, Level.COMMUNITY)
    # The digits each level adds to the 12-digit code (GB/T 2260 and the NBS statistical
    # codes): city 3–4, district 5–6, street 7–9, community 10–12; the rest are zeros.
    SEGMENT: dict[str, tuple[int, int]] = {
        Level.CITY: (2, 4),
        Level.DISTRICT: (4, 6),
        Level.STREET: (6, 9),
        Level.COMMUNITY: (9, 12),
    }

    def level_words(self) -> str:
        return "、".join(str(Level(lv).label) for lv in self.levels)

    def parse_level(self, row: Row) -> str | None:
        text = row.cells.get("level", "")
        if not text:
            return None
        try:
            level = parse_choice(text, LEVEL_WORDS, self.level_words())
        except CellError as exc:
            self.error(row, "level", exc.message)
            return None
        if level not in self.levels:
            self.error(row, "level", f"应为 {self.level_words()} 之一")
            return None
        return level

    def parse_code(self, row: Row, level: str | None) -> None:
        code = row.cells.get("code", "")
        if not re.fullmatch(r"\d{12}", code):
            self.error(row, "code", "区划编码应为 12 位数字")
            return
        if level is None:
            return
        start, end = self.SEGMENT[level]
        if code[end:].strip("0"):
            self.error(row, "code", f"{Level(level).label}级编码应为前 {end} 位有效、其后补 0")
        elif not code[start:end].strip("0"):
            self.error(
                row,
                "code",
                f"编码与层级「{Level(level).label}」不符（第 {start + 1}–{end} 位不能全为 0）",
            )

    def parse_row(self, row: Row) -> None:
        values = row.values
        if not row.cells.get("level"):
            self.error(row, "level", "「层级」不能为空")
        level = self.parse_level(row)
        if not row.cells.get("code"):
            self.error(row, "code", "「编码」不能为空")
        else:
            self.parse_code(row, level)
        values["level"] = level
        name = self.text(row, "name", max_length=100, required=True)
        if name is not None:
            values["name"] = name
        parent_code = row.cells.get("parent_code", "")
        if level == Level.CITY and parent_code:
            self.error(row, "parent_code", "市级区划不应有上级编码")
        elif level not in (None, Level.CITY) and not parent_code:
            self.error(row, "parent_code", "「上级编码」不能为空")
        values["parent_code"] = parent_code
        self.parse_geometry_columns(row)

    def parse_geometry_columns(self, row: Row) -> None:
        values = row.values
        geometry = row.geometry if row.geometry is not None else row.cells.get("boundary") or None
        geom = None
        if geometry is not None:
            key = GEOMETRY_COLUMN if row.geometry is not None else "boundary"
            try:
                values["boundary"], geom = parse_geometry(
                    geometry, kinds=("Polygon", "MultiPolygon")
                )
            except CellError as exc:
                self.error(row, key, exc.message, value=_short_geometry(geometry))
        center = self.coordinates(row, "center_lng", "center_lat")
        if center is not None:
            values["center_lng"], values["center_lat"] = center
        elif geom is not None:
            point = geom.representative_point() if not geom.centroid.within(geom) else geom.centroid
            values["center_lng"], values["center_lat"] = round(point.x, 6), round(point.y, 6)

    def check_parent(self, row: Row, parent_code: str, parent_level: str) -> None:
        level = row.values["level"]
        code = row.cells["code"]
        if PARENT_LEVEL.get(level) != parent_level:
            expected = Level(PARENT_LEVEL[level]).label if level in PARENT_LEVEL else "—"
            self.error(
                row,
                "parent_code",
                f"上级是{Level(parent_level).label}，本行层级应比上级低一级"
                f"（{Level(level).label}的上级应为{expected}）",
            )
            return
        n = self.SEGMENT[parent_level][1]
        if not code.startswith(parent_code[:n]):
            self.error(row, "code", f"编码应以上级编码的前 {n} 位「{parent_code[:n]}」开头")

    def resolve(self) -> None:
        valid = {r.cells["code"]: r for r in self.rows if r.ok}
        all_codes = [r.cells.get("code", "") for r in self.rows] + [
            r.values.get("parent_code", "") for r in self.rows
        ]
        visible = _fetch(self.objs(Region).select_related("parent"), "code", all_codes)
        taken = _existing_keys(Region, "code", [c for c in all_codes if c not in visible])
        everything = self.user is None or scope_for(self.user).everything
        for row in self.rows:
            if not row.ok:
                continue
            code, level = row.cells["code"], row.values["level"]
            parent_code = row.values.pop("parent_code")
            existing = visible.get(code)
            if existing is None and code in taken:
                self.error(row, "code", f"该区划{OUT_OF_SCOPE}")
                continue
            if level == Level.CITY and not everything:
                self.error(row, "code", f"该区划{OUT_OF_SCOPE}")
                continue
            if existing is not None:
                # An existing node keeps its place: its parent need not be in the user's scope.
                if existing.level != level:
                    label = existing.get_level_display()
                    self.error(row, "level", f"与已有记录的层级（{label}）不同，不能通过导入修改")
                    continue
                old_parent = existing.parent.code if existing.parent else ""
                if old_parent != parent_code:
                    self.error(
                        row,
                        "parent_code",
                        f"与已有记录的上级（{old_parent}）不同，不能通过导入移动区划",
                    )
                    continue
                values = {k: v for k, v in row.values.items() if k != "level"}
                self.changes.append(self.diff(row, existing, values))
                continue
            if parent_code:
                in_file = valid.get(parent_code)
                parent = visible.get(parent_code)
                if in_file is not None and in_file is not row:
                    self.check_parent(row, parent_code, in_file.values["level"])
                elif parent is not None:
                    self.check_parent(row, parent_code, parent.level)
                else:
                    self.error(row, "parent_code", f"上级区划{OUT_OF_SCOPE}")
            if row.ok:
                row.values["parent_code"] = parent_code
                self.changes.append(Change(row, None, True, []))

    def write(self) -> None:
        by_code: dict[str, tuple[int, str]] = {}
        new_by_level: dict[str, list[Change]] = defaultdict(list)
        for change in self.changes:
            if change.created:
                new_by_level[change.row.values["level"]].append(change)
        parent_codes = {c.row.values["parent_code"] for c in self.changes if c.created}
        for code, (pk, path) in _region_paths(parent_codes).items():
            by_code[code] = (pk, path)
        for level in LEVEL_ORDER:
            creating = new_by_level.get(level, [])
            if not creating:
                continue
            objs = []
            for change in creating:
                values = dict(change.row.values)
                parent_code = values.pop("parent_code")
                parent_id, path = None, change.row.cells["code"]
                if parent_code:
                    parent_id, parent_path = by_code[parent_code]
                    path = parent_path + PATH_SEP + path
                if level in (Level.GRID, Level.MICRO_GRID):
                    values.setdefault("kind", GridKind.RESIDENTIAL)
                objs.append(
                    Region(
                        code=change.row.cells["code"],
                        parent_id=parent_id,
                        path=path,
                        depth=path.count(PATH_SEP),
                        **values,
                    )
                )
            Region.objects.bulk_create(objs, batch_size=500)
            by_code.update(_region_paths([o.code for o in objs]))
        self.bulk_update(Region, self.changes)


def _region_paths(codes: Iterable[str]) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    wanted = sorted({c for c in codes if c})
    for chunk in _chunks(wanted):
        for pk, code, path in Region.objects.filter(code__in=chunk).values_list(
            "pk", "code", "path"
        ):
            out[code] = (pk, path)
    return out


def _short_geometry(geometry: Any) -> str:
    text = geometry if isinstance(geometry, str) else json.dumps(geometry, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "…"


class GridImporter(RegionImporter):
    """网格 (community code + 3 digits) and 微网格 (grid code + 2 digits)."""

    kind = "grids"
    levels = (Level.GRID, Level.MICRO_GRID)
    CODE_LENGTH: dict[str, int] = {Level.GRID: 15, Level.MICRO_GRID: 17}

    def parse_row(self, row: Row) -> None:
        values = row.values
        code = row.cells.get("code", "")
        level = self.parse_level(row)
        if not code:
            self.error(row, "code", "「网格编码」不能为空")
        elif not re.fullmatch(r"\d{15}|\d{17}", code):
            self.error(
                row,
                "code",
                "网格编码应为 15 位（社区编码+3 位），微网格编码应为 17 位（网格编码+2 位）",
            )
        elif level is None and not row.cells.get("level"):
            level = Level.GRID if len(code) == 15 else Level.MICRO_GRID
        elif level is not None and len(code) != self.CODE_LENGTH[level]:
            self.error(row, "code", f"{Level(level).label}编码应为 {self.CODE_LENGTH[level]} 位")
        values["level"] = level
        name = self.text(row, "name", max_length=100, required=True)
        if name is not None:
            values["name"] = name
        kind = self.parsed(
            row,
            "kind",
            lambda t: parse_choice(
                t, GRID_KIND_WORDS, "综合网格、企业、商圈市场、学校、医院、园区"
            ),
        )
        if kind is not None:
            values["kind"] = kind
        parent_code = row.cells.get("parent_code", "")
        if not parent_code:
            self.error(row, "parent_code", "「上级编码」不能为空")
        values["parent_code"] = parent_code
        self.parse_geometry_columns(row)

    def check_parent(self, row: Row, parent_code: str, parent_level: str) -> None:
        level = row.values["level"]
        if level is None:
            return
        if PARENT_LEVEL[level] != parent_level:
            self.error(
                row,
                "parent_code",
                f"{Level(level).label}的上级应为{Level(PARENT_LEVEL[level]).label}，"
                f"而「{parent_code}」是{Level(parent_level).label}",
            )
            return
        code = row.cells["code"]
        if code[: len(parent_code)] != parent_code or len(code) != self.CODE_LENGTH[level]:
            digits = 3 if level == Level.GRID else 2
            self.error(row, "code", f"编码应为上级编码「{parent_code}」再加 {digits} 位")


# ---------------------------------------------------------------------------------------------
# Buildings


class BuildingImporter(Importer):
    kind = "buildings"

    def parse_row(self, row: Row) -> None:
        v = row.values
        for key, max_length in (("code", 24), ("name", 100), ("address", 200)):
            value = self.text(row, key, max_length=max_length, required=True)
            if value is not None:
                v[key] = value
        if not row.cells.get("grid_code"):
            self.error(row, "grid_code", "「网格编码」不能为空")
        point = None
        if row.geometry is not None:
            try:
                _, geom = parse_geometry(row.geometry, kinds=("Point",))
                point = (geom.x, geom.y)
            except CellError as exc:
                self.error(row, GEOMETRY_COLUMN, exc.message, value=_short_geometry(row.geometry))
        else:
            point = self.coordinates(row, "lng", "lat")
        if point is not None:
            v["lng"], v["lat"] = point
        floors = self.parsed(row, "floors", _parse_floors)
        if floors is not None:
            v["floors"] = floors

    def resolve(self) -> None:
        rows = [r for r in self.rows if r.ok]
        grids = _fetch(self.objs(Region), "code", [r.cells["grid_code"] for r in rows])
        micro = _fetch(self.objs(Region), "code", [r.cells.get("micro_grid_code") for r in rows])
        existing = _fetch(self.objs(Building), "code", [r.values["code"] for r in rows])
        taken = _existing_keys(
            Building, "code", [r.values["code"] for r in rows if r.values["code"] not in existing]
        )
        estates: dict[tuple[int, str], Estate] = {}
        community_ids = {g.parent_id for g in grids.values()}
        names = {r.cells.get("estate") for r in rows if r.cells.get("estate")}
        if names:
            for estate in Estate.objects.filter(community_id__in=community_ids, name__in=names):
                estates[(estate.community_id, estate.name)] = estate
        shapes: dict[int, Any] = {}
        for row in rows:
            v = row.values
            if v["code"] in taken:
                self.error(row, "code", "该楼栋编码已被您管辖范围以外的楼栋使用")
                continue
            grid = grids.get(row.cells["grid_code"])
            if grid is None or grid.level != Level.GRID:
                message = f"网格{OUT_OF_SCOPE}"
                if grid is not None and grid.level == Level.MICRO_GRID:
                    message = (
                        "这是微网格编码，请填写它所属网格的编码，微网格编码填在「微网格编码」列"
                    )
                self.error(row, "grid_code", message)
                continue
            v["grid_id"] = grid.pk
            micro_code = row.cells.get("micro_grid_code")
            if micro_code:
                mg = micro.get(micro_code)
                if mg is None or mg.level != Level.MICRO_GRID:
                    self.error(row, "micro_grid_code", f"微网格{OUT_OF_SCOPE}")
                elif mg.parent_id != grid.pk:
                    self.error(row, "micro_grid_code", f"该微网格不属于网格「{grid.code}」")
                else:
                    v["micro_grid_id"] = mg.pk
            estate_name = row.cells.get("estate")
            if estate_name:
                found = estates.get((grid.parent_id, estate_name))
                if found is None:
                    self.error(row, "estate", "网格所在社区没有这个小区，请先在系统中登记小区")
                else:
                    v["estate_id"] = found.pk
            if "lng" in v and grid.boundary:
                if grid.pk not in shapes:
                    shapes[grid.pk] = _prepared(grid.boundary)
                shape = shapes[grid.pk]
                if shape is not None and not shape.covers(_point(v["lng"], v["lat"])):
                    column = GEOMETRY_COLUMN if row.geometry is not None else "lng"
                    self.error(
                        row,
                        column,
                        f"坐标不在网格「{grid.name}」的边界内",
                        value=f"{v['lng']}, {v['lat']}",
                    )
            if not row.ok:
                continue
            obj = existing.get(v["code"])
            if obj is None:
                self.changes.append(Change(row, Building(**v), True, []))
            else:
                change = self.diff(row, obj, {k: val for k, val in v.items() if k != "code"})
                if "grid_id" in change.fields:
                    change.extra["regrid"] = True
                self.changes.append(change)

    def write(self) -> None:
        Building.objects.bulk_create([c.obj for c in self.changes if c.created], batch_size=500)
        self.bulk_update(Building, self.changes)
        # Households and residents repeat their building's grid: keep them in step.
        for change in self.changes:
            if change.extra.get("regrid"):
                b = change.obj
                Household.objects.filter(building_id=b.pk).update(grid_id=b.grid_id)
                Resident.objects.filter(household__building_id=b.pk).update(grid_id=b.grid_id)


def _parse_floors(text: str) -> int:
    if not re.fullmatch(r"\d{1,3}", text) or not 1 <= int(text) <= 200:
        raise CellError("层数应为 1 到 200 的整数")
    return int(text)


def _prepared(boundary: Any) -> Any:
    from shapely import prepared
    from shapely.geometry import shape

    try:
        return prepared.prep(shape(boundary))
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        return None


def _point(lng: float, lat: float) -> Any:
    from shapely.geometry import Point

    return Point(lng, lat)


# ---------------------------------------------------------------------------------------------
# Households


class HouseholdImporter(Importer):
    kind = "households"

    def parse_row(self, row: Row) -> None:
        v = row.values
        for key, max_length in (("code", 32), ("unit", 20), ("room", 20)):
            value = self.text(row, key, max_length=max_length, required=True)
            if value is not None:
                v[key] = value
        if not row.cells.get("building_code"):
            self.error(row, "building_code", "「楼栋编码」不能为空")
        head = self.text(row, "head_name", max_length=50)
        if head is not None:
            v["head_name"] = head
        rental = self.parsed(
            row, "rental_status", lambda t: parse_choice(t, RENTAL_WORDS, "自住、出租、空置、其他")
        )
        if rental is not None:
            v["rental_status"] = rental
        center = self.parsed(row, "party_member_center", parse_bool)
        if center is not None:
            v["party_member_center"] = center
        area = self.parsed(row, "area_m2", _parse_area)
        if area is not None:
            v["area_m2"] = area

    def resolve(self) -> None:
        rows = [r for r in self.rows if r.ok]
        buildings = _fetch(self.objs(Building), "code", [r.cells["building_code"] for r in rows])
        existing = _fetch(self.objs(Household), "code", [r.values["code"] for r in rows])
        taken = _existing_keys(
            Household, "code", [r.values["code"] for r in rows if r.values["code"] not in existing]
        )
        building_ids = sorted({b.pk for b in buildings.values()})
        units: dict[tuple[int, str], Unit] = {}
        rooms: dict[tuple[int, str, str], str] = {}
        for chunk in _chunks(building_ids):
            for unit in self.objs(Unit).filter(building_id__in=chunk):
                units[(unit.building_id, unit.number)] = unit
            for code, b_id, number, room in Household.objects.filter(
                building_id__in=chunk
            ).values_list("code", "building_id", "unit__number", "room"):
                rooms[(b_id, number, room)] = code
        in_file: dict[tuple[int, str, str], int] = {}
        self.new_units: dict[tuple[int, str], Unit] = {}
        for row in rows:
            v = row.values
            if v["code"] in taken:
                self.error(row, "code", "该户编码已被您管辖范围以外的户使用")
                continue
            building = buildings.get(row.cells["building_code"])
            if building is None:
                self.error(row, "building_code", f"楼栋{OUT_OF_SCOPE}")
                continue
            place = (building.pk, v["unit"], v["room"])
            if place in in_file:
                self.error(row, "room", f"与第 {in_file[place]} 行是同一楼栋、单元和房号")
                continue
            in_file[place] = row.number
            other = rooms.get(place)
            if other is not None and other != v["code"]:
                self.error(row, "room", f"该楼栋单元房号已登记为户「{other}」")
                continue
            unit = units.get((building.pk, v["unit"]))
            values = {k: val for k, val in v.items() if k not in {"unit", "code"}}
            values["building_id"] = building.pk
            values["grid_id"] = building.grid_id
            obj = existing.get(v["code"])
            if obj is None:
                obj = Household(code=v["code"], **values)
                change = Change(row, obj, True, [])
            else:
                change = self.diff(row, obj, values)
                if "grid_id" in change.fields:
                    change.extra["regrid"] = True
            if unit is None:
                key = (building.pk, v["unit"])
                if key not in self.new_units:
                    self.new_units[key] = Unit(building_id=building.pk, number=v["unit"])
                change.extra["unit_key"] = key
                if not change.created:
                    change.fields.append("unit_id")
            elif change.created or obj.unit_id != unit.pk:
                obj.unit_id = unit.pk
                if not change.created:
                    change.fields.append("unit_id")
            self.changes.append(change)

    def write(self) -> None:
        if self.new_units:
            Unit.objects.bulk_create(list(self.new_units.values()), batch_size=500)
            created: dict[tuple[int, str], int] = {}
            keys = list(self.new_units)
            for chunk in _chunks(sorted({k[0] for k in keys})):
                for pk, b_id, number in Unit.objects.filter(building_id__in=chunk).values_list(
                    "pk", "building_id", "number"
                ):
                    created[(b_id, number)] = pk
            for change in self.changes:
                if "unit_key" in change.extra:
                    change.obj.unit_id = created[change.extra["unit_key"]]
        Household.objects.bulk_create([c.obj for c in self.changes if c.created], batch_size=500)
        self.bulk_update(Household, self.changes)
        for change in self.changes:
            if change.extra.get("regrid"):
                h = change.obj
                Resident.objects.filter(household_id=h.pk).update(grid_id=h.grid_id)


def _parse_area(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CellError("面积应为数字（平方米）") from None
    if not (Decimal(0) < value < Decimal(100000)):
        raise CellError("面积应大于 0 且小于 100000 平方米")
    return value.quantize(Decimal("0.01"))


# ---------------------------------------------------------------------------------------------
# Residents


class ResidentImporter(Importer):
    kind = "residents"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.today = timezone.localdate()

    def parse_row(self, row: Row) -> None:
        v = row.values
        raw_id = row.cells.get("id_number", "")
        if not raw_id:
            self.error(row, "id_number", "「身份证号」不能为空")
        else:
            try:
                v["id_number"], v["birth_date"], v["gender"] = parse_id_number(
                    raw_id, today=self.today
                )
            except CellError as exc:
                self.error(row, "id_number", exc.message)
        name = self.text(row, "name", max_length=50, required=True)
        if name is not None:
            v["name"] = name
        if not row.cells.get("household_code"):
            self.error(row, "household_code", "「户编码」不能为空")
        phone = self.parsed(row, "phone", parse_phone)
        if phone is not None:
            v["phone"] = phone
        gender = self.parsed(row, "gender", lambda t: parse_choice(t, GENDER_WORDS, "男、女"))
        if gender is not None and "gender" in v and gender != v["gender"]:
            self.error(
                row, "gender", f"与身份证号不符（身份证号显示为{Gender(v['gender']).label}）"
            )
        relation = self.parsed(
            row, "relation",
            lambda t: parse_choice(t, RELATION_WORDS, "户主、配偶、子女、父母、孙辈、租户、其他"),
        )  # fmt: skip
        if relation is not None:
            v["relation"] = relation
        for key in ("is_party_member", "is_building_leader"):
            flag = self.parsed(row, key, parse_bool)
            if flag is not None:
                v[key] = flag

    def parse_tags(self, row: Row, tags: dict[str, int]) -> set[int] | None:
        text = row.cells.get("care_tags", "")
        if not text:
            return None
        if text in {"无", "none", "-"}:
            return set()
        out: set[int] = set()
        for name in re.split(r"[、,，;；/\s]+", text):
            if not name:
                continue
            tag_id = tags.get(name) or tags.get(name.lower())
            if tag_id is None:
                self.error(row, "care_tags", f"未知的特殊人群标签「{name}」")
                return None
            out.add(tag_id)
        return out

    def resolve(self) -> None:
        tags: dict[str, int] = {}
        for pk, code, name in CareTagType.objects.values_list("pk", "code", "name"):
            tags[name] = pk
            tags[code.lower()] = pk
        rows = [r for r in self.rows if r.ok]
        households = _fetch(self.objs(Household), "code", [r.cells["household_code"] for r in rows])
        ids = [r.values["id_number"] for r in rows]
        existing = _fetch(self.objs(Resident), "id_number", ids)
        taken = _existing_keys(Resident, "id_number", [i for i in ids if i not in existing])
        current_tags: dict[int, set[int]] = defaultdict(set)
        if "care_tags" in self.header_of:
            through = Resident.care_tags.through
            resident_ids = sorted(r.pk for r in existing.values())
            for chunk in _chunks(resident_ids):
                for r_id, t_id in through.objects.filter(resident_id__in=chunk).values_list(
                    "resident_id", "caretagtype_id"
                ):
                    current_tags[r_id].add(t_id)
        for row in rows:
            v = row.values
            new_tags = self.parse_tags(row, tags)
            if v["id_number"] in taken:
                self.error(row, "id_number", "该身份证号已在您管辖范围以外登记，请联系上级核实")
                continue
            household = households.get(row.cells["household_code"])
            if household is None:
                self.error(row, "household_code", f"户{OUT_OF_SCOPE}")
                continue
            if not row.ok:
                continue
            v["household_id"] = household.pk
            v["grid_id"] = household.grid_id
            obj = existing.get(v["id_number"])
            if obj is None:
                change = Change(row, Resident(**v), True, [])
            else:
                change = self.diff(row, obj, {k: val for k, val in v.items() if k != "id_number"})
            if new_tags is not None and (change.created or new_tags != current_tags[change.obj.pk]):
                change.extra["tags"] = new_tags
                if not change.created:
                    change.fields.append("care_tags")
            self.changes.append(change)

    def write(self) -> None:
        created = [c for c in self.changes if c.created]
        Resident.objects.bulk_create([c.obj for c in created], batch_size=1000)
        ids = _fetch(
            Resident.objects.only("pk", "id_number"),
            "id_number",
            [c.obj.id_number for c in created],
        )
        for change in created:
            change.obj.pk = ids[change.obj.id_number].pk
        for change in self.changes:
            if "care_tags" in change.fields:
                change.fields.remove("care_tags")
                change.extra["tags_changed"] = True
        self.bulk_update(Resident, self.changes)
        through = Resident.care_tags.through
        retagged = [c for c in self.changes if "tags" in c.extra]
        for chunk in _chunks([c.obj.pk for c in retagged if not c.created]):
            through.objects.filter(resident_id__in=chunk).delete()
        through.objects.bulk_create(
            [
                through(resident_id=c.obj.pk, caretagtype_id=t)
                for c in retagged
                for t in sorted(c.extra["tags"])
            ],
            batch_size=1000,
        )
        # A resident whose only change is their tags still counts as updated: touch the row.
        touched = [c.obj.pk for c in self.changes if c.extra.get("tags_changed") and not c.fields]
        for chunk in _chunks(touched):
            Resident.objects.filter(pk__in=chunk).update(updated_at=timezone.now())


# ---------------------------------------------------------------------------------------------
# The entry point


IMPORTERS: dict[str, type[Importer]] = {
    "regions": RegionImporter,
    "grids": GridImporter,
    "buildings": BuildingImporter,
    "households": HouseholdImporter,
    "residents": ResidentImporter,
}


def can_import(user: Any) -> bool:
    """May ``user`` import base data? Posts at community level or above, admins, superusers."""
    if user is None:
        return True
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    scope = scope_for(user)
    return bool(user.is_superuser or scope.everything or (scope.roles & IMPORT_ROLES))


def base_data_import(
    *,
    kind: str,
    filename: str,
    content: bytes,
    user: Any = None,
    dry_run: bool = False,
) -> ImportResult:
    """Import (导入) one file of base data; see the module docstring for the rules.

    ``user=None`` is the system (the CLI). Raises ``JiayuanError`` for an unknown kind and
    ``PermissionDenied`` for a user whose posts may not import; every problem with the file or
    its rows is reported in ``ImportResult.errors`` instead, and then nothing is written.
    """
    if kind not in IMPORTERS:
        raise JiayuanError(
            f"未知的导入类型「{kind}」，应为 {'、'.join(KINDS)} 之一",
            code="unknown_kind",
            field="kind",
        )
    if not can_import(user):
        raise PermissionDenied("只有社区及以上岗位或管理员可以导入基础数据")
    result = ImportResult(kind=kind, dry_run=dry_run)
    try:
        table = read_table(filename=filename, content=content)
    except FileProblem as exc:
        result.errors.append(RowError(None, "", "", exc.message))
        return result
    IMPORTERS[kind](user=user, table=table, result=result).run(dry_run=dry_run)
    return result
