"""The 12345 hotline import page (12345 热线工单导入): upload an export, see the counts or the
per-row report. Thin: ``tickets.hotline.hotline_import`` does the work.

Only posts that may import (community level and above, admins) see the page; for everyone else
it does not exist (404), like every object outside a user's scope.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from jiayuan.core.errors import JiayuanError
from jiayuan.core.excel import xlsx_response
from jiayuan.regions.importer import report_rows
from jiayuan.tickets.hotline import COLUMNS, KIND_LABEL, can_import_hotline, hotline_import

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
REPORT_SHOW = 500  # report entries shown on the page


class HotlineImportForm(forms.Form):
    file = forms.FileField(
        label="文件",
        help_text="热线系统导出的 .xlsx 或 .csv（UTF-8 或 GBK）",
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv"}),
    )
    dry_run = forms.BooleanField(label="只校验，不写入", required=False)

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("文件太大（最大 20 MB），请拆分后再导入")
        return upload


def _page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(
        request, "tickets/hotline_import.html", {"columns": COLUMNS, **context}, status=status
    )


@never_cache
@login_required
def hotline_import_page(request: HttpRequest) -> HttpResponseBase:
    """GET: the form (``?template=1`` an empty .xlsx template); POST: import the upload."""
    if not can_import_hotline(request.user):
        raise Http404
    if request.GET.get("template"):
        return xlsx_response(
            filename=f"{KIND_LABEL}导入模板.xlsx",
            headers=[col.zh for col in COLUMNS],
            rows=[],
            sheet=KIND_LABEL,
        )
    if request.method != "POST":
        return _page(request, {"form": HotlineImportForm()})
    form = HotlineImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, {"form": form}, status=400)
    upload = form.cleaned_data["file"]
    try:
        result = hotline_import(
            filename=upload.name,
            content=upload.read(),
            user=request.user,
            dry_run=form.cleaned_data["dry_run"],
        )
    except JiayuanError as exc:
        form.add_error(None, exc.message)
        return _page(request, {"form": form}, status=exc.status)
    rows = report_rows(result)
    context = {
        "form": HotlineImportForm(),
        "result": result,
        "filename": upload.name,
        "report": rows[:REPORT_SHOW],
        "report_more": max(len(rows) - REPORT_SHOW, 0),
    }
    return _page(request, context, status=400 if result.errors else 200)
