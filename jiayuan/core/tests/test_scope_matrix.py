"""Role × endpoint matrix: every page, API endpoint and export that takes an id answers 200 for
objects in the user's scope and 404 outside it (never 403, never a leak)."""

from __future__ import annotations

import pytest

from jiayuan.regions.models import Household, Resident

# Grids each role sees (see jiayuan/core/testing.py for the world).
ALL = {"grid_a1_1", "grid_a1_2", "grid_a2_1", "grid_b1_1"}
VISIBLE_GRIDS = {
    "grid_worker": {"grid_a1_1"},
    "community_secretary": {"grid_a1_1", "grid_a1_2"},
    "community_worker": {"grid_a2_1"},
    "street_officer": {"grid_a1_1", "grid_a1_2", "grid_a2_1"},
    "department_officer": {"grid_b1_1"},
    "command_center": ALL,
    "admin": ALL,
    "outsider": set(),
}
BUILDING_OF_GRID = {
    "grid_a1_1": "a1_1",
    "grid_a1_2": "a1_2",
    "grid_a2_1": "a2_1",
    "grid_b1_1": "b1_1",
}

ENDPOINTS = {
    # name: (url template, which object's id it takes)
    "page_grid_card": ("/grids/{grid}/card/", "grid"),
    "page_building_board": ("/buildings/{building}/board/", "building"),
    "page_building_qr": ("/buildings/{building}/qr.svg", "building"),
    "page_household": ("/households/{household}/", "household"),
    "page_resident": ("/residents/{resident}/", "resident"),
    "page_residents_in_region": ("/residents/?region={grid}", "grid"),
    "page_households_in_region": ("/households/?region={grid}", "grid"),
    "export_residents_in_region": ("/export/residents.xlsx?region={grid}", "grid"),
    "geojson_children": ("/map/grids.geojson?parent={grid}", "grid"),
    "api_region": ("/api/v1/regions/{grid}", "grid"),
    "api_building": ("/api/v1/buildings/{building}", "building"),
    "api_household": ("/api/v1/households/{household}", "household"),
    "api_resident": ("/api/v1/residents/{resident}", "resident"),
    "api_residents_in_region": ("/api/v1/residents?region={grid}", "grid"),
}


def _ids(world, grid_key):
    building = world.buildings[BUILDING_OF_GRID[grid_key]]
    household = Household.objects.filter(building=building).order_by("id").first()
    resident = Resident.objects.filter(household=household).order_by("id").first()
    return {
        "grid": world.r(grid_key).pk,
        "building": building.pk,
        "household": household.pk,
        "resident": resident.pk,
    }


CASES = [
    (role, endpoint, grid)
    for role in sorted(VISIBLE_GRIDS)
    for endpoint in sorted(ENDPOINTS)
    for grid in sorted(ALL)
]


@pytest.mark.parametrize("role,endpoint,grid", CASES)
def test_scope_matrix(client, world, role, endpoint, grid):
    template, _ = ENDPOINTS[endpoint]
    client.force_login(world.users[role])
    resp = client.get(template.format(**_ids(world, grid)))
    expected = 200 if grid in VISIBLE_GRIDS[role] else 404
    assert resp.status_code == expected, (role, endpoint, grid, resp.status_code)


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_resident_account_sees_only_its_own_household(client, world, endpoint):
    """A resident's account reaches its household's records and nothing of other grids."""
    template, _ = ENDPOINTS[endpoint]
    client.force_login(world.users["resident"])
    other = _ids(world, "grid_a1_1")
    assert client.get(template.format(**other)).status_code == 404


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_anonymous_gets_no_data(client, world, endpoint):
    template, _ = ENDPOINTS[endpoint]
    resp = client.get(template.format(**_ids(world, "grid_a1_1")))
    assert resp.status_code in (302, 401)
