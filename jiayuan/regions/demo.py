"""The demo city (演示城市): Yantai's real divisions with generated grids, people and posts.

What is real: the city, its 13 districts, 159 streets and 6,509 communities with their
statistical codes (``data/yantai.csv``). What is generated, deterministically from a seed:
boundaries (a treemap over Yantai's bounding box, see ``geometry``), grids (网格) and
micro-grids (微网格), estates (小区), buildings, units, households, residents, care tags,
party organisations, departments (职能部门) and one demo account per role.

Every random choice comes from a ``random.Random`` seeded by the seed plus a fixed label (the
plan, or one community's code), never from the global generator or the clock: the same seed gives
the same rows, and populating more communities leaves the ones already populated unchanged.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import accumulate
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction
from faker.providers.person.zh_CN import Provider as _ZhNames

from jiayuan.core.errors import JiayuanError
from jiayuan.core.scoping import PATH_SEP, subtree_q
from jiayuan.party.models import OrgKind, PartyMembership, PartyOrg
from jiayuan.regions.choices import Gender, GridKind, Level, Relation, RentalStatus
from jiayuan.regions.geometry import YANTAI_BBOX, Rect, tile
from jiayuan.regions.models import (
    Building,
    CareTagType,
    Cluster,
    Estate,
    Household,
    Region,
    Resident,
    Unit,
)
from jiayuan.staff.choices import Role
from jiayuan.staff.models import Department, Post

DATA_FILE = Path(__file__).resolve().parent / "data" / "yantai.csv"
DEMO_PASSWORD = "jiayuan2026"
CITY_CODE = "370600000000"
ZHIFU_CODE = "370602000000"  # 芝罘区
POPULATED_STREET_CODE = "370602001000"  # 向阳街道, populated at scale "small"
DEMO_COMMUNITY_CODE = "370602001001"  # 友谊街社区, home of the grid-level demo accounts
SCALES = ("small", "district", "city")
# Ages and birth dates are counted from this day, never from the clock (determinism).
REFERENCE_DATE = date(2026, 1, 1)
BATCH_SIZE = 2000
# Buffered rows are written once this many residents are waiting (bounded memory at any scale).
_FLUSH_RESIDENTS = 20000

# Approximate real longitude of each district's seat: orders the districts west to east.
DISTRICT_LNG = {
    "370683": 119.94,
    "370685": 120.43,
    "370681": 120.48,
    "370686": 120.85,
    "370682": 120.71,
    "370614": 120.76,
    "370687": 121.16,
    "370676": 121.25,
    "370611": 121.27,
    "370602": 121.40,
    "370613": 121.45,
    "370671": 121.52,
    "370612": 121.60,
}
SPECIAL_KINDS = [
    (GridKind.ENTERPRISE, "企业"),
    (GridKind.MARKET, "商圈市场"),
    (GridKind.SCHOOL, "学校"),
    (GridKind.HOSPITAL, "医院"),
    (GridKind.PARK, "园区"),
]
CN_NUMERALS = "一二三四五六七八九十"

# (slug, short name, full-name pattern) of the departments every district gets.
DEPARTMENTS = [
    ("cg", "城管", "{d}综合行政执法局"),
    ("zj", "住建", "{d}住房和城乡建设局"),
    ("ga", "公安", "{d}公安分局"),
    ("mz", "民政", "{d}民政局"),
    ("sthj", "生态环境", "{d}生态环境分局"),
    ("scjg", "市场监管", "{d}市场监督管理局"),
    ("jt", "交通", "{d}交通运输局"),
    ("jy", "教体", "{d}教育和体育局"),
    ("rs", "人社", "{d}人力资源和社会保障局"),
    ("wj", "卫健", "{d}卫生健康局"),
    ("gs", "供水", "{d}供水服务中心"),
    ("gd", "供电", "{d}供电服务中心"),
    ("rq", "燃气", "{d}燃气服务中心"),
    ("gr", "供热", "{d}供热服务中心"),
]

ESTATE_PREFIXES = [
    "阳光",
    "幸福",
    "金桥",
    "海韵",
    "滨海",
    "翠苑",
    "锦绣",
    "御景",
    "康和",
    "福安",
    "华府",
    "海天",
    "紫金",
    "碧海",
    "山海",
    "东方",
    "世纪",
    "名仕",
    "福泰",
    "万和",
    "盛世",
    "观海",
    "枫林",
    "润泽",
]
ESTATE_SUFFIXES = ["小区", "花园", "家园", "新村", "苑", "公寓", "雅居", "嘉园", "名邸"]
ROADS = [
    "南大街",
    "北马路",
    "胜利路",
    "解放路",
    "青年南路",
    "环山路",
    "芝罘屯路",
    "西南河路",
    "大海阳路",
    "上尧路",
    "只楚路",
    "幸福中路",
    "红旗中路",
    "迎春大街",
    "港城大街",
    "观海路",
    "滨海路",
    "山海路",
    "长江路",
    "黄河路",
    "富民路",
    "文化路",
    "民生路",
    "新华街",
]
PROPERTY_COMPANIES = [
    "烟台万华物业服务有限公司",
    "烟台海韵物业管理有限公司",
    "烟台天马物业服务有限公司",
    "烟台福瑞物业管理有限公司",
    "烟台恒泰物业服务有限公司",
    "烟台金海物业管理有限公司",
    "烟台鲁东物业服务有限公司",
    "烟台城建物业管理有限公司",
    "烟台佳和物业服务有限公司",
    "烟台百川物业管理有限公司",
    "烟台安居物业服务有限公司",
    "烟台宏远物业管理有限公司",
]
# Care tags that do not follow from age or household size, with their weights.
GENERAL_TAGS = [
    ("dibao", 22),
    ("tekun", 6),
    ("disabled", 22),
    ("veteran", 14),
    ("key_attention", 8),
    ("serious_illness", 12),
    ("unemployed", 16),
]
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"

_SURNAMES = list(_ZhNames.last_names.keys())
_SURNAME_CUM = list(accumulate(_ZhNames.last_names.values()))
_MALE_NAMES = list(_ZhNames.first_names_male)
_FEMALE_NAMES = list(_ZhNames.first_names_female)
_MALE_CHARS = [n for n in _MALE_NAMES if len(n) == 1]
_FEMALE_CHARS = [n for n in _FEMALE_NAMES if len(n) == 1]
_PHONE_PREFIXES = ["13", "13", "15", "15", "18", "18", "17", "19", "14", "16"]


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class DemoAccount:
    """One demo login: who, with which password, in which role, where."""

    username: str
    password: str
    role: str
    role_label: str
    place: str
    full_name: str


@dataclass
class DemoResult:
    scale: str
    seed: int
    seconds: float
    counts: dict[str, int]
    accounts: list[DemoAccount]
    skipped: bool = False
    populated_communities: int = 0


# ---------------------------------------------------------------------------------------------
# Pure helpers (no database)


def id_check_digit(first17: str) -> str:
    """The GB 11643 check digit (校验码) of the first 17 digits of an ID number."""
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def is_valid_id_number(value: str) -> bool:
    return len(value) == 18 and value[:17].isdigit() and id_check_digit(value[:17]) == value[17]


def short_name(official: str) -> str:
    """友谊街社区居民委员会 → 友谊街社区, 东厅村民委员会 → 东厅村 (居委会 → 社区, 村委会 → 村)."""
    for suffix, repl in (
        ("社区居民委员会", "社区"),
        ("居民委员会", "社区"),
        ("社区居委会", "社区"),
        ("居委会", "社区"),
        ("村民委员会", "村"),
        ("村委会", "村"),
    ):
        if official.endswith(suffix):
            base = official[: -len(suffix)]
            return base if repl == "村" and base.endswith("村") else base + repl
    return official


def is_village(official: str) -> bool:
    """A village (村) rather than an urban community (社区), by its official name."""
    return official.endswith(("村民委员会", "村委会"))


def age_on(birth: date, day: date = REFERENCE_DATE) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@dataclass(slots=True)
class _Row:
    code: str
    name: str
    official: str
    level: str
    parent_code: str
    children: list[_Row] = field(default_factory=list)
    grids: list[_GridPlan] = field(default_factory=list)
    weight: int = 0
    rect: Rect | None = None
    populated: bool = False


@dataclass(slots=True)
class _GridPlan:
    code: str
    name: str
    kind: str
    rect: Rect | None = None


def load_divisions(path: Path = DATA_FILE) -> list[dict[str, str]]:
    """The rows of ``yantai.csv`` (code, name, level, parent_code), in file order."""
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


class _Names:
    """Chinese names drawn fast from Faker's zh_CN lists with our own ``Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def surname(self) -> str:
        return self.rng.choices(_SURNAMES, cum_weights=_SURNAME_CUM)[0]

    def given(self, male: bool) -> str:
        rng = self.rng
        if rng.random() < 0.45:
            chars = _MALE_CHARS if male else _FEMALE_CHARS
            return rng.choice(chars) + rng.choice(chars)
        return rng.choice(_MALE_NAMES if male else _FEMALE_NAMES)

    def full(self, male: bool | None = None) -> str:
        if male is None:
            male = self.rng.random() < 0.5
        return self.surname() + self.given(male)


