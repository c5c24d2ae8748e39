"""Point → grid (网格定位): which grid's boundary holds a reported point.

The grids' GeoJSON boundaries are parsed once per process into a shapely STRtree and reused for
every request. The index is dropped when a Region is saved or deleted in this process, when the
shared cache's generation moves (another process changed a Region; shared only with Redis), and
after ``MAX_AGE`` seconds at the latest (bulk imports that send no signals).
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import shapely
from django.core.cache import cache
from shapely.geometry import Point, shape
from shapely.strtree import STRtree

from jiayuan.regions.choices import Level
from jiayuan.regions.models import Region

GENERATION_KEY = "open311:grid-index:generation"
MAX_AGE = 300.0
# The shared generation is read at most this often (one cache round trip a second, not one per
# located request); this process's own Region edits still drop the index at once.
CHECK_EVERY = 1.0


@dataclass
class _Index:
    tree: STRtree
    ids: list[int]
    codes: list[str]
    regions: dict[int, Region]
    generation: Any
    built_at: float


_index: _Index | None = None
_lock = threading.Lock()
_checked_at = float("-inf")


def invalidate() -> None:
    """Forget the grid index here and tell other processes (through the cache) to do the same."""
    global _index
    _index = None
    cache.set(GENERATION_KEY, secrets.token_hex(8), None)


def _build(generation: Any) -> _Index:
    ids: list[int] = []
    codes: list[str] = []
    geoms = []
    rows = Region.objects.filter(level=Level.GRID, boundary__isnull=False).values_list(
        "id", "code", "boundary"
    )
    for pk, code, boundary in rows.order_by("code"):
        try:
            geom = shape(boundary)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError):
            continue  # a malformed boundary locates nothing; the import validates boundaries
        if geom.is_empty:
            continue
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        shapely.prepare(geom)
        ids.append(pk)
        codes.append(code)
        geoms.append(geom)
    # The grids themselves, without their boundaries, so a lookup costs no query.
    regions = Region.objects.defer("boundary").in_bulk(ids)
    return _Index(STRtree(geoms), ids, codes, regions, generation, time.monotonic())


def _current() -> _Index:
    global _index, _checked_at
    index = _index
    now = time.monotonic()
    if index is None or now - _checked_at >= CHECK_EVERY:
        generation = cache.get(GENERATION_KEY)
        _checked_at = now
    else:
        generation = index.generation
    if (
        index is None
        or index.generation != generation
        or time.monotonic() - index.built_at > MAX_AGE
    ):
        with _lock:
            index = _build(generation)
            _index = index
    return index


def locate_grid(lng: float, lat: float) -> Region | None:
    """The grid whose boundary contains (lng, lat), or None. A point on the border of two grids
    goes to the one with the smaller code, so the answer never depends on the index order."""
    index = _current()
    hits = index.tree.query(Point(lng, lat), predicate="intersects")
    if len(hits) == 0:
        return None
    best = min(int(i) for i in hits)  # geometries were added in code order
    region = index.regions.get(index.ids[best])
    # A copy: callers may set attributes on what they get; the index's own stays as loaded.
    return copy.copy(region) if region is not None else None
