"""Pages of the request pipeline: the resident's report, follow-up and rating (no login), and
the staff inbox, ticket page with its actions (htmx), and the dispatchers' triage queue.

Views parse input, call one selector or ``workflow.transition``, and render. A ``JiayuanError``
becomes a Chinese message with its status (400 bad input, 403 not this post's action, 409 not
in this state or changed meanwhile, 429 too many requests); a ticket outside the user's scope
is a 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from jiayuan.core import ratelimit
from jiayuan.core.errors import JiayuanError, NotFound
from jiayuan.core.masking import can_unmask, log_unmasked, mask_phone
from jiayuan.regions.models import Building, Region
from jiayuan.tickets import forms, selectors, services, uploads
from jiayuan.tickets.choices import Channel, State
from jiayuan.tickets.models import Attachment, Ticket
from jiayuan.tickets.workflow import RULES, allowed_actions, transition

TRACKED_SESSION_KEY = "jiayuan_tracked_tickets"
MAX_TRACKED = 20


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _page_number(request: HttpRequest) -> int:
    value = request.GET.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else 1


def _limited(request: HttpRequest, exc: JiayuanError) -> HttpResponse:
    return render(request, "tickets/limited.html", {"error": exc}, status=exc.status)


# ---------------------------------------------------------------------------------------------
# Residents: report (随手拍 / 扫码反映)


def _remember(request: HttpRequest, ticket: Ticket) -> None:
    """Mark the ticket as verified for this browser session (reported here or looked up by
    number + phone), so following, rating and cancelling need no phone again."""
    ids = [i for i in request.session.get(TRACKED_SESSION_KEY, []) if i != ticket.pk]
    request.session[TRACKED_SESSION_KEY] = [ticket.pk, *ids][:MAX_TRACKED]


def _is_remembered(request: HttpRequest, ticket: Ticket) -> bool:
    return ticket.pk in request.session.get(TRACKED_SESSION_KEY, [])


def _report(request: HttpRequest, building: Building | None) -> HttpResponse:
    status = 200
    if request.method == "POST":
        try:
            ratelimit.check(request, "report")
        except ratelimit.RateLimited as exc:
            return _limited(request, exc)
        form = forms.ReportForm(request.POST, request.FILES, need_address=building is None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                intake = uploads.ticket_report(
                    images=data["photos"],
                    channel=Channel.QR if building is not None else Channel.WEB,
                    title="",
                    description=data["description"],
                    category=form.category_obj(),
                    reporter_name=data["name"],
                    reporter_phone=data["phone"],
                    anonymous=data["anonymous"],
                    confidential=data["confidential"],
                    building=building,
                    address=data.get("address", ""),
                    idempotency_scope="form",
                    idempotency_key=data["key"],
                    actor_label="居民",
                )
            except JiayuanError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                _remember(request, intake.ticket)
                return redirect("tickets:report_done", token=intake.ticket.public_token)
        status = 400
    else:
        form = forms.ReportForm(need_address=building is None)
    grid = building.grid if building is not None else None
    return render(
        request,
        "tickets/report.html",
        {
            "form": form,
            "building": building,
            "grid": grid,
            "community": grid.parent if grid is not None else None,
        },
        status=status,
    )


def report_building(request: HttpRequest, token: str) -> HttpResponse:
    """扫码反映: the report form of one building (the QR code on its board leads here)."""
    try:
        building = selectors.building_for_report(token)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return _report(request, building)


def report(request: HttpRequest) -> HttpResponse:
    """网上反映: the report form without a building; the ticket waits in the triage queue."""
    return _report(request, None)


def report_done(request: HttpRequest, token: str) -> HttpResponse:
    ticket = Ticket.objects.filter(public_token=token).first()
    if ticket is None:
        raise Http404("工单不存在")
    return render(
        request,
        "tickets/report_done.html",
        {"ticket": ticket, "can_follow": _is_remembered(request, ticket)},
    )


# ---------------------------------------------------------------------------------------------
# Residents: follow, rate, cancel


def track(request: HttpRequest) -> HttpResponse:
    """查询办理进度: number + the phone given when reporting."""
    status = 200
    if request.method == "POST":
        try:
            ratelimit.check(request, "track")
        except ratelimit.RateLimited as exc:
            return _limited(request, exc)
        form = forms.TrackForm(request.POST)
        if form.is_valid():
            try:
                ticket = selectors.ticket_for_reporter(
                    number=form.cleaned_data["number"], phone=form.cleaned_data["phone"]
                )
            except JiayuanError as exc:
                form.add_error(None, exc.message)
            else:
                _remember(request, ticket)
                return redirect("tickets:track_ticket", number=ticket.number)
        status = 400
    else:
        form = forms.TrackForm(initial={"number": request.GET.get("number", "")[:20]})
    return render(request, "tickets/track.html", {"form": form}, status=status)


def _tracked(request: HttpRequest, number: str) -> Ticket | None:
    ticket = Ticket.objects.filter(number=number).first()
    if ticket is None or not _is_remembered(request, ticket):
        return None
    return selectors.tracked_ticket(ticket.pk)


def _track_page(
    request: HttpRequest,
    ticket: Ticket,
    *,
    rate_form: forms.RateForm | None = None,
    cancel_form: forms.CancelForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "tickets/track_ticket.html",
        {
            "ticket": ticket,
            "timeline": selectors.timeline(ticket, public=True),
            "actions": selectors.reporter_actions(ticket),
            "rate_form": rate_form or forms.RateForm(),
            "cancel_form": cancel_form or forms.CancelForm(),
            "photos": list(ticket.attachments.filter(event_seq=1).order_by("id")),
            "error": error,
        },
        status=status,
    )


def track_ticket(request: HttpRequest, number: str) -> HttpResponse:
    ticket = _tracked(request, number)
    if ticket is None:
        return redirect(reverse("tickets:track") + f"?number={number[:20]}")
    return _track_page(request, ticket)


def _reporter_act(request: HttpRequest, number: str, action: str) -> HttpResponse:
    ticket = _tracked(request, number)
    if ticket is None:
        return redirect(reverse("tickets:track") + f"?number={number[:20]}")
    form: forms.RateForm | forms.CancelForm
    form = forms.RateForm(request.POST) if action == "rate" else forms.CancelForm(request.POST)
    if not form.is_valid():
        kw = {"rate_form": form} if action == "rate" else {"cancel_form": form}
        return _track_page(request, ticket, status=400, **kw)  # type: ignore[arg-type]
    try:
        transition(ticket, action, as_reporter=True, **form.cleaned_data)
    except JiayuanError as exc:
        return _track_page(request, ticket, error=exc.message, status=exc.status)
    messages.success(request, "感谢您的评价！" if action == "rate" else "诉求已撤销。")
    return redirect("tickets:track_ticket", number=ticket.number)


@require_POST
def track_rate(request: HttpRequest, number: str) -> HttpResponse:
    """群众评价: 满意 / 基本满意 / 不满意 (不满意 reopens the ticket)."""
    return _reporter_act(request, number, "rate")


@require_POST
def track_cancel(request: HttpRequest, number: str) -> HttpResponse:
    """The reporter withdraws the ticket before anyone has accepted it."""
    return _reporter_act(request, number, "cancel")


def _photo_response(attachment: Attachment) -> HttpResponseBase:
    response = FileResponse(attachment.file.open("rb"), content_type=attachment.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def track_photo(request: HttpRequest, number: str, pk: int) -> HttpResponseBase:
    ticket = _tracked(request, number)
    attachment = (
        Attachment.objects.filter(ticket=ticket, pk=pk, event_seq=1).first() if ticket else None
    )
    if attachment is None:
        raise Http404("图片不存在")
    return _photo_response(attachment)


# ---------------------------------------------------------------------------------------------
# Staff: inbox and triage


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    """待办: the tabs of the user's tickets, filterable; the table alone for htmx."""
    tab = request.GET.get("tab", "todo")
    if tab not in selectors.TAB_KEYS:
        tab = "todo"
    filters = selectors.Filters(
        q=request.GET.get("q", "").strip()[:60],
        category=request.GET.get("category", ""),
        state=request.GET.get("state", ""),
        channel=request.GET.get("channel", ""),
    )
    data = selectors.inbox(request.user, tab=tab, filters=filters, page=_page_number(request))
    template = (
        "tickets/_inbox_table.html"
        if _is_htmx(request) and request.headers.get("HX-Target") == "results"
        else "tickets/inbox.html"
    )
    return render(
        request,
        template,
        {
            "inbox": data,
            "categories": selectors.first_level_categories(),
            "states": State.choices,
            "channels": Channel.choices,
        },
    )


