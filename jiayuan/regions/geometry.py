"""Synthetic but valid geometry for the demo city: rectangles that tile their parent exactly.

A binary treemap: the children (in code order, so neighbours in code are neighbours on the map)
are split into two runs of about equal weight, the rectangle is cut across its longer side in
proportion, and each half is split again. Every cut is rounded to 1e-6 degree (about 0.1 m)
*before* both sides use it, so siblings share exactly the same edge: their union is the parent
and they never overlap, in floating point too.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Yantai's approximate bounding box (烟台市): lng 119.6–121.9, lat 36.6–37.9.
YANTAI_BBOX = (119.6, 36.6, 121.9, 37.9)
# A degree of longitude is shorter than a degree of latitude this far north.
_LNG_SCALE = math.cos(math.radians(37.25))
_DIGITS = 6


@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned rectangle in degrees: x is longitude, y is latitude."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def center(self) -> tuple[float, float]:
        return (round((self.x0 + self.x1) / 2, _DIGITS), round((self.y0 + self.y1) / 2, _DIGITS))

    def geojson(self) -> dict[str, Any]:
        """The rectangle as a GeoJSON Polygon: one closed ring of [lng, lat], counter-clockwise."""
        x0, y0, x1, y1 = self.x0, self.y0, self.x1, self.y1
        return {
            "type": "Polygon",
            "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
        }

    def random_point(self, rng: random.Random, margin: float = 0.15) -> tuple[float, float]:
        """A point strictly inside, ``margin`` (a share of each side) away from the edges."""
        w, h = self.x1 - self.x0, self.y1 - self.y0
        x = self.x0 + w * (margin + (1 - 2 * margin) * rng.random())
        y = self.y0 + h * (margin + (1 - 2 * margin) * rng.random())
        return (round(x, _DIGITS), round(y, _DIGITS))


def tile(rect: Rect, weights: Sequence[float]) -> list[Rect]:
    """Cut ``rect`` into ``len(weights)`` rectangles with areas proportional to ``weights``.

    The result is in the order of ``weights``; consecutive items are adjacent.
    """
    if not weights:
        return []
    out: list[Rect] = [rect] * len(weights)
    _split(rect, [max(float(w), 1e-9) for w in weights], 0, len(weights), out)
    return out


def _split(rect: Rect, weights: list[float], lo: int, hi: int, out: list[Rect]) -> None:
    if hi - lo == 1:
        out[lo] = rect
        return
    total = sum(weights[lo:hi])
    # The cut that makes the two runs as equal in weight as possible.
    acc, mid, best = 0.0, lo + 1, math.inf
    for i in range(lo, hi - 1):
        acc += weights[i]
        gap = abs(total / 2 - acc)
        if gap < best:
            best, mid = gap, i + 1
    share = sum(weights[lo:mid]) / total
    wide = (rect.x1 - rect.x0) * _LNG_SCALE >= (rect.y1 - rect.y0)
    if wide:
        cut = round(rect.x0 + (rect.x1 - rect.x0) * share, _DIGITS)
        first, second = Rect(rect.x0, rect.y0, cut, rect.y1), Rect(cut, rect.y0, rect.x1, rect.y1)
    else:
        cut = round(rect.y0 + (rect.y1 - rect.y0) * share, _DIGITS)
        first, second = Rect(rect.x0, rect.y0, rect.x1, cut), Rect(rect.x0, cut, rect.x1, rect.y1)
    _split(first, weights, lo, mid, out)
    _split(second, weights, mid, hi, out)