# ---------------------------------------------------------------------------------------------
# Planning: the region tree, grids and geometry (for the whole city at every scale)


def _plan(seed: int, scale: str, populate_communities: int | None) -> tuple[_Row, list[_Row]]:
    rows = load_divisions()
    by_code: dict[str, _Row] = {}
    root: _Row | None = None
    for r in rows:
        node = _Row(
            code=r["code"],
            name=short_name(r["name"]) if r["level"] == Level.COMMUNITY else r["name"],
            official=r["name"],
            level=r["level"],
            parent_code=r["parent_code"],
        )
        by_code[node.code] = node
        if not node.parent_code:
            root = node
    if root is None or root.code != CITY_CODE:
        raise JiayuanError("区划数据缺少烟台市根节点", code="demo_data_invalid")
    for node in by_code.values():
        if node.parent_code:
            by_code[node.parent_code].children.append(node)
    for node in by_code.values():
        node.children.sort(key=lambda n: n.code)
    # Districts west to east (by their real longitude), so the coast towns land roughly right.
    root_children = sorted(root.children, key=lambda n: (DISTRICT_LNG.get(n.code[:6], 121), n.code))
    root.children = root_children

    rng = random.Random(f"{seed}:plan")
    streets = [n for n in by_code.values() if n.level == Level.STREET]
    streets.sort(key=lambda n: n.code)
    for street in streets:
        for comm in street.children:
            if is_village(comm.official):
                count = 1
            else:
                count = rng.choices([2, 3, 4, 5, 6], weights=[45, 30, 13, 7, 5])[0]
            comm.grids = [
                _GridPlan(
                    code=f"{comm.code}{i + 1:03d}",
                    name=f"{comm.name}第{CN_NUMERALS[i]}网格",
                    kind=GridKind.RESIDENTIAL,
                )
                for i in range(count)
            ]
        # One 专属网格 per street, carved as one more tile of one of its (urban, if any)
        # communities.
        if street.children:
            urban = [c for c in street.children if not is_village(c.official)]
            host = rng.choice(urban or street.children)
            kind, label = rng.choice(SPECIAL_KINDS)
            host.grids.append(
                _GridPlan(code=f"{host.code}901", name=f"{host.name}专属网格（{label}）", kind=kind)
            )

    # Which communities get households.
    communities = [n for n in by_code.values() if n.level == Level.COMMUNITY]
    communities.sort(key=lambda n: n.code)
    if scale == "small":
        chosen = [c for c in communities if c.parent_code == POPULATED_STREET_CODE]
    elif scale == "district":
        chosen = [c for c in communities if c.code.startswith(ZHIFU_CODE[:6])]
    elif scale == "city":
        chosen = [c for c in communities if not is_village(c.official)]
    else:
        raise JiayuanError(
            f"未知的规模：{scale}（可选 small、district、city）", code="demo_scale", field="scale"
        )
    if populate_communities is not None:
        chosen = chosen[: max(0, populate_communities)]
    for c in chosen:
        c.populated = True

    # Geometry: weights are the number of grids underneath.
    def weigh(node: _Row) -> int:
        node.weight = len(node.grids) + sum(weigh(c) for c in node.children)
        return node.weight

    weigh(root)

    def place(node: _Row, rect: Rect) -> None:
        node.rect = rect
        if node.grids:
            for g, r in zip(node.grids, tile(rect, [1] * len(node.grids)), strict=True):
                g.rect = r
        for child, r in zip(
            node.children, tile(rect, [c.weight for c in node.children]), strict=True
        ):
            place(child, r)

    place(root, Rect(*YANTAI_BBOX))
    return root, chosen


