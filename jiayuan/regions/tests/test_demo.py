"""The demo city generator (``jiayuan demo-data``): real divisions, valid geometry, people.

One small city (scale ``small``, two populated communities) is built once for the module and
deleted afterwards; tests that change it run inside their own rolled-back transaction.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count, Sum
from django.test import override_settings
from shapely.geometry import Point, shape
from shapely.ops import unary_union

from jiayuan.core.errors import JiayuanError
from jiayuan.party.models import OrgKind, PartyMembership, PartyOrg
from jiayuan.regions.choices import GridKind, Level, RentalStatus
from jiayuan.regions.demo import (
    CITY_CODE,
    DEMO_PASSWORD,
    REFERENCE_DATE,
    age_on,
    build_demo_city,
    delete_demo_city,
    demo_counts,
    id_check_digit,
    is_valid_id_number,
    short_name,
)
from jiayuan.regions.geometry import Rect, tile
from jiayuan.regions.models import Building, Estate, Household, Region, Resident, Unit
from jiayuan.staff.choices import Role
from jiayuan.staff.models import Department, Post

SEED = 7
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]
POPULATED = 2  # communities with households in the module's city (友谊街社区, 建昌街社区)


@pytest.fixture(scope="module")
def city(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Any]:
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHER):
        result = build_demo_city(scale="small", seed=SEED, populate_communities=POPULATED)
        try:
            yield result
        finally:
            delete_demo_city()


def digest() -> str:
    """A hash of every generated row by natural keys (no ids, no timestamps)."""
    h = hashlib.sha256()
    tables: list[Any] = [
        Region.objects.values_list(
            "code",
            "name",
            "level",
            "kind",
            "parent__code",
            "path",
            "depth",
            "boundary",
            "center_lng",
            "center_lat",
            "household_count",
        ),
        Estate.objects.values_list(
            "code", "name", "community__code", "address", "property_company", "built_year"
        ),
        Building.objects.values_list(
            "code",
            "name",
            "estate__code",
            "grid__code",
            "micro_grid__code",
            "address",
            "lng",
            "lat",
            "floors",
            "qr_token",
        ),
        Unit.objects.values_list("building__code", "number"),
        Household.objects.values_list(
            "code",
            "building__code",
            "unit__number",
            "room",
            "grid__code",
            "head_name",
            "rental_status",
            "party_member_center",
            "area_m2",
        ),
        Resident.objects.values_list(
            "id_number",
            "name",
            "phone",
            "gender",
            "birth_date",
            "relation",
            "is_party_member",
            "is_building_leader",
            "household__code",
            "grid__code",
            "user__username",
        ),
        Resident.care_tags.through.objects.values_list("resident__id_number", "caretagtype__code"),
        PartyOrg.objects.values_list(
            "code",
            "name",
            "kind",
            "parent__code",
            "region__code",
            "building__code",
            "secretary_name",
        ),
        PartyMembership.objects.values_list(
            "org__code", "resident__id_number", "kind", "role", "joined_on"
        ),
        Department.objects.values_list(
            "code", "name", "short_name", "region__code", "phone", "serves__code"
        ),
        Post.objects.values_list(
            "user__username",
            "role",
            "region__code",
            "department__code",
            "title",
            "work_phone",
            "can_view_personal",
        ),
        get_user_model().objects.values_list(
            "username", "first_name", "last_name", "is_staff", "is_superuser"
        ),
    ]
    for qs in tables:
        rows = sorted(json.dumps(list(r), default=str, ensure_ascii=False) for r in qs)
        h.update("\n".join(rows).encode())
        h.update(b"\x00")
    return h.hexdigest()


def polygon(region: Region) -> Any:
    return shape(region.boundary)


# --- pure helpers --------------------------------------------------------------------------


def test_short_names_follow_the_official_suffixes() -> None:
    assert short_name("友谊街社区居民委员会") == "友谊街社区"
    assert short_name("北里居民委员会") == "北里社区"
    assert short_name("西北关社区居委会") == "西北关社区"
    assert short_name("曾家庄居委会") == "曾家庄社区"
    assert short_name("儒林沟村民委员会") == "儒林沟村"
    assert short_name("大刘家村村民委员会") == "大刘家村"
    assert short_name("东厅村委会") == "东厅村"
    assert short_name("外向型工业加工区虚拟社区") == "外向型工业加工区虚拟社区"


def test_id_check_digit_matches_gb11643() -> None:
    # The standard's worked example: 11010519491231002X.
    assert id_check_digit("11010519491231002") == "X"
    assert is_valid_id_number("11010519491231002X")
    assert not is_valid_id_number("110105194912310021")


def test_tile_cuts_a_rectangle_into_proportional_non_overlapping_parts() -> None:
    rect = Rect(120.0, 37.0, 120.4, 37.2)
    parts = tile(rect, [1, 2, 3, 4])
    polys = [shape(p.geojson()) for p in parts]
    whole = shape(rect.geojson())
    assert unary_union(polys).symmetric_difference(whole).area < 1e-12
    for i, a in enumerate(polys):
        for b in polys[i + 1 :]:
            assert a.intersection(b).area == 0
    shares = [round(p.area / whole.area, 3) for p in polys]
    assert shares == pytest.approx([0.1, 0.2, 0.3, 0.4], abs=0.002)


# --- the built city ------------------------------------------------------------------------


@pytest.mark.django_db
def test_real_divisions_are_loaded_with_short_names_and_paths(city: Any) -> None:
    levels = dict(Region.objects.values_list("level").annotate(n=Count("id")))
    assert levels[Level.CITY] == 1
    assert levels[Level.DISTRICT] == 13
    assert levels[Level.STREET] == 159
    assert levels[Level.COMMUNITY] == 6509
    youyi = Region.objects.get(code="370602001001")
    assert youyi.name == "友谊街社区"
    assert youyi.path == "370600000000.370602000000.370602001000.370602001001"
    assert youyi.depth == 3
    assert youyi.parent is not None and youyi.parent.name == "向阳街道"
    # Every stored path is what Region.save() would have computed.
    for reg in Region.objects.filter(code__startswith="370602001").select_related("parent"):
        assert reg.path == reg.compute_path()
        assert reg.depth == reg.path.count(".")
    assert Region.objects.filter(level=Level.COMMUNITY, name__endswith="委员会").count() == 0
    assert Region.objects.filter(level=Level.COMMUNITY, name__endswith="居委会").count() == 0


@pytest.mark.django_db
def test_every_community_has_grids_and_each_street_one_special_grid(city: Any) -> None:
    grids = Region.objects.filter(level=Level.GRID)
    per_comm = Counter(
        grids.filter(kind=GridKind.RESIDENTIAL).values_list("parent__code", flat=True)
    )
    assert len(per_comm) == 6509
    villages = Region.objects.filter(level=Level.COMMUNITY, name__endswith="村")
    assert villages.count() > 5000
    assert {per_comm[c] for c in villages.values_list("code", flat=True)} == {1}
    urban = Region.objects.filter(level=Level.COMMUNITY, name__endswith="社区")
    assert {per_comm[c] for c in urban.values_list("code", flat=True)} <= {2, 3, 4, 5, 6}
    special = grids.exclude(kind=GridKind.RESIDENTIAL)
    assert special.count() == 159
    assert Counter(special.values_list("parent__parent__code", flat=True)) == Counter(
        {
            code: 1
            for code in Region.objects.filter(level=Level.STREET).values_list("code", flat=True)
        }
    )
    for g in grids.filter(parent__code="370602001001"):
        assert re.fullmatch(r"370602001001\d{3}", g.code)
        boundary: Any = g.boundary
        assert boundary["type"] == "Polygon"
        ring = boundary["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) == 5
    first = grids.get(code="370602001001001")
    assert first.name == "友谊街社区第一网格"
    for s in special[:20]:
        assert s.code.endswith("901")
        assert "专属网格（" in s.name


@pytest.mark.django_db
def test_children_tile_their_parent_without_overlap(city: Any) -> None:
    """Grids tile communities, communities streets, streets districts (a sample of each)."""
    parents = list(
        Region.objects.filter(level=Level.COMMUNITY, code__startswith="370602001")
    ) + list(Region.objects.filter(level=Level.COMMUNITY).order_by("code")[::400])
    parents += list(
        Region.objects.filter(code__in=["370602001000", "370602000000", "370683000000", CITY_CODE])
    )
    parents += list(Region.objects.filter(level=Level.GRID, household_count__gt=0))
    assert len(parents) > 30
    for parent in parents:
        children = [polygon(c) for c in parent.children.all()]
        assert children, parent.code
        whole = polygon(parent)
        assert all(c.is_valid and c.area > 0 for c in children)
        assert unary_union(children).symmetric_difference(whole).area <= whole.area * 1e-9
        assert sum(c.area for c in children) == pytest.approx(whole.area, rel=1e-9)
        for i, a in enumerate(children):
            for b in children[i + 1 :]:
                assert a.intersection(b).area <= whole.area * 1e-12
        assert whole.contains(Point(parent.center_lng, parent.center_lat))


@pytest.mark.django_db
def test_only_the_chosen_communities_are_populated(city: Any) -> None:
    populated = set(Household.objects.values_list("grid__parent__code", flat=True).distinct())
    assert populated == {"370602001001", "370602001002"}
    assert city.populated_communities == POPULATED


@pytest.mark.django_db
def test_residential_grids_hold_200_to_400_households_and_counts_roll_up(city: Any) -> None:
    grids = Region.objects.filter(
        level=Level.GRID,
        kind=GridKind.RESIDENTIAL,
        parent__code__in=["370602001001", "370602001002"],
    )
    actual = dict(Household.objects.values_list("grid__code").annotate(n=Count("id")))
    assert grids.count() >= 4
    for g in grids:
        assert 200 <= actual[g.code] <= 400
        assert g.household_count == actual[g.code]
        micro = g.children.filter(level=Level.MICRO_GRID)
        assert micro.aggregate(s=Sum("household_count"))["s"] == actual[g.code]
        for m in micro:
            assert m.code.startswith(g.code) and len(m.code) == len(g.code) + 2
            assert m.kind == GridKind.RESIDENTIAL
            assert m.household_count == Household.objects.filter(building__micro_grid=m).count()
    total = Household.objects.count()
    assert Region.objects.get(code=CITY_CODE).household_count == total
    assert Region.objects.get(code="370602000000").household_count == total
    assert Region.objects.get(code="370602001001").household_count == sum(
        n for code, n in actual.items() if code.startswith("370602001001")
    )
    assert Region.objects.get(code="370602002000").household_count == 0


@pytest.mark.django_db
def test_buildings_lie_inside_their_micro_grid_and_grid(city: Any) -> None:
    buildings = Building.objects.select_related("grid", "micro_grid", "estate")
    assert buildings.count() > 10
    shapes: dict[int, Any] = {}
    for b in buildings:
        assert b.micro_grid is not None and b.micro_grid.parent_id == b.grid_id
        assert b.estate is not None and b.estate.community_id == b.grid.parent_id
        point = Point(b.lng, b.lat)
        for reg in (b.micro_grid, b.grid):
            poly = shapes.setdefault(reg.pk, polygon(reg))
            assert poly.contains(point), b.code
        assert re.fullmatch(rf"{b.grid.code}B\d{{3}}", b.code)
        assert re.fullmatch(r"\d+号楼", b.name)
        assert b.address.startswith("芝罘区") and b.address.endswith(b.name)
        assert 6 <= (b.floors or 0) <= 18
        assert 1 <= b.units.count() <= 4


@pytest.mark.django_db
def test_households_have_plausible_status_shares(city: Any) -> None:
    total = Household.objects.count()
    shares = {
        k: n / total
        for k, n in Household.objects.values_list("rental_status").annotate(n=Count("id"))
    }
    assert shares[RentalStatus.OWNER] == pytest.approx(0.75, abs=0.04)
    assert shares[RentalStatus.RENTED] == pytest.approx(0.18, abs=0.04)
    assert shares[RentalStatus.VACANT] == pytest.approx(0.07, abs=0.03)
    assert (
        Household.objects.filter(rental_status=RentalStatus.VACANT, residents__isnull=False).count()
        == 0
    )
    centers = Household.objects.filter(party_member_center=True).count() / total
    assert 0.01 <= centers <= 0.06
    for h in Household.objects.exclude(rental_status=RentalStatus.VACANT)[:300]:
        head = h.residents.get(relation="head")
        assert h.head_name == head.name
        assert re.fullmatch(r"\d{2}0[12]", h.room)
    occupied = Household.objects.exclude(rental_status=RentalStatus.VACANT).count()
    assert Resident.objects.count() / occupied == pytest.approx(2.4, abs=0.15)


@pytest.mark.django_db
def test_residents_have_valid_ids_consistent_with_birth_gender_and_district(city: Any) -> None:
    residents = list(Resident.objects.all())
    assert len(residents) > 1000
    assert len({r.id_number for r in residents}) == len(residents)
    for r in residents:
        idn = r.id_number or ""
        assert is_valid_id_number(idn), idn
        assert idn[:6] == "370602"
        assert idn[6:14] == f"{r.birth_date:%Y%m%d}"
        assert r.gender == ("M" if int(idn[16]) % 2 else "F")
        if r.phone:
            assert re.fullmatch(r"1[3-9]\d{9}", r.phone)
        else:
            assert r.birth_date is not None and age_on(r.birth_date) < 12
    party = sum(r.is_party_member for r in residents) / len(residents)
    assert party == pytest.approx(0.08, abs=0.025)
    relations = Counter(r.relation for r in residents)
    assert set(relations) == {"head", "spouse", "child", "parent"}


@pytest.mark.django_db
def test_care_tags_are_rare_and_consistent_with_age(city: Any) -> None:
    through = Resident.care_tags.through.objects.select_related("resident", "caretagtype")
    tagged = set()
    for row in through:
        birth = row.resident.birth_date
        assert birth is not None
        age = age_on(birth, REFERENCE_DATE)
        code = row.caretagtype.code
        tagged.add(row.resident_id)
        if code == "elderly_80":
            assert age >= 80
        if code == "left_behind_child":
            assert age < 16
        if code == "alone_elderly":
            assert age >= 65 and row.resident.household.residents.count() == 1
    share = len(tagged) / Resident.objects.count()
    assert share == pytest.approx(0.08, abs=0.03)


@pytest.mark.django_db
def test_party_organisations_form_the_tree(city: Any) -> None:
    kinds = dict(PartyOrg.objects.values_list("kind").annotate(n=Count("id")))
    populated_grids = Region.objects.filter(level=Level.GRID, household_count__gt=0)
    assert kinds[OrgKind.STREET_WORKING_COMMITTEE] == 159
    assert kinds[OrgKind.COMMUNITY_COMMITTEE] == 6509
    assert kinds[OrgKind.GRID_BRANCH] == populated_grids.count()
    n_buildings = Building.objects.count()
    assert 0.15 * n_buildings <= kinds[OrgKind.BUILDING_GROUP] <= 0.55 * n_buildings
    assert PartyOrg.objects.get(code="P370602001000").name == "向阳街道党工委"
    assert PartyOrg.objects.get(code="P370602001001").name == "友谊街社区党委"
    for org in PartyOrg.objects.exclude(kind=OrgKind.STREET_WORKING_COMMITTEE)[:500]:
        assert org.parent is not None and org.secretary_name
    for group in PartyOrg.objects.filter(kind=OrgKind.BUILDING_GROUP).select_related(
        "building", "parent"
    ):
        assert group.building is not None and group.parent is not None
        assert group.parent.region_id == group.building.grid_id == group.region_id
    members = PartyMembership.objects.select_related("org", "resident")
    assert members.count() == Resident.objects.filter(is_party_member=True).count()
    for m in members:
        assert m.kind == PartyMembership.Kind.FORMAL
        assert m.org.kind == OrgKind.GRID_BRANCH and m.org.region_id == m.resident.grid_id
    # Each building has exactly one building leader among its residents.
    leaders = Counter(
        Resident.objects.filter(is_building_leader=True).values_list(
            "household__building_id", flat=True
        )
    )
    assert set(leaders.values()) == {1}
    assert len(leaders) == n_buildings


@pytest.mark.django_db
def test_communities_run_together_three_by_three_in_clusters(city: Any) -> None:
    from jiayuan.regions.models import Cluster

    clusters = Cluster.objects.select_related("street")
    assert clusters.count() > 100
    for cluster in clusters.filter(code__startswith="370602"):
        members = list(cluster.communities.order_by("code"))
        assert 1 <= len(members) <= 3
        assert all(c.parent_id == cluster.street_id for c in members)
        assert cluster.name.startswith(cluster.street.name) and cluster.name.endswith("片区")
    # Every community of a street with four or more communities is in one cluster.
    street = Region.objects.filter(level=Level.STREET, code__startswith="370602").first()
    assert street is not None
    communities = Region.objects.filter(parent=street, level=Level.COMMUNITY)
    if communities.count() >= 4:
        assert not communities.filter(cluster__isnull=True).exists()
    assert Cluster.objects.get(code=f"{street.code}P01").name == f"{street.name}第一片区"


def test_every_district_has_its_fourteen_departments(city: Any) -> None:
    assert Department.objects.count() == 13 * 14
    zj = Department.objects.get(code="370602-zj")
    assert zj.name == "芝罘区住房和城乡建设局" and zj.short_name == "住建"
    assert list(zj.serves.values_list("code", flat=True)) == ["370602000000"]
    assert zj.region.code == "370602000000"
    shorts = set(
        Department.objects.filter(region__code="370683000000").values_list("short_name", flat=True)
    )
    assert shorts == {
        "城管",
        "住建",
        "公安",
        "民政",
        "生态环境",
        "市场监管",
        "交通",
        "教体",
        "人社",
        "卫健",
        "供水",
        "供电",
        "燃气",
        "供热",
    }


@pytest.mark.django_db
def test_one_demo_account_per_role_with_the_right_post(city: Any) -> None:
    User = get_user_model()
    assert {a.role for a in city.accounts} == set(Role.values)
    for account in city.accounts:
        user = User.objects.get(username=account.username)
        assert user.check_password(DEMO_PASSWORD)
        assert user.last_name and user.first_name
        posts = list(user.posts.all())
        assert [p.role for p in posts] == [account.role]

    def post_of(username: str) -> Post:
        return Post.objects.select_related("region", "department").get(user__username=username)

    grid_post = post_of("wangge")
    assert grid_post.region is not None and grid_post.region.code == "370602001001001"
    assert grid_post.can_view_personal and grid_post.work_phone
    assert post_of("shuji").can_view_personal
    assert not post_of("shegong").can_view_personal
    assert post_of("jiedao").region.code == "370602001000"  # type: ignore[union-attr]
    assert post_of("bumen").department.code == "370602-zj"  # type: ignore[union-attr]
    assert post_of("zhihui").region.code == CITY_CODE  # type: ignore[union-attr]
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert not User.objects.get(username="wangge").is_staff
    jumin = Resident.objects.get(user__username="jumin")
    assert jumin.grid.code == "370602001001001"
    assert post_of("jumin").region == jumin.grid and post_of("jumin").work_phone == ""
    leader = Resident.objects.get(user__username="loudong")
    assert leader.is_building_leader
    leader_post = post_of("loudong")
    assert leader_post.region is not None and leader_post.region.level == Level.MICRO_GRID
    assert leader_post.region.parent_id == leader.grid_id


@pytest.mark.django_db
def test_rerun_keeps_the_data_and_repairs_the_accounts(city: Any) -> None:
    before = demo_counts()
    user = get_user_model().objects.get(username="wangge")
    user.set_password("changed-password-1")
    user.save()
    Post.objects.filter(user=user).delete()
    out = io.StringIO()
    call_command("demo-data", "--scale", "small", "--seed", str(SEED), stdout=out)
    text = out.getvalue()
    assert "跳过生成" in text
    assert "wangge" in text and DEMO_PASSWORD in text and "网格员" in text
    assert demo_counts() == before
    user.refresh_from_db()
    assert user.check_password(DEMO_PASSWORD)
    assert Post.objects.filter(user=user, role=Role.GRID_WORKER).count() == 1


@pytest.mark.django_db
def test_same_seed_gives_the_same_rows_and_another_seed_differs(city: Any) -> None:
    first = digest()
    again = build_demo_city(scale="small", seed=SEED, populate_communities=POPULATED, reset=True)
    assert not again.skipped
    assert digest() == first
    assert again.counts == city.counts
    build_demo_city(scale="small", seed=SEED + 1, populate_communities=POPULATED, reset=True)
    assert digest() != first


@pytest.mark.django_db
def test_reset_deletes_every_demo_row(city: Any) -> None:
    delete_demo_city()
    counts = demo_counts()
    assert {k: v for k, v in counts.items() if v} == {}


def test_unknown_scale_is_refused() -> None:
    with pytest.raises(JiayuanError) as exc:
        build_demo_city(scale="province", seed=1)
    assert exc.value.code == "demo_scale"
    assert "province" in exc.value.message


@pytest.mark.django_db
def test_reset_also_deletes_the_demo_citys_tickets(city: Any) -> None:
    from jiayuan.regions.models import Building
    from jiayuan.tickets.models import Ticket, TicketEvent
    from jiayuan.tickets.services import ticket_create
    from jiayuan.tickets.workflow import transition

    building = Building.objects.order_by("id").first()
    assert building is not None
    a = ticket_create(
        channel="qr", title="", description="楼道灯坏了", building=building, reporter_phone="139"
    ).ticket
    b = ticket_create(
        channel="qr", title="", description="楼道灯不亮", building=building, reporter_phone="138"
    ).ticket
    transition(b, "merge", system=False, actor=_grid_handler(building), into=a.pk)
    delete_demo_city()
    assert (Ticket.objects.count(), TicketEvent.objects.count()) == (0, 0)


def _grid_handler(building: Any) -> Any:
    post = Post.objects.filter(region=building.grid, role=Role.GRID_WORKER).first()
    assert post is not None
    return post.user


def test_cluster_numbers_read_as_chinese() -> None:
    from jiayuan.regions.demo import _chinese_number

    assert [_chinese_number(n) for n in (1, 9, 10, 12, 20, 23)] == [
        "一",
        "九",
        "十",
        "十二",
        "二十",
        "二十三",
    ]
