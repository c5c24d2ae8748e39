"""The region tree as routing reads it (区划树): every region without its boundary, by id and by
code, and each grid's ancestors by level — so that locating and routing a ticket reads no rows.

Loaded in one query the first time a process routes a ticket (a city of ~8,000 grids: a tenth of
a second and a few MB) and kept in a ``jiayuan.core.memo.Memo``: dropped when a Region is saved
or deleted in this process, when the shared cache generation moves (another process did), and
after ``MAX_AGE`` seconds at the latest (bulk imports send no signals).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from jiayuan.core.memo import Memo
from jiayuan.regions.models import Region

MAX_AGE = 300.0


@dataclass
class RegionTree:
    by_id: dict[int, Region]
    by_code: dict[str, Region]
    # (grid id, grid path) → the grid's ancestors by level, filled as grids are routed to
    chains: dict[tuple[int, str], dict[str, Region]] = field(default_factory=dict)


_memo: Memo[RegionTree] = Memo("routing-region-tree", max_age=MAX_AGE, watch=[Region])


def _load() -> RegionTree:
    by_id = Region.objects.defer("boundary").order_by().in_bulk()
    return RegionTree(by_id, {r.code: r for r in by_id.values()})


def current() -> RegionTree:
    return _memo.get("tree", _load)


def invalidate() -> None:
    """Forget the tree here and in the other processes (tests; after a bulk edit)."""
    _memo.invalidate()


def region(pk: int) -> Region | None:
    """The region with this id, or None. A copy: callers may set attributes on it."""
    found = current().by_id.get(pk)
    return copy.copy(found) if found is not None else None


def chain(grid: Region, tree: RegionTree | None = None) -> dict[str, Region]:
    """The grid (the instance given) and its ancestors by level. The ancestors are the tree's own
    instances, shared by every caller: read them, do not change them. ``tree``: the ``current()``
    tree already taken (a batch takes it once)."""
    if tree is None:
        tree = current()
    key = (grid.pk, grid.path)
    ancestors = tree.chains.get(key)
    if ancestors is None:
        ancestors = {}
        for code in grid.ancestor_codes()[:-1]:
            found = tree.by_code.get(code)
            if found is not None:
                ancestors[found.level] = found
        tree.chains[key] = ancestors
    return {**ancestors, grid.level: grid}