# ---------------------------------------------------------------------------------------------
# Building


def _bulk(model: type[models.Model], objs: list[Any]) -> list[Any]:
    if not objs:
        return objs
    return model.objects.bulk_create(objs, batch_size=BATCH_SIZE)  # type: ignore[attr-defined]


def _region(
    node_code: str,
    name: str,
    level: str,
    parent: Region | None,
    rect: Rect,
    kind: str = "",
    household_count: int = 0,
) -> Region:
    path = node_code if parent is None else parent.path + PATH_SEP + node_code
    lng, lat = rect.center
    return Region(
        code=node_code,
        name=name,
        level=level,
        kind=kind,
        parent=parent,
        path=path,
        depth=path.count(PATH_SEP),
        boundary=rect.geojson(),
        center_lng=lng,
        center_lat=lat,
        household_count=household_count,
    )


def _chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 23 → 二十三 (片区 numbers stay well under 100)."""
    digits = "零一二三四五六七八九"
    tens, ones = divmod(n, 10)
    if tens == 0:
        return digits[ones]
    head = "" if tens == 1 else digits[tens]
    return head + "十" + (digits[ones] if ones else "")


class _Builder:
    """Writes one demo city. Internal: callers use ``build_demo_city``."""

    def __init__(self, *, seed: int, say: Callable[[str], None]) -> None:
        self.seed = seed
        self.say = say
        self.regions: dict[str, Region] = {}
        self.district_of: dict[str, Region] = {}
        self.comm_orgs: dict[str, PartyOrg] = {}
        self.tag_ids = dict(CareTagType.objects.values_list("code", "id"))
        self.grid_households: dict[str, int] = {}
        self.id_serials: dict[str, int] = {}
        self._reset_buffers()

    def _reset_buffers(self) -> None:
        self.b_micro: list[Region] = []
        self.b_estates: list[Estate] = []
        self.b_buildings: list[Building] = []
        self.b_units: list[Unit] = []
        self.b_households: list[Household] = []
        self.b_residents: list[Resident] = []
        self.b_tags: list[tuple[Resident, int]] = []
        self.b_branches: list[PartyOrg] = []
        self.b_groups: list[PartyOrg] = []
        self.b_party: list[tuple[Resident, date]] = []
        self.b_secretaries: set[int] = set()

    # -- regions, departments, upper party organisations -----------------------------------

    def write_tree(self, root: _Row) -> None:
        level_nodes: list[list[tuple[_Row, str | None]]] = [[(root, None)]]
        while True:
            nxt: list[tuple[_Row, str | None]] = [
                (c, n.code) for n, _ in level_nodes[-1] for c in n.children
            ]
            if not nxt:
                break
            level_nodes.append(nxt)
        for nodes in level_nodes:
            objs = []
            for node, parent_code in nodes:
                parent = self.regions[parent_code] if parent_code else None
                assert node.rect is not None
                objs.append(_region(node.code, node.name, node.level, parent, node.rect))
            for obj in _bulk(Region, objs):
                self.regions[obj.code] = obj
        grids = []
        for nodes in level_nodes:
            for node, _ in nodes:
                for g in node.grids:
                    assert g.rect is not None
                    grids.append(
                        _region(
                            g.code, g.name, Level.GRID, self.regions[node.code], g.rect, kind=g.kind
                        )
                    )
        for obj in _bulk(Region, grids):
            self.regions[obj.code] = obj
        for code, reg in self.regions.items():
            if reg.level not in (Level.CITY, Level.DISTRICT):
                self.district_of[code] = self.regions[code[:6] + "000000"]

    def write_clusters(self) -> None:
        """跨社连片: each street's communities, in code order, run together three by three (a
        street with fewer than four communities has none). Neighbours in code order are
        neighbours on the demo map: the treemap tiles siblings in that order."""
        by_street: dict[str, list[Region]] = {}
        for reg in self.regions.values():
            if reg.level == Level.COMMUNITY and reg.parent is not None:
                by_street.setdefault(reg.parent.code, []).append(reg)
        clusters: list[Cluster] = []
        members: list[list[Region]] = []
        for street_code in sorted(by_street):
            communities = sorted(by_street[street_code], key=lambda r: r.code)
            if len(communities) < 4:
                continue
            street = self.regions[street_code]
            for n, start in enumerate(range(0, len(communities), 3), 1):
                clusters.append(
                    Cluster(
                        code=f"{street_code}P{n:02d}",
                        name=f"{street.name}第{_chinese_number(n)}片区",
                        street=street,
                    )
                )
                members.append(communities[start : start + 3])
        for cluster, group in zip(_bulk(Cluster, clusters), members, strict=True):
            for community in group:
                community.cluster = cluster
        Region.objects.bulk_update(
            [c for group in members for c in group], ["cluster"], batch_size=500
        )

    def write_departments(self) -> None:
        rng = random.Random(f"{self.seed}:departments")
        districts = sorted(
            (r for r in self.regions.values() if r.level == Level.DISTRICT), key=lambda r: r.code
        )
        objs = [
            Department(
                code=f"{d.code[:6]}-{slug}",
                name=pattern.format(d=d.name),
                short_name=short,
                region=d,
                phone=f"0535-{rng.randint(2000000, 8999999)}",
            )
            for d in districts
            for slug, short, pattern in DEPARTMENTS
        ]
        depts = _bulk(Department, objs)
        through = Department.serves.through
        _bulk(through, [through(department_id=dep.pk, region_id=dep.region_id) for dep in depts])

    def write_upper_party(self) -> None:
        rng = random.Random(f"{self.seed}:party")
        names = _Names(rng)
        streets = sorted(
            (r for r in self.regions.values() if r.level == Level.STREET), key=lambda r: r.code
        )
        committees = _bulk(
            PartyOrg,
            [
                PartyOrg(
                    code=f"P{s.code}",
                    region=s,
                    kind=OrgKind.STREET_WORKING_COMMITTEE,
                    name=f"{s.name}党工委" if s.name.endswith("街道") else f"{s.name}党委",
                    secretary_name=names.full(),
                )
                for s in streets
            ],
        )
        by_street = {o.region_id: o for o in committees}
        comms = sorted(
            (r for r in self.regions.values() if r.level == Level.COMMUNITY),
            key=lambda r: r.code,
        )
        orgs = _bulk(
            PartyOrg,
            [
                PartyOrg(
                    code=f"P{c.code}",
                    region=c,
                    kind=OrgKind.COMMUNITY_COMMITTEE,
                    parent=by_street[c.parent_id],
                    name=f"{c.name}党委" if c.name.endswith("社区") else f"{c.name}党支部",
                    secretary_name=names.full(),
                )
                for c in comms
            ],
        )
        self.comm_orgs = {o.region.code: o for o in orgs}

    # -- one community's people and houses -------------------------------------------------

    def populate(self, comm: _Row) -> None:
        rng = random.Random(f"{self.seed}:community:{comm.code}")
        names = _Names(rng)
        community = self.regions[comm.code]
        district = self.district_of[comm.code]
        area_code = district.code[:6]

        # Estates (小区): 1–3 per community, each on a road with a door number.
        base = comm.name.removesuffix("社区").removesuffix("村")
        n_estates = rng.choices([1, 2, 3], weights=[30, 45, 25])[0]
        estate_names: list[str] = []
        if base.endswith(("街", "路")):
            estate_names.append(f"{base}小区")
        while len(estate_names) < n_estates:
            cand = rng.choice(ESTATE_PREFIXES) + rng.choice(ESTATE_SUFFIXES)
            if cand not in estate_names:
                estate_names.append(cand)
        estates: list[tuple[Estate, str]] = []
        for i, ename in enumerate(estate_names):
            road = base if i == 0 and base.endswith(("街", "路")) else rng.choice(ROADS)
            door = rng.randint(1, 300)
            street_address = f"{district.name}{road}{door}号"
            estate = Estate(
                code=f"{comm.code}E{i + 1:02d}",
                name=ename,
                community=community,
                address=street_address,
                property_company="" if rng.random() < 0.15 else rng.choice(PROPERTY_COMPANIES),
                built_year=rng.randint(1985, 2020),
            )
            estates.append((estate, street_address))
            self.b_estates.append(estate)

        # Buildings per residential grid, grouped into micro-grids of 20–60 households.
        plans: list[tuple[Region, Rect, list[list[tuple[int, int]]]]] = []
        for g in comm.grids:
            if g.kind != GridKind.RESIDENTIAL:
                continue
            assert g.rect is not None
            plans.append((self.regions[g.code], g.rect, self._grid_buildings(rng)))
        micro_total = sum(len(p[2]) for p in plans)
        micro_seq = 0
        estate_building_no = [0] * len(estates)
        for grid, grid_rect, micro_list in plans:
            branch = PartyOrg(
                code=f"P{grid.code}",
                name=f"{grid.name}党支部",
                kind=OrgKind.GRID_BRANCH,
                parent=self.comm_orgs[comm.code],
                region=grid,
            )
            self.b_branches.append(branch)
            branch_members: list[Resident] = []
            sizes = [sum(u * f * 2 for u, f in micro) for micro in micro_list]
            grid_count = 0
            b_seq = 0
            for m_idx, (micro, m_rect) in enumerate(
                zip(micro_list, tile(grid_rect, sizes), strict=True)
            ):
                micro_region = _region(
                    f"{grid.code}{m_idx + 1:02d}",
                    f"{grid.name}第{m_idx + 1}微网格",
                    Level.MICRO_GRID,
                    grid,
                    m_rect,
                    kind=GridKind.RESIDENTIAL,
                    household_count=sizes[m_idx],
                )
                self.b_micro.append(micro_region)
                e_idx = micro_seq * len(estates) // max(micro_total, 1)
                micro_seq += 1
                estate, street_address = estates[e_idx]
                for units, floors in micro:
                    b_seq += 1
                    estate_building_no[e_idx] += 1
                    bname = f"{estate_building_no[e_idx]}号楼"
                    lng, lat = m_rect.random_point(rng)
                    building = Building(
                        code=f"{grid.code}B{b_seq:03d}",
                        name=bname,
                        estate=estate,
                        grid=grid,
                        micro_grid=micro_region,
                        address=f"{street_address}{bname}",
                        lng=lng,
                        lat=lat,
                        floors=floors,
                        qr_token=f"{rng.getrandbits(64):016x}",
                    )
                    self.b_buildings.append(building)
                    grid_count += units * floors * 2
                    self._building_people(
                        rng,
                        names,
                        building,
                        units,
                        floors,
                        grid,
                        area_code,
                        estate.name,
                        branch,
                        branch_members,
                    )
            self.grid_households[grid.code] = grid_count
            secretary = next(iter(branch_members), None)
            if secretary is not None:
                self.b_secretaries.add(id(secretary))
            branch.secretary_name = secretary.name if secretary else names.full()

    @staticmethod
    def _grid_buildings(rng: random.Random) -> list[list[tuple[int, int]]]:
        """Buildings of one grid as (units, floors), grouped into micro-grids.

        The grid holds 200–400 households (the seeds' standard), two per floor per unit.
        """
        target = rng.randint(200, 400)
        total = 0
        buildings: list[tuple[int, int]] = []
        while total < target:
            style = rng.random()
            if style < 0.65:
                units, floors = rng.randint(1, 4), rng.choice([6, 6, 6, 7])
            elif style < 0.85:
                units, floors = rng.randint(1, 2), rng.randint(9, 12)
            else:
                units, floors = rng.randint(1, 2), rng.randint(16, 18)
            room = 400 - total
            while units * floors * 2 > room and (units > 1 or floors > 6):
                if units > 1:
                    units -= 1
                else:
                    floors = max(6, min(floors - 1, room // 2))
            if units * floors * 2 > room:
                break
            buildings.append((units, floors))
            total += units * floors * 2
        micros: list[list[tuple[int, int]]] = []
        current: list[tuple[int, int]] = []
        current_size, limit = 0, rng.randint(20, 60)
        for b in buildings:
            size = b[0] * b[1] * 2
            if current and current_size + size > limit:
                micros.append(current)
                current, current_size, limit = [], 0, rng.randint(20, 60)
            current.append(b)
            current_size += size
        if current:
            if micros and current_size < 20:
                micros[-1].extend(current)
            else:
                micros.append(current)
        return micros

    def _building_people(
        self,
        rng: random.Random,
        names: _Names,
        building: Building,
        units: int,
        floors: int,
        grid: Region,
        area_code: str,
        estate_name: str,
        branch: PartyOrg,
        branch_members: list[Resident],
    ) -> None:
        building_residents: list[Resident] = []
        party_in_building: list[Resident] = []
        for u in range(1, units + 1):
            unit = Unit(building=building, number=str(u))
            self.b_units.append(unit)
            for floor in range(1, floors + 1):
                for k in (1, 2):
                    room = f"{floor:02d}{k:02d}"
                    roll = rng.random()
                    status = (
                        RentalStatus.OWNER
                        if roll < 0.75
                        else RentalStatus.RENTED
                        if roll < 0.93
                        else RentalStatus.VACANT
                    )
                    household = Household(
                        code=f"{building.code}-{u}-{room}",
                        building=building,
                        unit=unit,
                        room=room,
                        grid=grid,
                        rental_status=status,
                        area_m2=Decimal(rng.randint(3800, 14000)) / 100,
                    )
                    self.b_households.append(household)
                    if status == RentalStatus.VACANT:
                        household.head_name = names.full()
                        continue
                    people = self._household_people(rng, names, household, grid, area_code)
                    household.head_name = people[0].name
                    building_residents.extend(people)
                    party = [p for p in people if p.is_party_member]
                    party_in_building.extend(party)
                    branch_members.extend(party)
                    household.party_member_center = bool(party) and rng.random() < 0.2
        adults = [r for r in building_residents if r.birth_date and age_on(r.birth_date) >= 18]
        if adults:
            leader = (party_in_building or adults)[0]
            leader.is_building_leader = True
        if party_in_building and rng.random() < 0.35:
            # 楼栋党小组 in about a third of the buildings (nearly all have party members).
            group = PartyOrg(
                code=f"P{building.code}",
                name=f"{estate_name}{building.name}党小组",
                kind=OrgKind.BUILDING_GROUP,
                parent=branch,
                region=grid,
                building=building,
                secretary_name=party_in_building[0].name,
            )
            self.b_groups.append(group)

    def _household_people(
        self,
        rng: random.Random,
        names: _Names,
        household: Household,
        grid: Region,
        area_code: str,
    ) -> list[Resident]:
        size = rng.choices([1, 2, 3, 4], weights=[20, 35, 30, 15])[0]
        head_male = rng.random() < 0.55
        if size == 1 and rng.random() < 0.4:
            head_age = rng.randint(65, 95)
        else:
            head_age = int(rng.triangular(24, 92, 48))
        surname = names.surname()
        members: list[tuple[str, bool, int, str]] = [
            (surname + names.given(head_male), head_male, head_age, Relation.HEAD)
        ]
        for i in range(1, size):
            if i == 1 and rng.random() < 0.85:
                male = not head_male
                age = max(20, min(99, head_age + rng.randint(-6, 6)))
                members.append((names.full(male), male, age, Relation.SPOUSE))
            elif head_age <= 62 and rng.random() < 0.2:
                male = rng.random() < 0.5
                age = min(99, head_age + rng.randint(22, 32))
                name = (surname + names.given(male)) if male else names.full(False)
                members.append((name, male, age, Relation.PARENT))
            else:
                male = rng.random() < 0.5
                age = head_age - rng.randint(22, min(38, head_age))
                members.append((surname + names.given(male), male, age, Relation.CHILD))
        out = []
        for name, male, age, relation in members:
            birth = date(REFERENCE_DATE.year - age - 1, 1, 1) + timedelta(days=rng.randrange(365))
            real_age = age_on(birth)
            is_party = real_age >= 18 and rng.random() < 0.095
            resident = Resident(
                household=household,
                grid=grid,
                name=name,
                id_number=self._id_number(rng, area_code, birth, male),
                phone=self._phone(rng) if real_age >= 12 else "",
                gender=Gender.MALE if male else Gender.FEMALE,
                birth_date=birth,
                relation=relation,
                is_party_member=is_party,
            )
            out.append(resident)
            if is_party:
                joined = birth + timedelta(days=365 * rng.randint(19, 40) + rng.randrange(365))
                self.b_party.append((resident, min(joined, REFERENCE_DATE - timedelta(days=30))))
            for tag in self._care_tags(rng, real_age, size):
                self.b_tags.append((resident, self.tag_ids[tag]))
        self.b_residents.extend(out)
        return out

    def _id_number(self, rng: random.Random, area_code: str, birth: date, male: bool) -> str:
        """An 18-digit ID number (GB 11643): area, birth date, serial (odd = male), check digit.

        The serial is unique per area and birth date, so no two residents share a number.
        """
        key = f"{area_code}{birth:%Y%m%d}"
        n = self.id_serials.get(key)
        if n is None:
            n = rng.randrange(0, 300)
        self.id_serials[key] = n + 1
        serial = 2 * n + (1 if male else 0)
        first17 = f"{key}{serial:03d}"
        return first17 + id_check_digit(first17)

    @staticmethod
    def _phone(rng: random.Random) -> str:
        return f"{rng.choice(_PHONE_PREFIXES)}{rng.randrange(10**9):09d}"

    @staticmethod
    def _care_tags(rng: random.Random, age: int, household_size: int) -> list[str]:
        tags = []
        if age >= 80 and rng.random() < 0.35:
            tags.append("elderly_80")
        if age >= 65 and household_size == 1 and rng.random() < 0.35:
            tags.append("alone_elderly")
        if age < 16 and rng.random() < 0.05:
            tags.append("left_behind_child")
        if rng.random() < 0.04:
            options = [
                (code, w)
                for code, w in GENERAL_TAGS
                if not (code == "unemployed" and not 18 <= age < 60)
                and not (code in ("veteran", "key_attention") and age < 18)
            ]
            tag = rng.choices([o[0] for o in options], weights=[o[1] for o in options])[0]
            if tag not in tags:
                tags.append(tag)
        return tags

    # -- writing buffered rows ---------------------------------------------------------------

    def flush(self) -> None:
        _bulk(Region, self.b_micro)
        _bulk(Estate, self.b_estates)
        _bulk(Building, self.b_buildings)
        _bulk(Unit, self.b_units)
        _bulk(Household, self.b_households)
        _bulk(Resident, self.b_residents)
        through = Resident.care_tags.through
        _bulk(through, [through(resident_id=r.pk, caretagtype_id=t) for r, t in self.b_tags])
        _bulk(PartyOrg, self.b_branches)
        _bulk(PartyOrg, self.b_groups)
        branch_of = {b.region.code: b for b in self.b_branches}
        _bulk(
            PartyMembership,
            [
                PartyMembership(
                    org=branch_of[r.grid.code],
                    resident_id=r.pk,
                    kind=PartyMembership.Kind.FORMAL,
                    role="党支部书记" if id(r) in self.b_secretaries else "",
                    joined_on=joined,
                )
                for r, joined in self.b_party
            ],
        )
        self._reset_buffers()

    def write_household_counts(self) -> None:
        totals: dict[str, int] = {}
        for grid_code, n in self.grid_households.items():
            path = self.regions[grid_code].path
            for code in path.split(PATH_SEP):
                totals[code] = totals.get(code, 0) + n
        objs = []
        for code, n in totals.items():
            reg = self.regions[code]
            reg.household_count = n
            objs.append(reg)
        Region.objects.bulk_update(objs, ["household_count"], batch_size=500)


def _noop(_: str) -> None:
    return None


def build_demo_city(
    *,
    scale: str = "small",
    seed: int = 2026,
    populate_communities: int | None = None,
    reset: bool = False,
    stdout: Callable[[str], None] | None = None,
) -> DemoResult:
    """Build the demo city, or (when one is already there and ``reset`` is off) keep it.

    ``populate_communities`` limits how many of the scale's communities get households (the
    first N by code): tests use it to stay fast. Demo accounts are (re-)ensured either way.
    """
    if scale not in SCALES:
        raise JiayuanError(
            f"未知的规模：{scale}（可选 small、district、city）", code="demo_scale", field="scale"
        )
    say = stdout or _noop
    started = time.perf_counter()
    if reset:
        delete_demo_city()
        say(f"已删除原有演示数据（{time.perf_counter() - started:.1f} 秒）")
    elif demo_city_exists():
        accounts = ensure_demo_accounts(seed=seed)
        return DemoResult(
            scale=scale,
            seed=seed,
            seconds=time.perf_counter() - started,
            counts=demo_counts(),
            accounts=accounts,
            skipped=True,
        )
    root, chosen = _plan(seed, scale, populate_communities)
    if connection.vendor == "sqlite":
        # A big page cache for this connection: the unique indexes (ID numbers, codes) take
        # random inserts, and SQLite's default 2 MB cache turns a city build into disk waits.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -262144")
    with transaction.atomic():
        builder = _Builder(seed=seed, say=say)
        builder.write_tree(root)
        builder.write_clusters()
        builder.write_departments()
        builder.write_upper_party()
        elapsed = time.perf_counter() - started
        say(f"区划与网格已写入：{len(builder.regions)} 个（{elapsed:.1f} 秒）")
        for i, comm in enumerate(chosen, 1):
            builder.populate(comm)
            if len(builder.b_residents) >= _FLUSH_RESIDENTS or i == len(chosen):
                builder.flush()
                say(f"已生成 {i}/{len(chosen)} 个社区（{time.perf_counter() - started:.1f} 秒）")
        builder.write_household_counts()
        accounts = ensure_demo_accounts(seed=seed)
    # Planner statistics for the freshly loaded tables: without them the first queries on a
    # million residents pick poor plans until autovacuum (PostgreSQL) or never (SQLite).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return DemoResult(
        scale=scale,
        seed=seed,
        seconds=time.perf_counter() - started,
        counts=demo_counts(),
        accounts=accounts,
        populated_communities=len(chosen),
    )


# ---------------------------------------------------------------------------------------------
# Presence, counts, deletion


def demo_city_exists() -> bool:
    return Region.objects.filter(code=CITY_CODE).exists()


def demo_counts() -> dict[str, int]:
    """Rows per table (the whole database: the demo city is all it holds)."""
    grids = Region.objects.filter(level=Level.GRID)
    return {
        "regions": Region.objects.count(),
        "districts": Region.objects.filter(level=Level.DISTRICT).count(),
        "streets": Region.objects.filter(level=Level.STREET).count(),
        "communities": Region.objects.filter(level=Level.COMMUNITY).count(),
        "grids": grids.count(),
        "special_grids": grids.exclude(kind=GridKind.RESIDENTIAL).count(),
        "micro_grids": Region.objects.filter(level=Level.MICRO_GRID).count(),
        "estates": Estate.objects.count(),
        "buildings": Building.objects.count(),
        "units": Unit.objects.count(),
        "households": Household.objects.count(),
        "residents": Resident.objects.count(),
        "care_tags": Resident.care_tags.through.objects.count(),
        "party_orgs": PartyOrg.objects.count(),
        "party_memberships": PartyMembership.objects.count(),
        "departments": Department.objects.count(),
        "posts": Post.objects.count(),
        "users": get_user_model().objects.count(),
    }


def _raw_delete(qs: models.QuerySet[Any]) -> int:
    # One DELETE statement, no rows loaded: Django's collector would load a million residents
    # into memory to cascade what we delete ourselves, in dependency order.
    return qs._raw_delete(qs.db)  # type: ignore[attr-defined,no-any-return]


def _delete_tickets_under(paths: list[str]) -> None:
    """The request pipeline's rows in the demo city go first: they point at its regions."""
    from jiayuan.notifications.models import Notification, OutboundMessage
    from jiayuan.tickets.models import Attachment, Ticket, TicketAssignment, TicketEvent

    tickets = Ticket.objects.filter(subtree_q("owner_path", paths) | subtree_q("grid_path", paths))
    ids = tickets.values("id")
    _raw_delete(OutboundMessage.objects.filter(notification__ticket__in=ids))
    _raw_delete(Notification.objects.filter(ticket__in=ids))
    _raw_delete(TicketEvent.objects.filter(ticket__in=ids))
    _raw_delete(TicketAssignment.objects.filter(ticket__in=ids))
    _delete_routing_under(paths, ids)
    _raw_delete(Attachment.objects.filter(ticket__in=ids))
    tickets.exclude(merged_into=None).update(merged_into=None)
    _raw_delete(Ticket.objects.filter(pk__in=list(tickets.values_list("id", flat=True))))


