"""Where (定位): each location method, a point on no grid, an address with no match."""

from __future__ import annotations

from typing import Any

import pytest

from jiayuan.regions.models import Estate, Household
from jiayuan.routing import locate
from jiayuan.routing.locate import locate as locate_ticket
from jiayuan.routing.locate import normalize
from jiayuan.routing.models_dispatch import TicketRouting
from jiayuan.tickets.choices import State
from jiayuan.tickets.services import ticket_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def named(world: Any) -> Any:
    """Give two buildings an estate and real-looking addresses."""
    estate = Estate.objects.get(code="E1")  # 友谊小区, community A1
    estate.address = "芝罘区友谊路12号"
    estate.save()
    b1 = world.buildings["a1_1"]
    b1.estate, b1.name, b1.address = estate, "3号楼", "芝罘区友谊路12号3号楼"
    b1.save()
    b2 = world.buildings["a1_2"]
    b2.estate, b2.name, b2.address = estate, "13号楼", "芝罘区友谊路12号13号楼"
    b2.save()
    b3 = world.buildings["b1_1"]
    b3.address = "芝罘区毓璜顶北路8号"
    b3.save()
    return world


def test_building_gives_its_grid_for_sure(world: Any) -> None:
    found = locate_ticket(building=world.buildings["a2_1"])
    assert (found.grid, found.method, found.confidence) == (world.r("grid_a2_1"), "building", 1.0)


def test_household_gives_its_buildings_grid(world: Any) -> None:
    household = Household.objects.filter(building=world.buildings["b1_1"]).first()
    found = locate_ticket(household=household)
    assert (found.grid, found.method, found.confidence) == (world.r("grid_b1_1"), "household", 1.0)


def test_point_in_a_grid(world: Any) -> None:
    found = locate_ticket(lng=121.425, lat=37.545)
    assert (found.grid, found.method, found.confidence) == (world.r("grid_a2_1"), "point", 1.0)


def test_point_on_no_grid_locates_nothing(world: Any) -> None:
    found = locate_ticket(lng=121.49, lat=37.545)
    assert (found.grid, found.method, found.confidence) == (None, "point", 0.0)


def test_point_on_no_grid_falls_back_to_the_address(named: Any) -> None:
    found = locate_ticket(lng=121.49, lat=37.545, address="芝罘区毓璜顶北路8号")
    assert (found.grid, found.method) == (named.r("grid_b1_1"), "address")


def test_address_of_a_building(named: Any) -> None:
    found = locate_ticket(address="芝罘区友谊路12号13号楼")
    assert found.grid == named.r("grid_a1_2")
    assert found.method == "address"
    assert found.confidence == 1.0
    assert found.building_id == named.buildings["a1_2"].pk


def test_estate_and_building_name_in_free_text(named: Any) -> None:
    found = locate_ticket(address="友谊小区三号楼东侧")
    assert (found.grid, found.building_id) == (named.r("grid_a1_1"), named.buildings["a1_1"].pk)


def test_full_width_digits_and_spaces_are_normalised(named: Any) -> None:
    assert normalize("友谊小区 ３ 栋") == "友谊小区3号楼"
    found = locate_ticket(address="芝罘区 友谊路１２号 13号楼")
    assert found.grid == named.r("grid_a1_2")


def test_address_with_no_match_locates_nothing(named: Any) -> None:
    found = locate_ticket(address="莱山区观海路999号")
    assert found.grid is None
    assert found.method == "address"
    assert found.confidence is not None and found.confidence < locate.min_address_score()


def test_a_bare_building_number_is_not_a_match(named: Any) -> None:
    found = locate_ticket(address="3号楼")
    assert found.grid is None


def test_an_estate_spanning_two_grids_locates_nothing(named: Any) -> None:
    found = locate_ticket(address="友谊小区")
    assert found.grid is None  # its buildings lie in grids A1-1 and A1-2
    assert found.confidence == 1.0


def test_index_is_rebuilt_after_a_building_changes(named: Any) -> None:
    assert locate_ticket(address="芝罘区毓璜顶北路8号").grid == named.r("grid_b1_1")
    built = locate._index
    b3 = named.buildings["b1_1"]
    b3.address = "芝罘区南大街100号"
    b3.save()
    assert locate._index is None
    assert locate_ticket(address="芝罘区南大街100号").grid == named.r("grid_b1_1")
    assert locate._index is not built
    assert locate_ticket(address="芝罘区毓璜顶北路8号").grid is None


def test_index_is_reused_between_calls(named: Any, django_assert_num_queries: Any) -> None:
    locate.match_address("芝罘区毓璜顶北路8号")
    with django_assert_num_queries(0):
        locate.match_address("芝罘区友谊路12号3号楼")


def test_ticket_located_by_address_is_recorded(named: Any) -> None:
    ticket = ticket_create(
        channel="hotline",
        title="路灯不亮",
        description="小区门口路灯坏了",
        address="芝罘区友谊路12号13号楼",
        reporter_phone="13900000009",
    ).ticket
    assert (ticket.grid, ticket.state) == (named.r("grid_a1_2"), State.ASSIGNED)
    routing = TicketRouting.objects.get(ticket=ticket)
    assert (routing.locate_method, routing.locate_confidence) == ("address", 1.0)
    assert routing.estate_id == Estate.objects.get(code="E1").pk


def test_ticket_with_an_unknown_address_waits_for_triage(named: Any) -> None:
    ticket = ticket_create(
        channel="hotline",
        title="路灯不亮",
        description="路灯坏了",
        address="莱山区观海路999号",
        reporter_phone="13900000009",
    ).ticket
    assert (ticket.grid, ticket.state, ticket.owner_region) == (None, State.TRIAGE, named.r("city"))
    assert TicketRouting.objects.get(ticket=ticket).locate_method == "address"


def test_a_district_name_tells_apart_estates_of_the_same_name(named: Any) -> None:
    from jiayuan.core.testing import building, region, square
    from jiayuan.regions.choices import Level

    fushan = region("370611000000", "福山区", Level.DISTRICT, named.r("city"))
    street = region("370611001000", "清洋街道", Level.STREET, fushan)
    comm = region("370611001001", "清洋社区", Level.COMMUNITY, street)
    grid = region("370611001001001", "清洋第一网格", Level.GRID, comm, boundary=square(121.3, 37.5))
    other = Estate.objects.create(code="E2", name="友谊小区", community=comm)
    b = building(grid, estate=other, address="福山区清洋路1号3号楼")
    b.name = "3号楼"
    b.save()
    assert locate_ticket(address="友谊小区3号楼").grid is None  # in two districts: ambiguous
    assert locate_ticket(address="福山区友谊小区3号楼").grid == grid
    assert locate_ticket(address="芝罘区友谊小区3号楼").grid == named.r("grid_a1_1")


def test_a_shared_district_and_road_word_is_not_a_match(named: Any) -> None:
    # "芝罘区友谊" is common to the query and 友谊小区's address; the rest is not.
    assert locate_ticket(address="芝罘区友谊大道500号").grid is None
