"""Pages of the statistics: the dashboards of a region node and of a department (数据看板),
their lists and Excel exports, and the command-centre big screen (指挥中心大屏).

Views stay thin: parse the filters, fetch the node through the gate (out of scope is a 404,
like a missing one), call ``dashboard`` / ``exports``, render.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from jiayuan.core.errors import NotFound
from jiayuan.core.excel import xlsx_response
from jiayuan.stats import dashboard, exports
from jiayuan.stats.forms import PRESETS, FilterForm


def _not_found(exc: NotFound) -> Http404:
    return Http404(exc.message)


def _form(request: HttpRequest) -> FilterForm:
    return FilterForm(request.GET or {"period": ""})


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _charts(series: list[Any], summary: Any) -> dict[str, Any]:
    """What the ECharts of the page draw (the page embeds it with ``json_script``)."""
    return {
        "series": {
            "labels": [p.start.isoformat() for p in series],
            "received": [p.measures.received for p in series],
            "resolved": [p.measures.resolved for p in series],
            "resolution_rate": [_rate(p.measures.resolution_rate) for p in series],
            "satisfaction_rate": [_rate(p.measures.satisfaction_rate) for p in series],
        },
        "top_categories": [{"name": n, "value": c} for n, c in summary.measures.top_categories],
    }


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """``/stats/``: the dashboard of the user's own top node (or department)."""
    try:
        kind, pk = dashboard.home_target(request.user)
    except NotFound as exc:
        raise _not_found(exc) from exc
    target = reverse(f"stats:{kind}", args=[pk])
    query = request.GET.urlencode()
    return redirect(f"{target}?{query}" if query else target)


@login_required
def region_page(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        region = dashboard.access_dashboard_region(request.user, pk)
    except NotFound as exc:
        raise _not_found(exc) from exc
    form = _form(request)
    context: dict[str, Any] = {
        "form": form,
        "presets": PRESETS,
        "region": region,
        "crumbs": dashboard.breadcrumbs(request.user, region),
        "querystring": form.querystring(),
    }
    if not form.is_valid():
        return render(request, "stats/region.html", context, status=400)
    board = dashboard.region_dashboard(request.user, region=region, filters=form.filters())
    charts = _charts(board.series, board.summary)
    charts["first_level"] = [{"name": n, "value": c} for n, c in board.first_level]
    charts["map"] = dashboard.map_values(board.children)
    context.update(board=board, charts=charts, tables=exports.REGION_TABLES)
    return render(request, "stats/region.html", context)


@login_required
def department_page(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        department = dashboard.access_dashboard_department(request.user, pk)
    except NotFound as exc:
        raise _not_found(exc) from exc
    form = _form(request)
    context: dict[str, Any] = {
        "form": form,
        "presets": PRESETS,
        "department": department,
        "querystring": form.querystring(),
    }
    if not form.is_valid():
        return render(request, "stats/department.html", context, status=400)
    board = dashboard.department_dashboard(
        request.user, department=department, filters=form.filters()
    )
    context.update(
        board=board,
        charts=_charts(board.series, board.summary),
        tables=exports.DEPARTMENT_TABLES,
    )
    return render(request, "stats/department.html", context)


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return max(1, int(raw)) if raw.isdigit() else 1


def _list_page(request: HttpRequest, owner: dict[str, Any], kind: str) -> HttpResponse:
    if kind not in dashboard.LIST_KINDS:
        raise Http404("没有这种列表")
    page = _page_number(request)
    size = dashboard.LIST_PAGE
    if (page - 1) * size > dashboard.COUNT_CAP:
        raise Http404("页码超出范围")
    found = dashboard.ticket_list(
        request.user, kind=kind, offset=(page - 1) * size, limit=size + 1, **owner
    )
    has_next = len(found.rows) > size and page * size <= dashboard.COUNT_CAP
    found.rows = found.rows[:size]
    return render(
        request,
        "stats/list.html",
        {
            "found": found,
            "page": page,
            "has_next": has_next,
            "owner": next(iter(owner.values())),
            "owner_kind": next(iter(owner)),
        },
    )


@login_required
def region_list(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    try:
        region = dashboard.access_dashboard_region(request.user, pk)
    except NotFound as exc:
        raise _not_found(exc) from exc
    return _list_page(request, {"region": region}, kind)


@login_required
def department_list(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    try:
        department = dashboard.access_dashboard_department(request.user, pk)
    except NotFound as exc:
        raise _not_found(exc) from exc
    return _list_page(request, {"department": department}, kind)


def _bad_filters(form: FilterForm) -> HttpResponse:
    errors = [str(e) for errors in form.errors.values() for e in errors]
    return HttpResponse("筛选条件有误：" + "；".join(errors), status=400)


def _export(request: HttpRequest, *, name: str, title: str, table: Any) -> HttpResponseBase:
    headers, rows = table
    return xlsx_response(filename=f"{name}-{title}.xlsx", headers=headers, rows=rows, sheet=title)


@login_required
def region_export(request: HttpRequest, pk: int, table: str) -> HttpResponseBase:
    try:
        region = dashboard.access_dashboard_region(request.user, pk)
    except NotFound as exc:
        raise _not_found(exc) from exc
    if table not in exports.REGION_TABLES:
        raise Http404("没有这种导出")
    form = _form(request)
    if not form.is_valid():
        return _bad_filters(form)
    data = exports.region_table(request.user, region=region, table=table, filters=form.filters())
    return _export(request, name=region.name, title=exports.REGION_TABLES[table], table=data)


@login_required
def department_export(request: HttpRequest, pk: int, table: str) -> HttpResponseBase:
    try:
        department = dashboard.access_dashboard_department(request.user, pk)
    except NotFound as exc:
        raise _not_found(exc) from exc
    if table not in exports.DEPARTMENT_TABLES:
        raise Http404("没有这种导出")
    form = _form(request)
    if not form.is_valid():
        return _bad_filters(form)
    data = exports.department_table(
        request.user, department=department, table=table, filters=form.filters()
    )
    return _export(
        request, name=department.name, title=exports.DEPARTMENT_TABLES[table], table=data
    )


@login_required
def screen(request: HttpRequest) -> HttpResponse:
    """指挥中心大屏: a full-screen page that polls ``screen_json`` every 30 s."""
    try:
        region = dashboard.screen_region(request.user, request.GET.get("region"))
    except NotFound as exc:
        raise _not_found(exc) from exc
    return render(request, "stats/screen.html", {"region": region})


@never_cache
@login_required
def screen_json(request: HttpRequest) -> JsonResponse:
    try:
        region = dashboard.screen_region(request.user, request.GET.get("region"))
    except NotFound as exc:
        raise _not_found(exc) from exc
    return JsonResponse(
        dashboard.screen_data(request.user, region=region),
        json_dumps_params={"ensure_ascii": False},
    )
