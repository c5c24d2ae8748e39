"""The notifications page (消息): the user's own list, unread first; mark one or all read with an
htmx POST (a plain POST without htmx redirects back to the list)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from jiayuan.core.errors import NotFound
from jiayuan.notifications import selectors, services

PAGE_SIZE = 30


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.notifications_for(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "notifications/list.html",
        {"page": page, "unread": selectors.unread_count(request.user)},
    )


@login_required
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        note = services.notification_mark_read(user=request.user, notification_id=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    if request.htmx:  # type: ignore[attr-defined]
        return render(
            request,
            "notifications/_item.html",
            {"n": note, "unread": selectors.unread_count(request.user), "oob": True},
        )
    return redirect("notifications:list")


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    services.notifications_mark_all_read(user=request.user)
    if request.htmx:  # type: ignore[attr-defined]
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return redirect("notifications:list")
