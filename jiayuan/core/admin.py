"""Admin for core data, and the scoped admin base every app's admin uses."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from jiayuan.core import calendar
from jiayuan.core.models import AccessLog, ApiToken, CalendarDay, CalendarYear

admin.site.site_header = "家园 · 配置管理"
admin.site.site_title = "家园"
admin.site.index_title = "配置"


class ScopedAdmin(admin.ModelAdmin):
    """The admin also goes through the gate: a staff user sees only their scope."""

    def get_queryset(self, request: HttpRequest) -> Any:
        qs = super().get_queryset(request)
        visible_to = getattr(qs, "visible_to", None)
        return visible_to(request.user) if visible_to else qs


@admin.register(AccessLog)
class AccessLogAdmin(admin.ModelAdmin):
    """Read-only: the log is insert-only."""

    list_display = ["at", "username", "action", "model", "count", "fields", "ip"]
    list_filter = ["action", "model"]
    search_fields = ["username", "object_ids"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# ---------------------------------------------------------------------------------------------
# Working-day calendar (工作日历): the rows, and the import of a year's schedule


class CalendarYearFilter(admin.SimpleListFilter):
    title = "年份"
    parameter_name = "year"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        from jiayuan.core.models import CalendarDay

        years = CalendarDay.objects.dates("date", "year", order="DESC")
        return [(str(d.year), f"{d.year}年") for d in years]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(date__year=int(value))
        return queryset


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    """Single rows can be corrected here; a whole year is loaded by import (CalendarYear)."""

    list_display = ["date", "weekday", "kind", "name", "source", "updated_at"]
    list_filter = [CalendarYearFilter, "kind"]
    search_fields = ["name", "source"]
    fields = ["date", "kind", "name", "source"]
    ordering = ["date"]

    @admin.display(description="星期")
    def weekday(self, obj: CalendarDay) -> str:
        return "星期" + "一二三四五六日"[obj.date.weekday()]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        calendar.reload()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        calendar.reload()

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        super().delete_queryset(request, queryset)
        calendar.reload()


class CalendarImportForm(forms.Form):
    file = forms.FileField(label="文件", help_text=".csv 或 .xlsx，列为 日期,类型,名称")
    year = forms.IntegerField(
        label="年份",
        required=False,
        min_value=1949,
        max_value=2200,
        help_text="可不填",
    )
    source = forms.CharField(
        label="来源",
        required=False,
        max_length=200,
        help_text="默认为文件名",
    )
    note = forms.CharField(label="备注", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    dry_run = forms.BooleanField(label="只校验，不写入", required=False)


@admin.register(CalendarYear)
class CalendarYearAdmin(admin.ModelAdmin):
    """Years of the calendar. "增加" opens the import page: a year is added by importing it."""

    list_display = ["year", "source", "loaded_at", "exception_count", "note"]
    search_fields = ["source", "note"]
    readonly_fields = ["loaded_at"]

    @admin.display(description="例外日数")
    def exception_count(self, obj: CalendarYear) -> int:
        return CalendarDay.objects.filter(date__year=obj.year).count()

    def get_urls(self) -> list[Any]:
        from django.urls import path

        urls = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="core_calendaryear_import",
            )
        ]
        return urls + super().get_urls()

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> Any:
        from django.shortcuts import redirect

        return redirect("admin:core_calendaryear_import")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        calendar.reload()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        calendar.reload()

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        super().delete_queryset(request, queryset)
        calendar.reload()

    def import_view(self, request: HttpRequest) -> Any:
        from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
        from django.template.response import TemplateResponse

        if not (
            self.has_change_permission(request)
            and request.user.has_perm("core.add_calendarday")
            and request.user.has_perm("core.delete_calendarday")
        ):
            raise DjangoPermissionDenied
        result = None
        if request.method == "POST":
            form = CalendarImportForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                if upload.size > 2 * 1024 * 1024:
                    form.add_error("file", "文件过大（最大 2 MB）")
                else:
                    result = calendar.import_calendar(
                        filename=upload.name,
                        content=upload.read(),
                        year=form.cleaned_data["year"],
                        source=form.cleaned_data["source"],
                        note=form.cleaned_data["note"],
                        dry_run=form.cleaned_data["dry_run"],
                    )
        else:
            form = CalendarImportForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "导入节假日安排",
            "form": form,
            "result": result,
            "report_headers": calendar.REPORT_HEADERS,
            "warning": calendar.calendar_warning(),
        }
        return TemplateResponse(request, "admin/core/calendar_import.html", context)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created by ``jiayuan api-token create`` (the raw token is shown once there);
    here they are listed and revoked."""

    list_display = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["user__username", "name", "prefix"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="吊销所选令牌")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        from django.utils import timezone

        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"已吊销 {count} 个令牌")