def _delete_routing_under(paths: list[str], ticket_ids: Any) -> None:
    """Routing records, hot spots and dispatch rules of the demo city (they point at its
    tickets, estates and regions)."""
    from jiayuan.routing.models import DispatchRule, HotSpot, TicketRouting

    _raw_delete(TicketRouting.objects.filter(ticket__in=ticket_ids))
    _raw_delete(HotSpot.objects.filter(subtree_q("community__path", paths)))
    rules = DispatchRule.objects.filter(
        subtree_q("region__path", paths) | subtree_q("lead__region__path", paths)
    )
    through = DispatchRule.co.through.objects
    _raw_delete(through.filter(subtree_q("department__region__path", paths)))
    _raw_delete(through.filter(dispatchrule__in=rules))
    _raw_delete(rules)


def delete_demo_city() -> None:
    """Delete the demo city and the demo accounts, children before parents (PROTECT keys)."""
    city = Region.objects.filter(code=CITY_CODE).first()
    with transaction.atomic():
        if city is not None:
            paths = [city.path]
            _delete_tickets_under(paths)
            _raw_delete(PartyMembership.objects.filter(subtree_q("org__region__path", paths)))
            orgs = PartyOrg.objects.filter(subtree_q("region__path", paths))
            for kind in (
                OrgKind.BUILDING_GROUP,
                OrgKind.GRID_BRANCH,
                OrgKind.COMMUNITY_COMMITTEE,
                OrgKind.STREET_WORKING_COMMITTEE,
            ):
                _raw_delete(orgs.filter(kind=kind))
            _raw_delete(
                Resident.care_tags.through.objects.filter(subtree_q("resident__grid__path", paths))
            )
            _raw_delete(Resident.objects.filter(subtree_q("grid__path", paths)))
            _raw_delete(Household.objects.filter(subtree_q("grid__path", paths)))
            _raw_delete(Unit.objects.filter(subtree_q("building__grid__path", paths)))
            _raw_delete(Building.objects.filter(subtree_q("grid__path", paths)))
            _raw_delete(Estate.objects.filter(subtree_q("community__path", paths)))
            depts = Department.objects.filter(subtree_q("region__path", paths))
            _raw_delete(
                Post.objects.filter(
                    subtree_q("region__path", paths) | models.Q(department__in=depts)
                )
            )
            _raw_delete(Department.serves.through.objects.filter(department__in=depts))
            _raw_delete(Department.serves.through.objects.filter(subtree_q("region__path", paths)))
            _raw_delete(depts)
            _raw_delete(Cluster.objects.filter(subtree_q("street__path", paths)))
            for depth in range(8, -1, -1):
                _raw_delete(Region.objects.filter(subtree_q("path", paths), depth=depth))
        get_user_model().objects.filter(username__in=[a[0] for a in ACCOUNT_SPECS]).delete()


