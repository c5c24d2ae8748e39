"""The import page (基础数据导入): upload a file, see the counts or the per-row error report.

Thin: the form is parsed here, ``regions.importer.base_data_import`` does the work. The last
error report is kept in the session (masked, capped) so that it can be downloaded as .xlsx.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from jiayuan.core.errors import JiayuanError
from jiayuan.core.excel import xlsx_response
from jiayuan.regions.importer import (
    KIND_LABELS,
    REPORT_HEADERS,
    SPECS,
    base_data_import,
    can_import,
    report_rows,
)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
REPORT_SESSION_KEY = "jiayuan_import_report"
REPORT_KEEP = 10_000  # entries kept in the session for the .xlsx download
REPORT_SHOW = 500  # entries shown on the page


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label="导入类型", choices=list(KIND_LABELS.items()))
    file = forms.FileField(
        label="文件",
        help_text=".xlsx、.csv（UTF-8 或 GBK）或 .geojson",
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv,.geojson,.json"}),
    )
    dry_run = forms.BooleanField(label="只校验，不写入", required=False)

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("文件太大（最大 50 MB），请拆分后再导入")
        return upload


def _page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    specs = [(kind, KIND_LABELS[kind], SPECS[kind]) for kind in KIND_LABELS]
    return render(request, "regions/import.html", {"specs": specs, **context}, status=status)


@never_cache
@login_required
def import_upload(request: HttpRequest) -> HttpResponseBase:
    """GET: the form (``?template=<kind>`` an empty .xlsx template, ``?download=report`` the
    last error report); POST: import the uploaded file and show the result."""
    if not can_import(request.user):
        return _page(request, {"forbidden": True}, status=403)
    template_kind = request.GET.get("template")
    if template_kind in SPECS:
        return xlsx_response(
            filename=f"导入模板-{KIND_LABELS[template_kind]}.xlsx",
            headers=[col.zh for col in SPECS[template_kind]],
            rows=[],
            sheet=KIND_LABELS[template_kind],
        )
    if request.GET.get("download") == "report":
        saved = request.session.get(REPORT_SESSION_KEY)
        if not saved:
            return _page(request, {"form": ImportForm(), "notice": "没有可下载的错误报告"}, 404)
        return xlsx_response(
            filename=f"导入错误报告-{saved['filename']}.xlsx",
            headers=REPORT_HEADERS,
            rows=saved["rows"],
            sheet="错误报告",
        )
    if request.method != "POST":
        return _page(request, {"form": ImportForm(initial={"kind": request.GET.get("kind")})})
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, {"form": form}, status=400)
    upload = form.cleaned_data["file"]
    try:
        result = base_data_import(
            kind=form.cleaned_data["kind"],
            filename=upload.name,
            content=upload.read(),
            user=request.user,
            dry_run=form.cleaned_data["dry_run"],
        )
    except JiayuanError as exc:
        form.add_error(None, exc.message)
        return _page(request, {"form": form}, status=exc.status)
    rows = report_rows(result)
    if rows:
        request.session[REPORT_SESSION_KEY] = {
            "filename": upload.name.rsplit(".", 1)[0][:60],
            "rows": rows[:REPORT_KEEP],
        }
    else:
        request.session.pop(REPORT_SESSION_KEY, None)
    context = {
        "form": ImportForm(initial={"kind": result.kind}),
        "result": result,
        "filename": upload.name,
        "report": rows[:REPORT_SHOW],
        "report_more": max(len(rows) - REPORT_SHOW, 0),
    }
    return _page(request, context, status=400 if result.errors else 200)
