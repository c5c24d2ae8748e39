"""Pages of precise dispatch: the triage queue with the classifier's suggestions (one click
confirms or corrects), the command centre's dispatch rules with a preview, the duplicates
fragment of a ticket page, and the hot-spot layer of the map.

Views parse input, call one selector or service, and render. Outside the user's scope, or not
their page, is a 404; a refused action is a Chinese message with its status.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from jiayuan.core.errors import JiayuanError, NotFound
from jiayuan.core.scoping import PATH_SEP
from jiayuan.regions.choices import Level as RegionLevel
from jiayuan.regions.models import Region
from jiayuan.routing import dispatch, duplicates, hotspots, rules
from jiayuan.routing.forms import ASSIGN_LEVELS, DispatchRuleForm, TriageForm, category_options
from jiayuan.routing.models_dispatch import DispatchRule, TicketRouting
from jiayuan.tickets import selectors
from jiayuan.tickets.choices import State
from jiayuan.tickets.models import Ticket
from jiayuan.tickets.workflow import RULES

PAGE_SIZE = 20


def _page_number(request: HttpRequest) -> int:
    value = request.GET.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else 1


def _need_dispatcher(request: HttpRequest) -> None:
    if not selectors.is_dispatcher(request.user):
        raise Http404("页面不存在")


# --- triage queue -------------------------------------------------------------------------------


class Row:
    """One ticket of the triage queue as the page shows it: the suggestions with their category
    ids, and the grids and communities it may go to (its street's, or every community when it
    was not located: a city has thousands of grids, a row cannot list them all)."""

    def __init__(
        self,
        ticket: Ticket,
        user: Any,
        *,
        options: dict[str, list[tuple[str, list[tuple[str, str]]]]],
        form: TriageForm | None = None,
    ) -> None:
        self.ticket = ticket
        self.routing: TicketRouting | None = getattr(ticket, "routing", None)
        self.suggestions = [dict(s) for s in (self.routing.suggestions if self.routing else [])]
        for s in self.suggestions:
            cat = dispatch.first_level_category(s["category"])
            s["id"] = cat.pk if cat is not None else None
            s["percent"] = round(100 * float(s["probability"]))
        self.form = form
        self.region_value = str(
            form["region"].value() or "" if form is not None else ticket.grid_id or ""
        )
        self.region_groups = _region_options(user, ticket, options)


def _region_options(
    user: Any, ticket: Ticket, cache: dict[str, list[tuple[str, list[tuple[str, str]]]]]
) -> list[tuple[str, list[tuple[str, str]]]]:
    if ticket.grid is not None:
        key = PATH_SEP.join(ticket.grid.path.split(PATH_SEP)[:3])  # the street
        levels = ASSIGN_LEVELS
    else:
        key = ticket.owner_path or ""
        levels = [RegionLevel.COMMUNITY]
    cache_key = f"{key}|{len(levels)}"
    if cache_key not in cache:
        qs = Region.objects.visible_to(user).filter(level__in=levels)
        if key:
            qs = qs.filter(Q(path=key) | Q(path__startswith=key + PATH_SEP))
        groups: dict[str, list[tuple[str, str]]] = {}
        for r in qs.select_related("parent").order_by("path")[:2000]:
            parent = r.parent.name if r.parent is not None else "—"
            groups.setdefault(parent, []).append((str(r.pk), r.name))
        cache[cache_key] = list(groups.items())
    return cache[cache_key]


def _triage_rows(user: Any, page: int) -> tuple[list[Ticket], bool]:
    start = (page - 1) * PAGE_SIZE
    rows = list(
        Ticket.objects.visible_to(user)
        .filter(state=State.TRIAGE)
        .select_related("category", "grid__parent", "routing")
        .order_by("created_at", "id")[start : start + PAGE_SIZE + 1]
    )
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


@login_required
@require_GET
def triage(request: HttpRequest) -> HttpResponse:
    """待分拨（智能建议）: each doubtful ticket with the top three categories and where it is."""
    _need_dispatcher(request)
    page = _page_number(request)
    tickets, has_next = _triage_rows(request.user, page)
    options: dict[str, Any] = {}
    rows = [Row(t, request.user, options=options) for t in tickets]
    return render(
        request,
        "routing/triage.html",
        {
            "rows": rows,
            "categories": category_options(),
            "page": page,
            "has_next": has_next,
            "has_previous": page > 1,
        },
    )


def _triage_ticket(request: HttpRequest, number: str) -> Ticket:
    ticket = (
        Ticket.objects.visible_to(request.user)
        .select_related("category", "grid__parent", "owner_region", "routing")
        .filter(number=number)
        .first()
    )
    if ticket is None:
        raise Http404("工单不存在或不在您的管辖范围内")
    return ticket


@login_required
@require_POST
def triage_decide(request: HttpRequest, number: str) -> HttpResponse:
    """One click: confirm a suggestion (or a corrected category) and the grid; the row comes
    back as done, or with its errors."""
    _need_dispatcher(request)
    ticket = _triage_ticket(request, number)
    data = request.POST.copy()
    suggestion = data.get("suggestion")
    if suggestion:  # a suggestion's button: that category, whatever the <select> says
        data["category"] = str(suggestion)
    form = TriageForm(data, user=request.user)
    status, error, done = 400, "", ""
    if form.is_valid():
        category, region = form.category_obj(), form.cleaned_data["region"]
        try:
            dispatch.ticket_triage_decide(
                user=request.user,
                ticket=ticket,
                category=category,
                region=region,
                note=form.cleaned_data["note"],
            )
        except JiayuanError as exc:
            status, error = exc.status, exc.message
            if exc.field in form.fields and status == 400:
                form.add_error(exc.field, exc.message)
                error = ""
        else:
            status, done = 200, f"已分拨至{region.name}（{category}）"
    if done and not request.htmx:  # type: ignore[attr-defined]
        from django.contrib import messages

        messages.success(request, f"{ticket.number}：{done}")
        return redirect("routing:triage")
    ticket = _triage_ticket(request, number) if not done else ticket
    row = Row(ticket, request.user, options={}, form=None if done else form)
    return render(
        request,
        "routing/_triage_row.html",
        {"row": row, "categories": category_options(), "done": done, "error": error},
        status=status,
    )


# --- dispatch rules -----------------------------------------------------------------------------


def _need_rule_editor(request: HttpRequest) -> None:
    if not rules.may_edit_rules(request.user):
        raise Http404("页面不存在")


@login_required
@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    """派单规则: the rules the user's scope covers."""
    _need_rule_editor(request)
    return render(request, "routing/rules.html", {"rules": rules.rules_visible_to(request.user)})