# ---------------------------------------------------------------------------------------------
# Demo accounts

# (username, role, title); the place of each is found in the database, so re-runs find it too.
ACCOUNT_SPECS: list[tuple[str, str, str]] = [
    ("admin", Role.ADMIN, "系统管理员"),
    ("zhihui", Role.COMMAND_CENTER, "市网格化服务管理中心值班长"),
    ("bumen", Role.DEPARTMENT_OFFICER, "住建局物业科科员"),
    ("jiedao", Role.STREET_OFFICER, "街道网格化服务管理中心主任"),
    ("shuji", Role.COMMUNITY_SECRETARY, "社区党委书记、居委会主任"),
    ("shegong", Role.COMMUNITY_WORKER, "社区工作者"),
    ("wangge", Role.GRID_WORKER, "专职网格员"),
    ("loudong", Role.BUILDING_LEADER, "楼栋长"),
    ("wuye", Role.PROPERTY_MANAGER, "物业项目经理"),
    ("jumin", Role.RESIDENT, ""),
]


def _demo_places() -> dict[str, Any]:
    """Where each demo account sits, looked up from the data (deterministic orderings only)."""
    city = Region.objects.filter(code=CITY_CODE).first()
    street = Region.objects.filter(code=POPULATED_STREET_CODE).first()
    community = Region.objects.filter(code=DEMO_COMMUNITY_CODE).first()
    if community is None and street is not None:
        community = street.children.order_by("code").first()
    grids = Region.objects.filter(level=Level.GRID, kind=GridKind.RESIDENTIAL)
    grid = None
    if community is not None:
        grid = (
            grids.filter(parent=community, household_count__gt=0).order_by("code").first()
            or grids.filter(parent=community).order_by("code").first()
        )
    if grid is None or grid.household_count == 0:
        grid = grids.filter(household_count__gt=0).order_by("code").first() or grid
    building = (
        Building.objects.filter(grid=grid).select_related("micro_grid").order_by("code").first()
        if grid
        else None
    )
    leader = (
        Resident.objects.filter(household__building=building, is_building_leader=True)
        .order_by("household__code", "id_number")
        .first()
        if building
        else None
    )
    resident = (
        Resident.objects.filter(grid=grid, relation=Relation.HEAD, is_building_leader=False)
        .order_by("household__code")
        .first()
        if grid
        else None
    )
    department = Department.objects.filter(code=f"{ZHIFU_CODE[:6]}-zj").first()
    return {
        Role.ADMIN: city,
        Role.COMMAND_CENTER: city,
        Role.DEPARTMENT_OFFICER: department,
        Role.STREET_OFFICER: street,
        Role.COMMUNITY_SECRETARY: community,
        Role.COMMUNITY_WORKER: community,
        Role.GRID_WORKER: grid,
        Role.BUILDING_LEADER: (building.micro_grid or grid) if building else grid,
        Role.PROPERTY_MANAGER: community,
        Role.RESIDENT: grid,
        "_leader": leader,
        "_person": resident,
    }