@login_required
def triage(request: HttpRequest) -> HttpResponse:
    """待分拨: the dispatchers' queue; select tickets and a grid, assign each (批量分拨)."""
    region_choices = selectors.assign_region_choices(request.user)
    if request.method == "POST":
        region_id = request.POST.get("region", "")
        ids = [int(v) for v in request.POST.getlist("ticket") if v.isdigit()]
        valid_ids = {pk for _, group in region_choices for pk, _ in group}
        if not ids:
            messages.error(request, "请先勾选要分拨的工单")
        elif region_id not in valid_ids:
            messages.error(request, "请选择承办网格或社区")
        else:
            region = Region.objects.get(pk=region_id)
            results = services.tickets_assign_bulk(user=request.user, ticket_ids=ids, region=region)
            for r in results:
                if r.ok:
                    messages.success(request, f"{r.number}：{r.message}")
                else:
                    messages.error(request, f"{r.number}：{r.message}")
        return redirect("tickets:triage")
    data = selectors.triage_queue(request.user, page=_page_number(request))
    return render(
        request,
        "tickets/triage.html",
        {
            "queue": data,
            "region_choices": region_choices,
            "is_dispatcher": selectors.is_dispatcher(request.user),
        },
    )


# ---------------------------------------------------------------------------------------------
# Staff: one ticket and its actions


