"""Pages of the base data: the grid map, grid cards, building boards, lists, details, export.

Views stay thin: parse the query string, call a selector (``selectors`` / ``page_selectors``),
render. A ``JiayuanError`` becomes a Chinese message on the page with its status (400 for bad
input); ``NotFound`` (missing or out of scope, never told apart) becomes a 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import segno
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache

from jiayuan.core.errors import JiayuanError, NotFound
from jiayuan.core.excel import xlsx_response
from jiayuan.core.masking import can_unmask, log_unmasked
from jiayuan.regions import page_selectors
from jiayuan.regions.choices import Level, RentalStatus
from jiayuan.regions.models import Building, CareTagType, Household, Region, Resident
from jiayuan.regions.selectors import (
    RESIDENT_EXPORT_HEADERS,
    access_building,
    access_household,
    access_resident,
    buildings_visible,
    households_visible,
    present_resident,
    regions_visible,
    resident_export_row,
    residents_visible,
)

PAGE_SIZE = 50


def _raise_not_found(exc: JiayuanError) -> None:
    if isinstance(exc, NotFound):
        raise Http404(exc.message) from exc


def _message(request: HttpRequest, exc: JiayuanError) -> HttpResponse:
    """A JiayuanError as a page (or an htmx fragment) with its Chinese message and status."""
    _raise_not_found(exc)
    template = "regions/_message.html" if request.htmx else "regions/message.html"  # type: ignore[attr-defined]
    return render(request, template, {"error": exc}, status=exc.status)


# ---------------------------------------------------------------------------------------------
# Grid map (网格图) and grid card


@login_required
def grid_map(request: HttpRequest) -> HttpResponse:
    """网格图: Leaflet draws the grids in scope (no tile layer: intranets have no internet)."""
    parent = request.GET.get("parent", "")
    grid = request.GET.get("grid", "")
    return render(
        request,
        "regions/map.html",
        {
            "parent": parent if parent.isdigit() else "",
            "grid": grid if grid.isdigit() else "",
            "kinds": page_selectors.grid_kind_legend(),
        },
    )


@login_required
def grid_geojson(request: HttpRequest) -> JsonResponse:
    """The features of the map as GeoJSON: the grids in scope or the children of ``?parent``."""
    try:
        layer = page_selectors.map_layer(request.user, parent_id=request.GET.get("parent"))
    except JiayuanError as exc:
        _raise_not_found(exc)
        return JsonResponse(exc.as_dict(), status=exc.status)
    return JsonResponse(layer.as_geojson(), json_dumps_params={"ensure_ascii": False})


@login_required
def grid_card(request: HttpRequest, pk: int) -> HttpResponse:
    """The grid card: a fragment for the map (htmx), a whole page otherwise."""
    try:
        card = page_selectors.grid_card(request.user, pk)
    except JiayuanError as exc:
        return _message(request, exc)
    template = "regions/_grid_card.html" if request.htmx else "regions/grid_card.html"  # type: ignore[attr-defined]
    return render(request, template, {"card": card})


# ---------------------------------------------------------------------------------------------
# Building board (一牌四公开) and its QR code


def _public_url(building: Building) -> str:
    return settings.PUBLIC_BASE_URL + reverse("regions:building_public", args=[building.qr_token])


def _qr(building: Building) -> segno.QRCode:
    return segno.make(_public_url(building), error="m")


@login_required
def building_board(request: HttpRequest, pk: int) -> HttpResponse:
    """The printable A4 board of a building, with the QR code to its public page."""
    try:
        board = page_selectors.building_board(request.user, pk)
    except JiayuanError as exc:
        return _message(request, exc)
    qr_svg = _qr(board.building).svg_inline(scale=5, border=2, title="扫码查看本楼网格服务")
    return render(
        request,
        "regions/board.html",
        {
            "board": board,
            "qr_svg": mark_safe(qr_svg),  # segno's own output, no user data in markup
            "public_url": _public_url(board.building),
        },
    )


@login_required
def building_qr(request: HttpRequest, pk: int) -> HttpResponse:
    """The QR code of a building as an SVG image (for printing elsewhere)."""
    try:
        building = access_building(request.user, pk)
    except JiayuanError as exc:
        return _message(request, exc)
    svg = _qr(building).svg_inline(scale=10, border=2)
    body = '<?xml version="1.0" encoding="utf-8"?>\n' + svg.replace(
        "<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1
    )
    return HttpResponse(body, content_type="image/svg+xml")


def building_public(request: HttpRequest, token: str) -> HttpResponse:
    """What a resident sees after scanning the board: no login, nothing personal beyond it."""
    try:
        board = page_selectors.public_board(token)
    except JiayuanError as exc:
        _raise_not_found(exc)
        raise
    return render(request, "regions/public.html", {"board": board})


# ---------------------------------------------------------------------------------------------
# Lists


@dataclass(frozen=True)
class ListSpec:
    """One base-data list: its selector, the query-string filters it takes, how rows look."""

    kind: str
    title: str
    template: str
    table: str
    select: Callable[..., Any]
    params: dict[str, str]  # query-string name -> selector keyword


LISTS: dict[str, ListSpec] = {
    "regions": ListSpec(
        "regions",
        "区划与网格",
        "regions/region_list.html",
        "regions/_region_table.html",
        regions_visible,
        {"q": "q", "region": "parent_id", "level": "level"},
    ),
    "buildings": ListSpec(
        "buildings",
        "楼栋",
        "regions/building_list.html",
        "regions/_building_table.html",
        buildings_visible,
        {"q": "q", "region": "region_id"},
    ),
    "households": ListSpec(
        "households",
        "住户台账",
        "regions/household_list.html",
        "regions/_household_table.html",
        households_visible,
        {
            "q": "q",
            "region": "region_id",
            "building": "building_id",
            "rental_status": "rental_status",
            "party_member_center": "party_member_center",
        },
    ),
    "residents": ListSpec(
        "residents",
        "居民名册",
        "regions/resident_list.html",
        "regions/_resident_table.html",
        residents_visible,
        {
            "q": "q",
            "region": "region_id",
            "household": "household_id",
            "care_tag": "care_tag",
            "party_member": "party_member",
            "building_leader": "building_leader",
        },
    ),
}


def _filters(spec: ListSpec, query: QueryDict) -> dict[str, Any]:
    return {keyword: query.get(name, "").strip() or None for name, keyword in spec.params.items()}


def _querystring(query: QueryDict, *, drop: tuple[str, ...] = ("page",)) -> str:
    kept = query.copy()
    for name in drop:
        kept.pop(name, None)
    for name in list(kept.keys()):
        if not kept.get(name):
            kept.pop(name)
    return kept.urlencode()


def _rows(spec: ListSpec, objects: Any) -> list[Any]:
    if spec.kind == "residents":
        return [present_resident(r, unmasked=False) for r in objects]
    return list(objects)


def _list_page(request: HttpRequest, kind: str) -> HttpResponse:
    spec = LISTS[kind]
    query = request.GET
    context: dict[str, Any] = {
        "spec": spec,
        "f": {name: query.get(name, "") for name in spec.params},
        "querystring": _querystring(query),
        "can_unmask": can_unmask(request.user),
        "error": None,
        "page": None,
        "rows": [],
    }
    status = 200
    try:
        qs = spec.select(request.user, **_filters(spec, query))
        if kind == "residents":
            qs = qs.prefetch_related("care_tags")
        page = Paginator(qs, PAGE_SIZE).get_page(query.get("page"))
        context["page"] = page
        context["rows"] = _rows(spec, page.object_list)
    except JiayuanError as exc:
        _raise_not_found(exc)
        context["error"] = exc
        status = exc.status
    if request.htmx and request.htmx.target == "results":  # type: ignore[attr-defined]
        return render(request, spec.table, context, status=status)
    context["region_options"] = page_selectors.region_options(
        request.user, selected_id=query.get("region")
    )
    if kind == "regions":
        context["levels"] = Level.choices
    elif kind == "households":
        context["rental_statuses"] = RentalStatus.choices
    elif kind == "residents":
        context["care_tags"] = list(CareTagType.objects.values_list("code", "name"))
    return render(request, spec.template, context, status=status)


@login_required
def region_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, "regions")


@login_required
def building_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, "buildings")


@login_required
def household_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, "households")


@login_required
def resident_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, "residents")


# ---------------------------------------------------------------------------------------------
# Details


@login_required
def household_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One household and its residents (ID and phone masked)."""
    try:
        household = access_household(request.user, pk)
        residents = residents_visible(request.user, household_id=household.pk).prefetch_related(
            "care_tags"
        )
    except JiayuanError as exc:
        return _message(request, exc)
    return render(
        request,
        "regions/household_detail.html",
        {
            "household": household,
            "residents": [present_resident(r, unmasked=False) for r in residents],
        },
    )


