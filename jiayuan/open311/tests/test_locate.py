"""Point → grid over the world's square grids, and the per-process index staying fresh."""

from __future__ import annotations

from typing import Any

import pytest

from jiayuan.core.testing import region, square
from jiayuan.open311 import locate
from jiayuan.open311.locate import locate_grid
from jiayuan.regions.choices import Level

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("lng", "lat", "grid"),
    [
        (121.4031, 37.5452, "grid_a1_1"),
        (121.4199, 37.5401, "grid_a1_2"),
        (121.425, 37.545, "grid_a2_1"),
        (121.4399, 37.5499, "grid_b1_1"),
        (121.41, 37.545, "grid_a1_1"),  # on the shared border: the smaller code wins
    ],
)
def test_point_in_a_grid_square(world: Any, lng: float, lat: float, grid: str) -> None:
    assert locate_grid(lng, lat) == world.r(grid)


@pytest.mark.parametrize(("lng", "lat"), [(121.45, 37.545), (121.405, 37.56), (0.0, 0.0)])
def test_point_outside_every_grid(world: Any, lng: float, lat: float) -> None:
    assert locate_grid(lng, lat) is None


def test_index_is_built_once_and_rebuilt_after_a_region_change(
    world: Any, django_assert_num_queries: Any
) -> None:
    locate_grid(121.405, 37.545)
    with django_assert_num_queries(0):  # the grid comes from the index: no query at all
        assert locate_grid(121.405, 37.545) == world.r("grid_a1_1")
    new = region(
        "370602002001002",
        "毓西社区第二网格",
        Level.GRID,
        world.r("comm_b1"),
        boundary=square(121.44, 37.54),
    )
    assert locate_grid(121.445, 37.545) == new
    new.boundary = square(121.50, 37.54)
    new.save()
    assert locate_grid(121.445, 37.545) is None
    assert locate_grid(121.505, 37.545) == new


def test_another_process_change_is_seen_through_the_cache_generation(
    world: Any, monkeypatch: Any
) -> None:
    from django.core.cache import cache

    clock = [5000.0]
    monkeypatch.setattr(locate.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(locate, "_checked_at", float("-inf"))
    assert locate_grid(121.405, 37.545) == world.r("grid_a1_1")
    built = locate._index
    # Another process bumped the shared generation: read at most once a second, so this
    # process keeps its index for under a second and rebuilds on the first call after.
    cache.set(locate.GENERATION_KEY, "moved-elsewhere", None)
    clock[0] += 0.5
    locate_grid(121.405, 37.545)
    assert locate._index is built
    clock[0] += 0.6
    locate_grid(121.405, 37.545)
    assert locate._index is not built


def test_malformed_boundary_is_skipped(world: Any) -> None:
    bad = world.r("grid_b1_1")
    bad.boundary = {"type": "Polygon", "coordinates": "nonsense"}
    bad.save()
    assert locate_grid(121.435, 37.545) is None
    assert locate_grid(121.405, 37.545) == world.r("grid_a1_1")
