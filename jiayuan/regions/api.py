"""Base-data API: regions, buildings, households, residents, care-tag types, the current user.

Every list goes through the scoping gate (``selectors.*_visible``); an id outside the user's
scope answers 404. ID and phone numbers are masked unless ``unmask=true`` is asked for by a post
that holds the right, and each such answer is written to the access log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Query, Router, Schema

from jiayuan.core.errors import PermissionDenied
from jiayuan.core.masking import can_unmask, log_unmasked
from jiayuan.core.paging import PageIn, paginate
from jiayuan.core.scoping import scope_for
from jiayuan.regions import selectors
from jiayuan.regions.models import CareTagType, Household, Resident
from jiayuan.staff.selectors import active_posts

router = Router()


class RegionOut(Schema):
    id: int
    code: str
    name: str
    level: str
    kind: str
    parent_id: int | None
    household_count: int
    center_lng: float | None
    center_lat: float | None


class RegionDetailOut(RegionOut):
    boundary: dict[str, Any] | None
    path: list[str]


class BuildingOut(Schema):
    id: int
    code: str
    name: str
    address: str
    grid_id: int
    grid: str
    estate: str | None
    lng: float | None
    lat: float | None
    floors: int | None
    households: int


class HouseholdOut(Schema):
    id: int
    code: str
    building_id: int
    address: str
    unit: str
    room: str
    grid_id: int
    head_name: str
    rental_status: str
    party_member_center: bool


class ResidentOut(Schema):
    id: int
    name: str
    gender: str
    birth_date: dt.date | None
    id_number: str
    phone: str
    relation: str
    household_id: int
    address: str
    grid: str
    grid_id: int
    is_party_member: bool
    is_building_leader: bool
    care_tags: list[str]
    masked: bool


class CareTagOut(Schema):
    code: str
    name: str
    description: str
    visit_interval_days: int | None


class PostOut(Schema):
    id: int
    role: str
    role_label: str
    region_id: int | None
    region: str | None
    department_id: int | None
    department: str | None
    can_view_personal: bool


class MeOut(Schema):
    username: str
    full_name: str
    posts: list[PostOut]
    sees_everything: bool


def _region_out(r: Any) -> dict[str, Any]:
    return {
        "id": r.pk,
        "code": r.code,
        "name": r.name,
        "level": r.level,
        "kind": r.kind,
        "parent_id": r.parent_id,
        "household_count": r.household_count,
        "center_lng": r.center_lng,
        "center_lat": r.center_lat,
    }


def _building_out(b: Any) -> dict[str, Any]:
    return {
        "id": b.pk,
        "code": b.code,
        "name": b.name,
        "address": b.address,
        "grid_id": b.grid_id,
        "grid": b.grid.name,
        "estate": b.estate.name if b.estate_id else None,
        "lng": b.lng,
        "lat": b.lat,
        "floors": b.floors,
        "households": getattr(b, "n_households", 0),
    }


def _household_out(h: Household) -> dict[str, Any]:
    return {
        "id": h.pk,
        "code": h.code,
        "building_id": h.building_id,
        "address": h.building.address,
        "unit": h.unit.number,
        "room": h.room,
        "grid_id": h.grid_id,
        "head_name": h.head_name,
        "rental_status": h.rental_status,
        "party_member_center": h.party_member_center,
    }


def _want_unmasked(request: HttpRequest, unmask: bool) -> bool:
    if not unmask:
        return False
    if not can_unmask(request.user):
        raise PermissionDenied("您的岗位无权查看完整个人信息")
    return True


@router.get("/me", response=MeOut, tags=["账号"], summary="当前用户与岗位")
def me(request: HttpRequest) -> dict[str, Any]:
    user: Any = request.user
    return {
        "username": user.get_username(),
        "full_name": user.get_full_name(),
        "sees_everything": scope_for(user).everything,
        "posts": [
            {
                "id": p.pk,
                "role": p.role,
                "role_label": p.get_role_display(),
                "region_id": p.region_id,
                "region": p.region.name if p.region_id else None,
                "department_id": p.department_id,
                "department": p.department.name if p.department_id else None,
                "can_view_personal": p.can_view_personal,
            }
            for p in active_posts(user)
        ],
    }


class RegionFilter(Schema):
    parent: int | None = None
    level: str | None = None
    q: str | None = None


@router.get("/regions", tags=["区划网格"], summary="区划与网格列表")
def list_regions(
    request: HttpRequest, filters: Query[RegionFilter], paging: Query[PageIn]
) -> dict[str, Any]:
    qs = selectors.regions_visible(
        request.user, parent_id=filters.parent, level=filters.level, q=filters.q
    )
    items, meta = paginate(qs, paging)
    return {**meta, "items": [_region_out(r) for r in items]}


@router.get("/regions/{region_id}", response=RegionDetailOut, tags=["区划网格"])
def get_region(request: HttpRequest, region_id: int) -> dict[str, Any]:
    r = selectors.access_region(request.user, region_id)
    return {**_region_out(r), "boundary": r.boundary, "path": r.ancestor_codes()}


class BuildingFilter(Schema):
    region: int | None = None
    q: str | None = None


@router.get("/buildings", tags=["楼栋"], summary="楼栋列表")
def list_buildings(
    request: HttpRequest, filters: Query[BuildingFilter], paging: Query[PageIn]
) -> dict[str, Any]:
    qs = selectors.buildings_visible(request.user, region_id=filters.region, q=filters.q)
    items, meta = paginate(qs, paging)
    return {**meta, "items": [_building_out(b) for b in items]}


@router.get("/buildings/{building_id}", response=BuildingOut, tags=["楼栋"])
def get_building(request: HttpRequest, building_id: int) -> dict[str, Any]:
    b = selectors.access_building(request.user, building_id)
    out = _building_out(b)
    out["households"] = b.households.count()
    return out


class HouseholdFilter(Schema):
    region: int | None = None
    building: int | None = None
    q: str | None = None
    rental_status: str | None = None
    party_member_center: str | None = None


@router.get("/households", tags=["住户"], summary="住户列表")
def list_households(
    request: HttpRequest, filters: Query[HouseholdFilter], paging: Query[PageIn]
) -> dict[str, Any]:
    qs = selectors.households_visible(
        request.user,
        region_id=filters.region,
        building_id=filters.building,
        q=filters.q,
        rental_status=filters.rental_status,
        party_member_center=filters.party_member_center,
    )
    items, meta = paginate(qs, paging)
    return {**meta, "items": [_household_out(h) for h in items]}


@router.get("/households/{household_id}", response=HouseholdOut, tags=["住户"])
def get_household(request: HttpRequest, household_id: int) -> dict[str, Any]:
    return _household_out(selectors.access_household(request.user, household_id))


class ResidentFilter(Schema):
    region: int | None = None
    household: int | None = None
    q: str | None = None
    care_tag: str | None = None
    party_member: str | None = None
    building_leader: str | None = None
    unmask: bool = False


def _residents_out(request: HttpRequest, residents: list[Resident], unmask: bool) -> list[Any]:
    unmasked = _want_unmasked(request, unmask)
    if unmasked and residents:
        log_unmasked(
            user=request.user,
            action="api",
            model=Resident,
            object_ids=[r.pk for r in residents],
            request=request,
        )
    return [
        selectors.present_resident(r, unmasked=unmasked, tags=[t.name for t in r.care_tags.all()])
        for r in residents
    ]


@router.get("/residents", tags=["居民"], summary="居民列表（默认脱敏）")
def list_residents(
    request: HttpRequest, filters: Query[ResidentFilter], paging: Query[PageIn]
) -> dict[str, Any]:
    qs = selectors.residents_visible(
        request.user,
        region_id=filters.region,
        household_id=filters.household,
        q=filters.q,
        care_tag=filters.care_tag,
        party_member=filters.party_member,
        building_leader=filters.building_leader,
    ).prefetch_related(Prefetch("care_tags", queryset=CareTagType.objects.order_by("sort")))
    items, meta = paginate(qs, paging)
    return {**meta, "items": _residents_out(request, items, filters.unmask)}


@router.get("/residents/{resident_id}", response=ResidentOut, tags=["居民"])
def get_resident(request: HttpRequest, resident_id: int, unmask: bool = False) -> Any:
    r = selectors.access_resident(request.user, resident_id)
    return _residents_out(request, [r], unmask)[0]


@router.get("/care-tag-types", response=list[CareTagOut], tags=["居民"])
def list_care_tag_types(request: HttpRequest) -> Any:
    return list(CareTagType.objects.all())