@login_required
def resident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One resident, masked; a post that may unmask gets a button that reveals (and logs)."""
    try:
        resident = access_resident(request.user, pk)
    except JiayuanError as exc:
        return _message(request, exc)
    return render(
        request,
        "regions/resident_detail.html",
        {
            "r": present_resident(resident, unmasked=False),
            "resident": resident,
            "can_unmask": can_unmask(request.user),
        },
    )


@never_cache
@login_required
def resident_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """显示完整信息: the unmasked ID and phone of one resident, written to the access log."""
    try:
        resident = access_resident(request.user, pk)
    except JiayuanError as exc:
        return _message(request, exc)
    if not can_unmask(request.user):
        return render(
            request,
            "regions/_message.html",
            {"error": JiayuanError("您的岗位无权查看完整个人信息", code="permission_denied")},
            status=403,
        )
    log_unmasked(
        user=request.user, action="view", model=Resident, object_ids=[resident.pk], request=request
    )
    return render(
        request,
        "regions/_resident_personal.html",
        {"r": present_resident(resident, unmasked=True), "revealed": True},
    )


# ---------------------------------------------------------------------------------------------
# Excel export


def _export_rows(kind: str, qs: Any, *, unmasked: bool, counter: list[int]) -> Iterator[list[Any]]:
    if kind == "residents":
        for r in qs.prefetch_related("care_tags").iterator(chunk_size=2000):
            counter[0] += 1
            yield resident_export_row(present_resident(r, unmasked=unmasked))
        return
    for obj in qs.iterator(chunk_size=2000):
        counter[0] += 1
        if kind == "regions":
            region: Region = obj
            yield [
                region.code,
                region.name,
                region.get_level_display(),
                region.get_kind_display(),
                region.parent.name if region.parent else "",
                region.household_count,
            ]
        elif kind == "buildings":
            b: Building = obj
            yield [
                b.code,
                b.name,
                b.address,
                b.grid.name,
                b.estate.name if b.estate else "",
                getattr(b, "n_households", ""),
                b.floors,
                b.lng,
                b.lat,
            ]
        else:
            h: Household = obj
            yield [
                h.code,
                f"{h.building.address}{h.unit.number}单元{h.room}",
                h.head_name,
                h.get_rental_status_display(),
                h.party_member_center,
                h.grid.name,
            ]


EXPORT_HEADERS = {
    "regions": ["统一编码", "名称", "层级", "网格类型", "上级", "户数"],
    "buildings": ["楼栋编码", "楼栋名称", "地址", "网格", "小区", "户数", "层数", "经度", "纬度"],
    "households": ["户编码", "地址", "户主姓名", "居住状态", "党员中心户", "网格"],
    "residents": RESIDENT_EXPORT_HEADERS,
}


@login_required
def export_list(request: HttpRequest, kind: str) -> HttpResponseBase:
    """The current filtered list as .xlsx; masked unless ``?unmask=1`` by a post that may."""
    spec = LISTS.get(kind)
    if spec is None:
        raise Http404("没有这种导出")
    unmask = request.GET.get("unmask") == "1"
    if unmask and not can_unmask(request.user):
        return _message(
            request,
            JiayuanError("您的岗位无权导出完整个人信息", code="permission_denied", status=403),
        )
    try:
        qs = spec.select(request.user, **_filters(spec, request.GET))
    except JiayuanError as exc:
        return _message(request, exc)
    counter = [0]
    unmasked = unmask and kind == "residents"
    response = xlsx_response(
        filename=f"{spec.title}.xlsx",
        headers=EXPORT_HEADERS[kind],
        rows=_export_rows(kind, qs, unmasked=unmasked, counter=counter),
        sheet=spec.title,
    )
    if unmasked:
        log_unmasked(
            user=request.user,
            action="export",
            model=Resident,
            request=request,
            count=counter[0],
            note=_querystring(request.GET, drop=("page", "unmask"))[:200],
        )
    return response
