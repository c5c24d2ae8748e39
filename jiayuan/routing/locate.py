"""Where (定位): which grid a ticket belongs to, how that was found, and how sure it is.

In order of trust:

1. a building (楼栋, e.g. from its QR code) or a household → the building's grid, confidence 1;
2. a point (lng, lat) → the grid whose boundary contains it (the shapely STRtree of
   ``jiayuan.open311.locate``, reused here); a point on no grid locates nothing — never a guess;
3. an address string → the best match among the known buildings' and estates' addresses
   (rapidfuzz), with a score from 0 to 1; below ``ROUTING_ADDRESS_MIN_SCORE`` (default 0.85),
   or when two places in different grids match equally well, it locates nothing.

The address index, like the grid index, is built once per process: every address string is cut
into character bigrams with an inverted index (numpy arrays) that picks a dozen candidates per
query in well under a millisecond at city scale; rapidfuzz then scores only those. It is dropped
when a Building or Estate is saved or deleted in this process, when the shared cache generation
moves (another process), and re-checked against the table's (count, max id) every ``MAX_AGE``
seconds (bulk imports send no signals).
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max
from django.db.models.signals import post_delete, post_save
from rapidfuzz import fuzz

from jiayuan.core.scoping import PATH_SEP
from jiayuan.open311.locate import locate_grid
from jiayuan.regions.choices import Level as RegionLevel
from jiayuan.regions.models import Building, Estate, Household, Region
from jiayuan.routing import tree
from jiayuan.routing.models_dispatch import LocateMethod

GENERATION_KEY = "routing:address-index:generation"
MAX_AGE = 300.0
DEFAULT_MIN_SCORE = 0.85
CANDIDATES = 12
# A bigram found in more than this share of all addresses ("号楼", "小区", the district's
# name) says nothing about which one is meant: it is left out of the inverted index.
COMMON_SHARE = 0.05
COMMON_FLOOR = 50


@dataclass(frozen=True)
class Location:
    """The answer of ``locate``: the grid (None when not located), how, how surely, and the
    building / estate that was recognised (an address match may recognise one)."""

    grid: Region | None
    method: str
    confidence: float | None
    building_id: int | None = None
    estate_id: int | None = None
    matched: str = ""

    @property
    def located(self) -> bool:
        return self.grid is not None


NOT_LOCATED = Location(None, LocateMethod.NONE, None)


def min_address_score() -> float:
    return float(getattr(settings, "ROUTING_ADDRESS_MIN_SCORE", DEFAULT_MIN_SCORE))


def locate(
    *,
    building: Building | None = None,
    household: Household | None = None,
    grid: Region | None = None,
    lng: float | None = None,
    lat: float | None = None,
    address: str = "",
) -> Location:
    """The ticket's grid by the most trusted means available (see the module docstring)."""
    method = LocateMethod.BUILDING
    if household is not None:
        building = building or household.building
        method = LocateMethod.HOUSEHOLD
    if building is not None:
        return Location(_building_grid(building), method, 1.0, building.pk, building.estate_id)
    if grid is not None:
        return Location(grid, LocateMethod.GIVEN, 1.0)
    if lng is not None and lat is not None:
        found = locate_grid(lng, lat)
        if found is not None:
            return Location(found, LocateMethod.POINT, 1.0)
        if not address:
            return Location(None, LocateMethod.POINT, 0.0)
    if address:
        return locate_address(address)
    return NOT_LOCATED


def _building_grid(building: Building) -> Region | None:
    """The building's grid: the one it holds when loaded with it, else the region tree's."""
    if Building.grid.is_cached(building):
        return building.grid
    return tree.region(building.grid_id) or building.grid


# --- address matching ---------------------------------------------------------------------------

_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGITS.update({"六": 6, "七": 7, "八": 8, "九": 9})
_CN_NUMBER = re.compile(r"([零一二两三四五六七八九十]{1,3})(?=[号栋幢单层楼室])")
_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