def _reporter_view(ticket: Ticket, *, unmasked: bool) -> dict[str, str]:
    if ticket.anonymous:
        return {"name": "匿名", "phone": ""}
    if ticket.confidential and not unmasked:
        return {"name": "（保密）", "phone": mask_phone(ticket.reporter_phone)}
    phone = ticket.reporter_phone if unmasked else mask_phone(ticket.reporter_phone)
    return {"name": ticket.reporter_name or "—", "phone": phone}


def _detail_context(
    request: HttpRequest,
    ticket: Ticket,
    *,
    failed: forms.ActionForm | None = None,
    error: str = "",
) -> dict[str, Any]:
    user = request.user
    action_forms = []
    for rule in allowed_actions(ticket, user):
        if failed is not None and failed.action == rule.action:
            form = failed
        else:
            form = forms.action_form(rule.action, ticket=ticket, user=user)
        action_forms.append(
            {
                "action": rule.action,
                "label": rule.label,
                "form": form,
                "one_click": rule.action in forms.ONE_CLICK,
                "open": failed is not None and failed.action == rule.action,
            }
        )
    assignments = list(
        ticket.assignments.select_related("department", "dispatched_from").order_by("role", "id")
    )
    return {
        "ticket": ticket,
        "reporter": _reporter_view(ticket, unmasked=False),
        "can_unmask": can_unmask(user) and not ticket.anonymous and bool(ticket.reporter_phone),
        "deadlines": selectors.deadlines(ticket),
        "assignments": assignments,
        "timeline": selectors.timeline(ticket),
        "photos": list(ticket.attachments.order_by("id")),
        "action_forms": action_forms,
        "error": error,
    }


def _access(request: HttpRequest, number: str) -> Ticket:
    try:
        return selectors.access_ticket(request.user, number)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@login_required
def detail(request: HttpRequest, number: str) -> HttpResponse:
    """工单详情: facts, deadlines, 主办/协办, the timeline, and this post's actions."""
    ticket = _access(request, number)
    return render(request, "tickets/detail.html", _detail_context(request, ticket))


@login_required
@require_POST
def act(request: HttpRequest, number: str, action: str) -> HttpResponse:
    """Apply one workflow action from the ticket page (htmx swaps the page body back)."""
    ticket = _access(request, number)
    if action not in RULES:
        raise Http404("未知的操作")
    form = forms.action_form(
        action, ticket=ticket, user=request.user, data=request.POST, files=request.FILES
    )
    status = 400
    error = ""
    try:
        selectors.check_action(ticket, request.user, action)
        if form.is_valid():
            with transaction.atomic():
                event = transition(ticket, action, actor=request.user, **form.transition_data())
                images = form.cleaned_data.get("photos") if form.photos_field else None
                if images:
                    uploads.attach_images(ticket=ticket, images=images, event_seq=event.seq)
            status = 200
    except JiayuanError as exc:
        status = exc.status
        error = exc.message
        if exc.field in form.fields and status == 400:
            form.add_error(exc.field, exc.message)
            error = ""
    if status == 200:
        message = f"已{RULES[action].label}"
        try:
            ticket = selectors.access_ticket(request.user, number)
        except NotFound:
            # The action moved the ticket out of this user's scope (e.g. 转办).
            messages.success(request, f"{ticket.number} {message}，已移出您的管辖范围")
            if _is_htmx(request):
                response = HttpResponse(status=200)
                response["HX-Redirect"] = reverse("tickets:inbox")
                return response
            return redirect("tickets:inbox")
        if not _is_htmx(request):
            messages.success(request, message)
            return redirect("tickets:detail", number=number)
        context = _detail_context(request, ticket)
        context["flash"] = message
        return render(request, "tickets/_detail.html", context)
    ticket.refresh_from_db()
    context = _detail_context(request, ticket, failed=form if not error else None, error=error)
    if error:
        context["error_action"] = action
    template = "tickets/_detail.html" if _is_htmx(request) else "tickets/detail.html"
    return render(request, template, context, status=status)


@login_required
@require_POST
def reveal(request: HttpRequest, number: str) -> HttpResponse:
    """显示完整联系方式: the reporter's name and phone in full, written to the access log."""
    ticket = _access(request, number)
    if not can_unmask(request.user):
        return render(
            request,
            "tickets/_reporter.html",
            {"ticket": ticket, "error": "您的岗位无权查看完整联系方式"},
            status=403,
        )
    log_unmasked(
        user=request.user,
        action="view",
        model=Ticket,
        object_ids=[ticket.pk],
        fields=("reporter_name", "reporter_phone"),
        request=request,
    )
    return render(
        request,
        "tickets/_reporter.html",
        {"ticket": ticket, "reporter": _reporter_view(ticket, unmasked=True), "revealed": True},
    )


@login_required
def photo(request: HttpRequest, number: str, pk: int) -> HttpResponseBase:
    ticket = _access(request, number)
    attachment = Attachment.objects.filter(ticket=ticket, pk=pk).first()
    if attachment is None:
        raise Http404("图片不存在")
    return _photo_response(attachment)
