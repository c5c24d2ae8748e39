"""GeoReport v2 endpoints under /open311/v2/. Thin: parse, call one selector or service,
render as JSON or XML by the URL's extension. Public GETs; POST requests needs an api_key and
is CSRF-exempt (third-party clients have no session)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from jiayuan.core.errors import JiayuanError
from jiayuan.open311 import selectors, services
from jiayuan.open311.render import FORMATS, error, respond

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this API last changed in a way a client could notice (the discovery changeset).
CHANGESET = "2026-11-23T00:00:00+08:00"


def jurisdiction_id() -> str:
    return str(
        getattr(settings, "OPEN311_JURISDICTION_ID", "")
        or os.environ.get("JIAYUAN_OPEN311_JURISDICTION_ID", "yantai.gov.cn")
    )


def open311_view(*methods: str) -> Callable[..., Callable[..., HttpResponse]]:
    """Format check, method check (405), jurisdiction check (404) and domain errors → the
    Open311 error array, for every endpoint."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, fmt: str, **kwargs: Any) -> HttpResponse:
            if fmt not in FORMATS:
                return error("json", 404, f"不支持的格式：{fmt}，请用 .json 或 .xml (format)")
            if request.method not in methods:
                response = error(fmt, 405, f"不支持 {request.method} 方法 (method not allowed)")
                response["Allow"] = ", ".join(methods)
                return response
            params = request.POST if request.method == "POST" else request.GET
            jid = params.get("jurisdiction_id", "").strip()
            if jid and jid != jurisdiction_id():
                return error(fmt, 404, f"jurisdiction_id 不存在：{jid} (jurisdiction not found)")
            try:
                return view(request, *args, fmt=fmt, **kwargs)
            except JiayuanError as exc:
                return error(fmt, exc.status, exc.message)

        return wrapper

    return decorate


@open311_view("GET")
def discovery(request: HttpRequest, *, fmt: str) -> HttpResponse:
    base = settings.PUBLIC_BASE_URL
    contact = os.environ.get(
        "JIAYUAN_OPEN311_CONTACT", f"{settings.SITE_NAME}：网格化管理服务中心，电话 12345"
    )
    data = {
        "changeset": CHANGESET,
        "contact": contact,
        "key_service": f"请向平台管理员申请 api_key（{base}/admin/open311/apikey/）",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": f"{base}/open311/v2",
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return respond(fmt, "discovery", data)


@open311_view("GET")
def services_list(request: HttpRequest, *, fmt: str) -> HttpResponse:
    return respond(fmt, "services", selectors.services_list())


@open311_view("GET")
def service_definition(request: HttpRequest, code: str, *, fmt: str) -> HttpResponse:
    return respond(fmt, "service_definition", selectors.service_definition(code))


def _split(value: str | None) -> list[str] | None:
    if not value:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def _request_filter(params: Any) -> selectors.RequestFilter:
    statuses = _split(params.get("status"))
    if statuses and not set(statuses) <= {"open", "closed"}:
        raise JiayuanError("status 只能是 open 或 closed (status must be open or closed)")
    start = params.get("start_date", "").strip()
    end = params.get("end_date", "").strip()
    start_dt = services.parse_w3c(start, "start_date") if start else None
    end_dt = services.parse_w3c(end, "end_date") if end else None
    if start_dt and end_dt:
        if end_dt < start_dt:
            raise JiayuanError("end_date 早于 start_date (end_date before start_date)")
        if end_dt - start_dt > selectors.DEFAULT_SPAN:
            raise JiayuanError(
                "start_date 与 end_date 相差不能超过90天 (range may not span more than 90 days)"
            )
    return selectors.RequestFilter(
        ids=_split(params.get("service_request_id")),
        service_codes=_split(params.get("service_code")),
        start=start_dt,
        end=end_dt,
        statuses=statuses,
    )


@csrf_exempt
@open311_view("GET", "POST")
def requests(request: HttpRequest, *, fmt: str) -> HttpResponse:
    if request.method == "GET":
        query = _request_filter(request.GET)
        return respond(fmt, "service_requests", selectors.requests_list(query=query))
    key = services.apikey_authenticate(
        raw=request.POST.get("api_key") or request.GET.get("api_key", "")
    )
    submission = services.request_submit(
        key=key,
        posted=services.PostedRequest.from_form(request.POST),
        idempotency_key=request.headers.get("Idempotency-Key", ""),
    )
    return respond(fmt, "service_requests", [submission.as_dict()])


@open311_view("GET")
def request_detail(request: HttpRequest, service_request_id: str, *, fmt: str) -> HttpResponse:
    return respond(fmt, "service_requests", [selectors.request_detail(service_request_id)])


@open311_view("GET")
def token(request: HttpRequest, token: str, *, fmt: str) -> HttpResponse:
    return respond(fmt, "service_requests", [selectors.request_by_token(token)])
