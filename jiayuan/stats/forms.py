"""The dashboard's filter form (筛选): period (近7/30/90/365天 or 自定义), category, channel and
the trend's bucket."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.utils import timezone

from jiayuan.stats.dashboard import Filters, auto_bucket
from jiayuan.tickets.choices import Channel
from jiayuan.tickets.models import Category

PRESETS = [("7", "近7天"), ("30", "近30天"), ("90", "近90天"), ("365", "近365天")]
DEFAULT_PERIOD = "30"
MAX_DAYS = 3660  # ten years


class CategoryChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"· {obj.name}" if obj.parent_id else obj.name


class FilterForm(forms.Form):
    period = forms.ChoiceField(
        label="统计周期", choices=[*PRESETS, ("custom", "自定义")], required=False
    )
    start = forms.DateField(label="开始日期", required=False)
    end = forms.DateField(label="结束日期（含）", required=False)
    category = CategoryChoice(
        label="诉求分类",
        queryset=Category.objects.none(),
        required=False,
        empty_label="全部分类",
    )
    channel = forms.ChoiceField(
        label="来源渠道", choices=[("", "全部渠道"), *Channel.choices], required=False
    )
    bucket = forms.ChoiceField(
        label="趋势粒度",
        choices=[("", "自动"), ("day", "按日"), ("week", "按周"), ("month", "按月")],
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["category"]
        assert isinstance(field, forms.ModelChoiceField)
        # First levels, each followed by its children (a first level includes its children).
        cats = list(Category.objects.filter(is_active=True).order_by("sort", "code"))
        ordered: list[Category] = []
        for top in (c for c in cats if c.parent_id is None):
            ordered.append(top)
            ordered.extend(c for c in cats if c.parent_id == top.pk)
        field.queryset = Category.objects.filter(is_active=True)
        field.choices = [("", "全部分类"), *((c.pk, field.label_from_instance(c)) for c in ordered)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        period = data.get("period") or DEFAULT_PERIOD
        today = timezone.localdate()
        if period == "custom":
            start, end = data.get("start"), data.get("end")
            if start is None or end is None:
                raise forms.ValidationError("自定义周期请填写开始日期和结束日期")
            if start > end:
                raise forms.ValidationError("开始日期不能晚于结束日期")
            if (end - start).days + 1 > MAX_DAYS:
                raise forms.ValidationError("统计周期最长十年")
            data["first"], data["after"] = start, end + dt.timedelta(days=1)
        else:
            days = int(period)
            data["first"] = today - dt.timedelta(days=days - 1)
            data["after"] = today + dt.timedelta(days=1)
        data["period"] = period
        return data

    def filters(self) -> Filters:
        """The cleaned filters (call after ``is_valid()``)."""
        data = self.cleaned_data
        first, after = data["first"], data["after"]
        return Filters(
            start=first,
            end=after,
            category=data.get("category"),
            channel=data.get("channel") or "",
            bucket=data.get("bucket") or auto_bucket((after - first).days),
        )

    def querystring(self) -> str:
        """The filters as a query string (for drill-down links and exports)."""
        if not self.is_bound:
            return ""
        keep = {}
        for name in ("period", "start", "end", "category", "channel", "bucket"):
            value = self.data.get(name)
            if value:
                keep[name] = value
        return urlencode(keep)