def _cn_to_int(text: str) -> str:
    """三 → 3, 十二 → 12, 二十一 → 21 (the numbers of buildings, units and floors)."""
    if "十" in text:
        tens, _, ones = text.partition("十")
        value = (_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0))
        return str(value)
    return "".join(str(_CN_DIGITS.get(ch, ch)) for ch in text)


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters to half-width), Chinese numerals before 号/栋/单元
    to digits, 栋/幢 as 号楼, no spaces or punctuation."""
    text = "".join(unicodedata.normalize("NFKC", text or "").split())
    text = _CN_NUMBER.sub(lambda m: _cn_to_int(m.group(1)), text)
    text = re.sub(r"(\d+)(?:栋|幢|号楼|#楼|#)", r"\1号楼", text)
    return _DROP.sub("", text).lower()


def _bigrams(text: str) -> set[str]:
    if len(text) < 2:
        return {text} if text else set()
    return {text[i : i + 2] for i in range(len(text) - 1)}


@dataclass
class _AddressIndex:
    texts: list[str]
    prefixes: list[int]  # length of the district name a text starts with (0: none)
    district_names: tuple[str, ...]
    building_ids: list[int | None]
    estate_ids: list[int | None]
    grid_ids: list[int | None]
    postings: dict[str, tuple[np.ndarray, float]]
    fingerprint: tuple[Any, ...]
    generation: Any
    built_at: float


_index: _AddressIndex | None = None
_lock = threading.Lock()


def invalidate() -> None:
    """Forget the address index here and tell other processes (through the cache)."""
    global _index
    _index = None
    cache.set(GENERATION_KEY, secrets.token_hex(8), None)


def _fingerprint() -> tuple[Any, ...]:
    b = Building.objects.order_by().aggregate(n=Count("id"), m=Max("id"))
    e = Estate.objects.order_by().aggregate(n=Count("id"), m=Max("id"))
    return (b["n"], b["m"], e["n"], e["m"])


def _build(generation: Any) -> _AddressIndex:
    texts: list[str] = []
    prefixes: list[int] = []
    building_ids: list[int | None] = []
    estate_ids: list[int | None] = []
    grid_ids: list[int | None] = []

    def add(text: str, building_id: int | None, estate_id: int | None, grid_id: int | None) -> None:
        norm = normalize(text)
        if len(norm) >= 2:
            texts.append(norm)
            prefixes.append(next((len(d) for d in districts if norm.startswith(d)), 0))
            building_ids.append(building_id)
            estate_ids.append(estate_id)
            grid_ids.append(grid_id)

    # Estate names repeat across a city (阳光花园 in several districts): each is also indexed
    # with its district's name in front, which is how residents tell them apart.
    district_names = dict(
        Region.objects.filter(level=RegionLevel.DISTRICT).values_list("code", "name")
    )
    districts = tuple(sorted({normalize(n) for n in district_names.values()}, key=len))[::-1]
    community_paths = dict(
        Region.objects.filter(level=RegionLevel.COMMUNITY).values_list("id", "path")
    )

    def district_of(path: str) -> str:
        codes = path.split(PATH_SEP)
        return district_names.get(codes[1], "") if len(codes) > 1 else ""

    estates = {
        pk: (name, address, district_of(community_paths.get(community_id, "")))
        for pk, name, address, community_id in Estate.objects.values_list(
            "id", "name", "address", "community_id"
        ).order_by("id")
    }
    estate_grids: dict[int, set[int]] = {}
    rows = Building.objects.values_list("id", "name", "address", "estate_id", "grid_id")
    for pk, name, address, estate_id, grid_id in rows.order_by("id").iterator(chunk_size=5000):
        add(address, pk, estate_id, grid_id)
        if estate_id is not None and estate_id in estates:
            estate_name, _, district = estates[estate_id]
            add(estate_name + name, pk, estate_id, grid_id)
            if district:
                add(district + estate_name + name, pk, estate_id, grid_id)
            estate_grids.setdefault(estate_id, set()).add(grid_id)
    for pk, (name, address, district) in estates.items():
        grids = estate_grids.get(pk, set())
        # An estate spanning several grids names its community, not a grid: it locates nothing.
        only: int | None = next(iter(grids)) if len(grids) == 1 else None
        add(name, None, pk, only)
        if district:
            add(district + name, None, pk, only)
        if address:
            add(address, None, pk, only)

    lists: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        for gram in _bigrams(text):
            lists.setdefault(gram, []).append(i)
    n = max(len(texts), 1)
    common = max(COMMON_FLOOR, int(n * COMMON_SHARE))
    postings = {
        gram: (np.asarray(ids, dtype=np.int32), math.log(n / len(ids)) + 1.0)
        for gram, ids in lists.items()
        if len(ids) <= common
    }
    return _AddressIndex(
        texts,
        prefixes,
        districts,
        building_ids,
        estate_ids,
        grid_ids,
        postings,
        _fingerprint(),
        generation,
        time.monotonic(),
    )


def _current() -> _AddressIndex:
    global _index
    generation = cache.get(GENERATION_KEY)
    index = _index
    if index is not None and index.generation == generation:
        if time.monotonic() - index.built_at <= MAX_AGE:
            return index
        if _fingerprint() == index.fingerprint:
            index.built_at = time.monotonic()
            return index
    with _lock:
        index = _build(generation)
        _index = index
    return index


def _score(candidate: str, query: str) -> float:
    """How much of the candidate address the query holds (0–1): rapidfuzz's partial ratio of the
    shorter in the longer, scaled down when the query is shorter than the candidate (a bare
    "3号楼" must not match "阳光花园3号楼")."""
    if not candidate or not query:
        return 0.0
    score = fuzz.partial_ratio(candidate, query) / 100.0
    if len(query) < len(candidate):
        score *= len(query) / len(candidate)
    return score


def _district_score(index: _AddressIndex, i: int, query: str, named: list[str]) -> float:
    """The score with district names set aside: a shared "招远市" must not make "招远市幸福大道
    9号" look like "招远市幸福苑"; a query naming another district halves the score."""
    text, cut = index.texts[i], index.prefixes[i]
    core = text[cut:]
    rest = query
    for name in named:
        rest = rest.replace(name, "", 1)
    score = _score(core, rest)
    if cut and named and text[:cut] not in named:
        score *= 0.5
    return score


