"""Test helpers shared by every app: factories and a small hand-built world with one user per role.

The world (``build_world()``):

    烟台市 (city)
    └── 芝罘区 (district)
        ├── 向阳街道 (street A)
        │   ├── 友谊街社区 (community A1) ── grid A1-1 (2 buildings), grid A1-2 (1 building)
        │   └── 建昌街社区 (community A2) ── grid A2-1 (1 building)
        └── 毓璜顶街道 (street B)
            └── 毓西社区 (community B1) ── grid B1-1 (1 building)

Each building has 2 households of 2 residents. Users: one per role, posted so that each sees a
different part of the tree; ``outsider`` has no post at all.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import factory
from django.contrib.auth import get_user_model

from jiayuan.regions.choices import GridKind, Level
from jiayuan.regions.models import Building, Estate, Household, Region, Resident, Unit
from jiayuan.staff.choices import Role
from jiayuan.staff.models import Department, Post

User = get_user_model()
_seq = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pass-1234-jiayuan")


def region(code: str, name: str, level: str, parent: Region | None = None, **kw: Any) -> Region:
    if level in (Level.GRID, Level.MICRO_GRID):
        kw.setdefault("kind", GridKind.RESIDENTIAL)
    return Region.objects.create(code=code, name=name, level=level, parent=parent, **kw)


def square(lng: float, lat: float, size: float = 0.01) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [
            [[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]
        ],
    }


def _id_number(k: int) -> str:
    """A valid 18-digit ID number (GB 11643 check digit), unique within a world."""
    from jiayuan.regions.importer import id_check_digit

    first17 = f"37060219800101{k % 1000:03d}"
    return first17 + id_check_digit(first17)


def building(grid: Region, *, households: int = 2, residents_each: int = 2, **kw: Any) -> Building:
    n = next(_seq)
    b = Building.objects.create(
        code=f"{grid.code}B{n % 10000:04d}",
        name=f"{n}号楼",
        grid=grid,
        address=kw.pop("address", f"测试路{n}号"),
        lng=kw.pop("lng", 121.40),
        lat=kw.pop("lat", 37.54),
        **kw,
    )
    unit = Unit.objects.create(building=b, number="1")
    for h in range(households):
        hh = Household.objects.create(
            code=f"{b.code}-1-{h + 1:02d}01",
            building=b,
            unit=unit,
            room=f"{h + 1:02d}01",
            grid=grid,
            head_name=f"户主{n}-{h}",
        )
        for r in range(residents_each):
            k = next(_seq)
            Resident.objects.create(
                household=hh,
                grid=grid,
                name=f"居民{k}",
                id_number=_id_number(k),
                phone=f"138{k:08d}",
                gender="M" if r % 2 == 0 else "F",
            )
    return b


def post(
    user: Any,
    role: str,
    *,
    region: Region | None = None,
    department: Department | None = None,
    **kw: Any,
) -> Post:
    return Post.objects.create(user=user, role=role, region=region, department=department, **kw)


@dataclass
class World:
    regions: dict[str, Region] = field(default_factory=dict)
    buildings: dict[str, Building] = field(default_factory=dict)
    users: dict[str, Any] = field(default_factory=dict)
    departments: dict[str, Department] = field(default_factory=dict)

    def r(self, key: str) -> Region:
        return self.regions[key]


def build_world() -> World:
    w = World()
    city = region("370600000000", "烟台市", Level.CITY)
    district = region("370602000000", "芝罘区", Level.DISTRICT, city)
    street_a = region("370602001000", "向阳街道", Level.STREET, district)
    street_b = region("370602002000", "毓璜顶街道", Level.STREET, district)
    comm_a1 = region("370602001001", "友谊街社区", Level.COMMUNITY, street_a)
    comm_a2 = region("370602001002", "建昌街社区", Level.COMMUNITY, street_a)
    comm_b1 = region("370602002001", "毓西社区", Level.COMMUNITY, street_b)
    grid_a1_1 = region(
        "370602001001001", "友谊街社区第一网格", Level.GRID, comm_a1, boundary=square(121.40, 37.54)
    )
    grid_a1_2 = region(
        "370602001001002", "友谊街社区第二网格", Level.GRID, comm_a1, boundary=square(121.41, 37.54)
    )
    grid_a2_1 = region(
        "370602001002001", "建昌街社区第一网格", Level.GRID, comm_a2, boundary=square(121.42, 37.54)
    )
    grid_b1_1 = region(
        "370602002001001", "毓西社区第一网格", Level.GRID, comm_b1, boundary=square(121.43, 37.54)
    )
    w.regions.update(
        city=city,
        district=district,
        street_a=street_a,
        street_b=street_b,
        comm_a1=comm_a1,
        comm_a2=comm_a2,
        comm_b1=comm_b1,
        grid_a1_1=grid_a1_1,
        grid_a1_2=grid_a1_2,
        grid_a2_1=grid_a2_1,
        grid_b1_1=grid_b1_1,
    )
    Estate.objects.create(code="E1", name="友谊小区", community=comm_a1)
    w.buildings["a1_1"] = building(grid_a1_1, lng=121.405, lat=37.545)
    w.buildings["a1_1b"] = building(grid_a1_1, lng=121.406, lat=37.546)
    w.buildings["a1_2"] = building(grid_a1_2, lng=121.415, lat=37.545)
    w.buildings["a2_1"] = building(grid_a2_1, lng=121.425, lat=37.545)
    w.buildings["b1_1"] = building(grid_b1_1, lng=121.435, lat=37.545)

    housing = Department.objects.create(
        code="zfcj", name="芝罘区住房和城乡建设局", short_name="住建", region=district
    )
    housing.serves.add(street_b)
    w.departments["housing"] = housing

    def user(name: str) -> Any:
        u = UserFactory(username=name)
        w.users[name] = u
        return u

    post(user("grid_worker"), Role.GRID_WORKER, region=grid_a1_1, can_view_personal=True)
    post(user("grid_worker_masked"), Role.GRID_WORKER, region=grid_a1_1)
    post(
        user("community_secretary"),
        Role.COMMUNITY_SECRETARY,
        region=comm_a1,
        can_view_personal=True,
    )
    post(user("community_worker"), Role.COMMUNITY_WORKER, region=comm_a2)
    post(user("street_officer"), Role.STREET_OFFICER, region=street_a)
    post(user("department_officer"), Role.DEPARTMENT_OFFICER, department=housing)
    post(user("command_center"), Role.COMMAND_CENTER, region=city)
    post(user("admin"), Role.ADMIN, region=city)
    user("outsider")
    resident_user = user("resident")
    me = Resident.objects.filter(household__building=w.buildings["a1_2"]).first()
    assert me is not None
    me.user = resident_user
    me.save(update_fields=["user"])
    post(resident_user, Role.RESIDENT, region=grid_a1_2)
    return w