def _place_label(place: Any) -> str:
    if isinstance(place, Department):
        return place.name
    if isinstance(place, Region):
        names = list(
            Region.objects.filter(code__in=place.ancestor_codes()[1:])
            .order_by("depth")
            .values_list("name", flat=True)
        )
        # 友谊街社区 is implied by 友谊街社区第一网格: keep only the longer name.
        names = [
            n for i, n in enumerate(names) if i + 1 == len(names) or not names[i + 1].startswith(n)
        ]
        return " ".join(names) or place.name
    return "—"


def ensure_demo_accounts(*, seed: int = 2026) -> list[DemoAccount]:
    """Create (or repair) one demo account per role; the password is reset to ``DEMO_PASSWORD``.

    Accounts whose place does not exist (no demo city yet) are left out.
    """
    User = get_user_model()
    places = _demo_places()
    names = _Names(random.Random(f"{seed}:accounts"))
    password_hash = make_password(DEMO_PASSWORD)  # hashed once: the slow part of a re-run
    out: list[DemoAccount] = []
    with transaction.atomic():
        for username, role, title in ACCOUNT_SPECS:
            place = places[role]
            # Draw a name for every account, used or not, so names do not shift between runs.
            drawn = names.full()
            if place is None:
                continue
            person: Resident | None = None
            if role == Role.BUILDING_LEADER:
                person = places["_leader"]
            elif role == Role.RESIDENT:
                person = places["_person"]
            full_name = person.name if person else drawn
            user, _ = User.objects.get_or_create(username=username)
            user.password = password_hash
            user.last_name, user.first_name = full_name[:1], full_name[1:]
            user.is_active = True
            user.is_staff = user.is_superuser = role == Role.ADMIN
            user.save()
            if person is not None and person.user_id != user.pk:
                Resident.objects.filter(user=user).exclude(pk=person.pk).update(user=None)
                person.user = user
                person.save(update_fields=["user"])
            is_department = isinstance(place, Department)
            lookup = {
                "user": user,
                "role": role,
                "department" if is_department else "region": place,
            }
            defaults = {
                "title": title,
                "is_active": True,
                "can_view_personal": role in (Role.GRID_WORKER, Role.COMMUNITY_SECRETARY),
                "work_phone": ""
                if role == Role.RESIDENT
                else f"0535-66{sum(map(ord, username)) % 100000:05d}",
            }
            Post.objects.update_or_create(**lookup, defaults=defaults)
            out.append(
                DemoAccount(
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    role_label=str(Role(role).label),
                    place=_place_label(place),
                    full_name=full_name,
                )
            )
    return out


def iter_account_table(accounts: Iterable[DemoAccount]) -> Iterator[str]:
    """The demo accounts as lines of a plain-text table, for the command's output."""
    rows = [("用户名", "密码", "角色", "姓名", "岗位所在")] + [
        (a.username, a.password, a.role_label, a.full_name, a.place) for a in accounts
    ]
    widths = [max(_width(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        cells = [r[i] + " " * (widths[i] - _width(r[i])) for i in range(4)]
        yield "  ".join([*cells, r[4]])


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