@dataclass(frozen=True)
class AddressMatch:
    score: float
    text: str
    building_id: int | None
    estate_id: int | None
    grid_id: int | None


def match_address(address: str, *, limit: int = CANDIDATES) -> list[AddressMatch]:
    """The best-scoring known addresses for a free-text address, best first."""
    query = normalize(address)
    if len(query) < 2:
        return []
    index = _current()
    # Sorted: a set's order follows the per-process string hash, and the float votes summed in a
    # different order could break near-ties differently from one process to the next.
    found = [p for p in map(index.postings.get, sorted(_bigrams(query))) if p is not None]
    if not found:
        return []
    ids = np.concatenate([posting for posting, _ in found])
    weights = np.repeat(
        np.array([weight for _, weight in found], dtype=np.float32), [len(p) for p, _ in found]
    )
    votes = np.bincount(ids, weights=weights, minlength=len(index.texts))
    # Rank among the voted ids only (a city has ~100,000 addresses; a query votes for a few
    # thousand): each id appears once per shared bigram, so take enough slots for ``limit``.
    at = votes[ids]
    slots = min(len(ids), limit * 40)
    best = np.argpartition(-at, slots - 1)[:slots] if slots < len(ids) else np.arange(len(ids))
    voted = np.unique(ids[best])
    top = voted[np.argsort(-votes[voted], kind="stable")[:limit]]
    named = [d for d in index.district_names if d in query]
    matches = [
        AddressMatch(
            _district_score(index, i, query, named),
            index.texts[i],
            index.building_ids[i],
            index.estate_ids[i],
            index.grid_ids[i],
        )
        for i in (int(j) for j in top)
    ]
    # Ties go to the longer (more specific) address: a building beats its estate; then the text
    # itself, so the order never depends on how the candidates arrived.
    matches.sort(key=lambda m: m.text)
    matches.sort(key=lambda m: (m.score, len(m.text), m.building_id is not None), reverse=True)
    return matches


def _grid(grid_id: int) -> Region | None:
    """The grid of a match (from the per-process region tree; a copy)."""
    return tree.region(grid_id)


def locate_address(address: str) -> Location:
    """An address string → a grid, when one known place matches it well enough and no place in
    another grid matches it as well."""
    matches = match_address(address)
    if not matches:
        return Location(None, LocateMethod.ADDRESS, 0.0)
    best = matches[0]
    confidence = round(best.score, 3)
    if best.score < min_address_score() or best.grid_id is None:
        return Location(None, LocateMethod.ADDRESS, confidence, matched=best.text)
    for other in matches[1:]:
        if (
            other.score >= best.score
            and len(other.text) == len(best.text)
            and other.grid_id != best.grid_id
        ):
            return Location(None, LocateMethod.ADDRESS, confidence, matched=best.text)
    grid = _grid(best.grid_id)
    if grid is None:  # deleted since the index was built
        return Location(None, LocateMethod.ADDRESS, confidence, matched=best.text)
    return Location(
        grid, LocateMethod.ADDRESS, confidence, best.building_id, best.estate_id, best.text
    )


def _drop(**kwargs: object) -> None:
    invalidate()


post_save.connect(_drop, sender=Building, dispatch_uid="routing_address_index_b_save", weak=False)
post_delete.connect(_drop, sender=Building, dispatch_uid="routing_address_index_b_del", weak=False)
post_save.connect(_drop, sender=Estate, dispatch_uid="routing_address_index_e_save", weak=False)
post_delete.connect(_drop, sender=Estate, dispatch_uid="routing_address_index_e_del", weak=False)
# The index keeps the matched grids and the district names: a Region change drops it too.
post_save.connect(_drop, sender=Region, dispatch_uid="routing_address_index_r_save", weak=False)
post_delete.connect(_drop, sender=Region, dispatch_uid="routing_address_index_r_del", weak=False)
