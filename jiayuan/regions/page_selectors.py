"""Reads behind the base-data pages: the grid map (网格图), the grid card, the building board
(一牌四公开) and the filter choices of the lists.

Every function that serves a logged-in user starts from ``visible_to(user)``; the one exception
is ``public_board``, which serves the QR code printed on a building and shows only what the
printed board itself shows (names of the grid worker and building leader, a work phone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jiayuan.core.errors import NotFound
from jiayuan.core.masking import mask_phone
from jiayuan.core.scoping import PATH_SEP, WHOLE_TREE, scope_for
from jiayuan.party.models import OrgKind, PartyOrg
from jiayuan.regions.choices import GridKind, Level
from jiayuan.regions.models import Building, Household, Region, Resident
from jiayuan.regions.selectors import access_building, access_region
from jiayuan.staff.choices import Role
from jiayuan.staff.models import Post
from jiayuan.staff.selectors import display_name

# A map payload stays below this many features; wider scopes are shown one level up.
MAP_FEATURE_CAP = 3000
# The filter select of the lists shows the user's top nodes and two levels below, at most this.
REGION_OPTION_CAP = 400
SUPERVISION_HOTLINE = "12345"
# 一牌四公开: the services a grid offers its residents (公开服务事项).
GRID_SERVICES = [
    "政策咨询与代办帮办（社保、医保、救助、证照）",
    "矛盾纠纷排查调解",
    "独居老人、困难群众等重点人群走访关爱",
    "安全隐患与环境卫生问题巡查上报",
    "居民诉求受理、转办与反馈（小事不出网格）",
]


def _scope_roots(user: Any) -> list[Region]:
    """The outermost region nodes the user sees (the roots of the tree for everything)."""
    scope = scope_for(user)
    if scope.everything or WHOLE_TREE in scope.region_paths:
        return list(Region.objects.filter(parent__isnull=True))
    if not scope.region_paths:
        return []
    codes = {p.split(PATH_SEP)[-1] for p in scope.region_paths}
    nodes = list(Region.objects.filter(code__in=codes))
    # Drop nodes inside another node of the scope.
    paths = [n.path for n in nodes]
    return [
        n for n in nodes if not any(n.path.startswith(p + PATH_SEP) for p in paths if p != n.path)
    ]


def _geometry(region: Region) -> dict[str, Any] | None:
    boundary = region.boundary
    if isinstance(boundary, dict):
        if boundary.get("type") == "Feature":
            boundary = boundary.get("geometry")
        if isinstance(boundary, dict) and boundary.get("type") in ("Polygon", "MultiPolygon"):
            return boundary
    if region.center_lng is not None and region.center_lat is not None:
        return {"type": "Point", "coordinates": [region.center_lng, region.center_lat]}
    return None


@dataclass
class MapLayer:
    """What the map shows: the regions of one level under one node (or the user's scope)."""

    features: list[dict[str, Any]] = field(default_factory=list)
    level: str = Level.GRID
    parent: Region | None = None
    truncated: bool = False

    def as_geojson(self) -> dict[str, Any]:
        return {
            "type": "FeatureCollection",
            "features": self.features,
            "properties": {
                "level": self.level,
                "parent": (
                    {
                        "id": self.parent.pk,
                        "name": self.parent.name,
                        "parent_id": self.parent.parent_id,
                    }
                    if self.parent is not None
                    else None
                ),
                "truncated": self.truncated,
            },
        }


def map_layer(user: Any, *, parent_id: Any = None) -> MapLayer:
    """Grid map (网格图) features in scope.

    With ``parent_id``: the children of that node. Without: the grids of the user's scope (the
    micro-grids when it holds no whole grid), or, when they are more than ``MAP_FEATURE_CAP``, its
    communities (or streets) instead, so a city or district post gets a map it can drill into
    rather than a payload of ten thousand grids.
    """
    visible = Region.objects.visible_to(user)
    parent: Region | None = None
    if parent_id not in (None, ""):
        parent = access_region(user, parent_id)
        qs = visible.filter(parent=parent)
        level = qs.values_list("level", flat=True).first() or Level.GRID
    else:
        level = Level.GRID
        n_grids = visible.filter(level=Level.GRID).count()
        if n_grids == 0:
            # A post at a micro-grid (a building leader's) sees no whole grid: show its own.
            level = Level.MICRO_GRID
        elif n_grids > MAP_FEATURE_CAP:
            for candidate in (Level.COMMUNITY, Level.STREET, Level.DISTRICT):
                level = candidate
                if visible.filter(level=candidate).count() <= MAP_FEATURE_CAP:
                    break
        qs = visible.filter(level=level)
    rows = list(
        qs.only(
            "id",
            "name",
            "code",
            "level",
            "kind",
            "household_count",
            "boundary",
            "center_lng",
            "center_lat",
            "parent_id",
        ).order_by("path")[: MAP_FEATURE_CAP + 1]
    )
    layer = MapLayer(level=level, parent=parent, truncated=len(rows) > MAP_FEATURE_CAP)
    for region in rows[:MAP_FEATURE_CAP]:
        geometry = _geometry(region)
        if geometry is None:
            continue
        layer.features.append(
            {
                "type": "Feature",
                "id": region.pk,
                "geometry": geometry,
                "properties": {
                    "id": region.pk,
                    "name": region.name,
                    "code": region.code,
                    "level": region.level,
                    "kind": region.kind or region.level,
                    "kind_label": region.get_kind_display() or region.get_level_display(),
                    "household_count": region.household_count,
                },
            }
        )
    return layer


def _grid_workers(grid: Region, user: Any | None) -> list[dict[str, str]]:
    posts = Post.objects.all() if user is None else Post.objects.visible_to(user)
    return [
        {
            "name": display_name(p.user),
            "title": p.title or p.get_role_display(),
            "work_phone": p.work_phone,
        }
        for p in posts.filter(role=Role.GRID_WORKER, region=grid, is_active=True)
        .select_related("user")
        .order_by("id")
    ]


def _grid_branch(grid: Region) -> PartyOrg | None:
    return PartyOrg.objects.filter(kind=OrgKind.GRID_BRANCH, region=grid).order_by("code").first()


@dataclass
class GridCard:
    grid: Region
    community: Region | None
    workers: list[dict[str, str]]
    leaders: list[dict[str, str]]
    household_count: int
    resident_count: int
    branch: PartyOrg | None
    buildings: list[Building]


def grid_card(user: Any, pk: Any) -> GridCard:
    """The card shown when a grid is clicked on the map. Not a grid, or out of scope: NotFound."""
    grid = access_region(user, pk)
    if grid.level not in (Level.GRID, Level.MICRO_GRID):
        raise NotFound()
    leaders = [
        {"name": r.name, "phone": mask_phone(r.phone)}
        for r in Resident.objects.visible_to(user)
        .filter(grid=grid, is_building_leader=True)
        .only("name", "phone")
        .order_by("id")[:50]
    ]
    return GridCard(
        grid=grid,
        community=grid.parent,
        workers=_grid_workers(grid, user),
        leaders=leaders,
        household_count=Household.objects.visible_to(user).filter(grid=grid).count(),
        resident_count=Resident.objects.visible_to(user).filter(grid=grid).count(),
        branch=_grid_branch(grid),
        buildings=list(Building.objects.visible_to(user).filter(grid=grid).order_by("code")[:200]),
    )


@dataclass
class Board:
    """一牌四公开: who the grid worker is, how to reach them, the services, the supervision."""

    building: Building
    grid: Region
    community: Region | None
    workers: list[dict[str, str]]
    leaders: list[str]
    branch: PartyOrg | None
    building_group: PartyOrg | None
    party_center_count: int
    services: list[str]
    hotline: str = SUPERVISION_HOTLINE


def _board(building: Building, user: Any | None) -> Board:
    grid = building.grid
    return Board(
        building=building,
        grid=grid,
        community=grid.parent,
        workers=_grid_workers(grid, user),
        leaders=list(
            Resident.objects.filter(household__building=building, is_building_leader=True)
            .order_by("id")
            .values_list("name", flat=True)[:10]
        ),
        branch=_grid_branch(grid),
        building_group=PartyOrg.objects.filter(kind=OrgKind.BUILDING_GROUP, building=building)
        .order_by("code")
        .first(),
        party_center_count=Household.objects.filter(
            building=building, party_member_center=True
        ).count(),
        services=GRID_SERVICES,
    )


def building_board(user: Any, pk: Any) -> Board:
    """The printable board of a building in the user's scope."""
    return _board(access_building(user, pk), user)


def public_board(token: str) -> Board:
    """The board behind a building's QR code, for anyone (no login): NotFound for a bad token."""
    building = (
        Building.objects.select_related("grid__parent").filter(qr_token=token).first()
        if token
        else None
    )
    if building is None:
        raise NotFound("未找到该楼栋，请核对二维码")
    return _board(building, None)


def region_options(user: Any, *, selected_id: Any = None) -> list[dict[str, Any]]:
    """Choices of the region filter: the user's top nodes and two levels below them (capped)."""
    roots = _scope_roots(user)
    if not roots:
        return []
    min_depth = min(r.depth for r in roots)
    qs = (
        Region.objects.visible_to(user)
        .filter(depth__lte=min_depth + 2)
        .exclude(level=Level.MICRO_GRID)
        .only("id", "name", "level", "depth")
        .order_by("path")
    )
    rows = list(qs[:REGION_OPTION_CAP])
    selected = None
    if selected_id not in (None, ""):
        try:
            selected = int(selected_id)
        except (TypeError, ValueError):
            selected = None
    if selected is not None and all(r.pk != selected for r in rows):
        extra = Region.objects.visible_to(user).filter(pk=selected).first()
        if extra is not None:
            rows.insert(0, extra)
    return [
        {
            "id": r.pk,
            "label": "　" * max(r.depth - min_depth, 0) + r.name,
            "selected": r.pk == selected,
        }
        for r in rows
    ]


def grid_kind_legend() -> list[tuple[str, str]]:
    return [(k.value, k.label) for k in GridKind]