def _rule_form_page(request: HttpRequest, rule: DispatchRule | None) -> HttpResponse:
    status = 200
    if request.method == "POST":
        form = DispatchRuleForm(request.POST, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                rules.dispatch_rule_save(
                    user=request.user,
                    rule=rule,
                    name=data["name"],
                    region=data["region"],
                    category=data["category"],
                    level=data["level"],
                    lead=data["lead"],
                    co=list(data["co"]),
                    is_active=data["is_active"],
                    note=data["note"],
                )
            except JiayuanError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                from django.contrib import messages

                messages.success(request, "派单规则已保存")
                return redirect("routing:rules")
        status = 400
    elif rule is not None:
        form = DispatchRuleForm(
            user=request.user,
            initial={
                "name": rule.name,
                "region": rule.region_id,
                "category": rule.category_id,
                "level": rule.level,
                "lead": rule.lead_id,
                "co": [d.pk for d in rule.co.all()],
                "is_active": rule.is_active,
                "note": rule.note,
            },
        )
    else:
        form = DispatchRuleForm(user=request.user)
    return render(request, "routing/rule_form.html", {"form": form, "rule": rule}, status=status)


@login_required
def rule_create(request: HttpRequest) -> HttpResponse:
    _need_rule_editor(request)
    return _rule_form_page(request, None)


@login_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _need_rule_editor(request)
    try:
        rule = rules.access_rule(request.user, pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return _rule_form_page(request, rule)


@login_required
@require_GET
def rule_preview(request: HttpRequest) -> HttpResponse:
    """The tickets of the last 30 days a rule for this region × category would have caught."""
    _need_rule_editor(request)
    form = DispatchRuleForm(request.GET, user=request.user)
    form.is_valid()  # only region and category matter here; their errors show as "—"
    region = form.cleaned_data.get("region")
    category = form.cleaned_data.get("category")
    preview = rules.rule_preview(user=request.user, region=region, category=category)
    return render(
        request,
        "routing/_rule_preview.html",
        {"preview": preview, "region": region, "category": category},
    )


# --- duplicates on a ticket page, hot spots on the map --------------------------------------------


@login_required
@require_GET
def duplicates_fragment(request: HttpRequest, number: str) -> HttpResponse:
    """疑似重复: loaded by the ticket page; each candidate can be merged into in one click."""
    try:
        ticket = selectors.access_ticket(request.user, number)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    candidates = duplicates.duplicate_candidates(ticket, user=request.user)
    may_merge = False
    if candidates and ticket.is_open:
        try:
            selectors.check_action(ticket, request.user, "merge")
            may_merge = True
        except JiayuanError:
            may_merge = False
    return render(
        request,
        "routing/_duplicates.html",
        {
            "ticket": ticket,
            "candidates": candidates,
            "may_merge": may_merge,
            "label": RULES["merge"].label,
        },
    )


@login_required
@require_GET
def hotspots_geojson(request: HttpRequest) -> JsonResponse:
    """The hot spots of the last 30 days in the user's scope, as GeoJSON points."""
    return JsonResponse(hotspots.hot_spots_geojson(request.user))
