"""Views that belong to no single app: health check, login, the home page per post."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from jiayuan.core.selectors import home_summary


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Monitoring probe: 200 when the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not healthy", never a 500
        return JsonResponse(
            {"status": "error", "database": str(exc.__class__.__name__)}, status=503
        )
    return JsonResponse({"status": "ok", "database": connection.vendor})


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """工作台: one card per active post with the counts of what it is responsible for."""
    return render(request, "core/home.html", {"summary": home_summary(user=request.user)})
