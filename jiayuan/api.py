"""The JSON API at /api/v1/ (django-ninja; OpenAPI page at /api/v1/docs).

Errors answer ``{"code", "message", "field"}`` with a 4xx status; never a 500 for bad input.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import django_auth

from jiayuan.core.errors import JiayuanError
from jiayuan.core.tokens import TokenAuth

api = NinjaAPI(
    title="家园 jiayuan API",
    version="1",
    description="网格化治理平台接口。所有列表均按岗位管辖范围过滤；范围外对象返回 404。",
    # A program sends ``Authorization: Bearer <token>`` (jiayuan api-token create); a browser
    # uses its session (with CSRF on writes).
    auth=[TokenAuth(), django_auth],
    urls_namespace="api",
)


@api.exception_handler(JiayuanError)
def on_jiayuan_error(request: HttpRequest, exc: JiayuanError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    loc = [str(p) for p in first.get("loc", []) if p not in ("body", "query", "path", "payload")]
    return api.create_response(
        request,
        {
            "code": "invalid",
            "message": f"参数不正确：{first.get('msg', '')}",
            "field": ".".join(loc) or None,
            "errors": exc.errors,
        },
        status=422,
    )


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request, {"code": "unauthenticated", "message": "请先登录", "field": None}, status=401
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    messages = {404: "对象不存在或不在您的管辖范围内", 403: "您的岗位无权执行此操作"}
    return api.create_response(
        request,
        {
            "code": f"http_{exc.status_code}",
            "message": messages.get(exc.status_code, str(exc)),
            "field": None,
        },
        status=exc.status_code,
    )


from jiayuan.regions.api import router as regions_router  # noqa: E402
from jiayuan.tickets.api import router as tickets_router  # noqa: E402

api.add_router("/", regions_router)
api.add_router("/", tickets_router)
