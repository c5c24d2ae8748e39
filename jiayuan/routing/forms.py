"""Forms of the routing pages: a dispatcher's triage decision and the command centre's dispatch
rules. They parse input; the checks that are rules live in ``rules.py`` / ``dispatch.py``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q

from jiayuan.regions.choices import Level as RegionLevel
from jiayuan.regions.models import Region
from jiayuan.routing.models_dispatch import HandlerLevel
from jiayuan.staff.models import Department
from jiayuan.tickets.models import Category


def category_options() -> list[tuple[Any, Any]]:
    """Each first-level category, then its second-level ones, for one <select>."""
    groups: list[tuple[Any, Any]] = []
    cats = Category.objects.filter(is_active=True).order_by("sort", "code")
    tops = [c for c in cats if c.parent_id is None]
    for top in tops:
        options = [(str(top.pk), f"{top.name}（一级）")]
        options += [(str(c.pk), c.name) for c in cats if c.parent_id == top.pk]
        groups.append((top.name, options))
    return groups


ASSIGN_LEVELS = [RegionLevel.GRID, RegionLevel.MICRO_GRID, RegionLevel.COMMUNITY]


class TriageForm(forms.Form):
    """分拨: the category (a suggestion confirmed, or another) and the grid or community."""

    category = forms.ChoiceField(
        label="分类", error_messages={"required": "请选择分类", "invalid_choice": "分类不正确"}
    )
    region = forms.ModelChoiceField(
        label="承办网格或社区",
        queryset=Region.objects.none(),
        error_messages={
            "required": "请选择承办网格或社区",
            "invalid_choice": "该网格或社区不在您的管辖范围内",
        },
    )
    note = forms.CharField(label="说明", max_length=500, required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "选择分类"), *category_options()]  # type: ignore[attr-defined]
        self.fields["region"].queryset = Region.objects.visible_to(user).filter(  # type: ignore[attr-defined]
            level__in=ASSIGN_LEVELS
        )

    def category_obj(self) -> Category:
        return Category.objects.select_related("parent").get(pk=self.cleaned_data["category"])


RULE_REGION_LEVELS = [
    RegionLevel.CITY,
    RegionLevel.DISTRICT,
    RegionLevel.STREET,
    RegionLevel.COMMUNITY,
]


class DispatchRuleForm(forms.Form):
    """派单规则: category × region → first level (and departments)."""

    name = forms.CharField(
        label="规则名称", max_length=60, error_messages={"required": "请填写规则名称"}
    )
    region = forms.ModelChoiceField(
        label="适用区划",
        queryset=Region.objects.none(),
        required=False,
        empty_label="全部区划",
        error_messages={"invalid_choice": "该区划不在您的管辖范围内"},
    )
    category = forms.ModelChoiceField(
        label="适用分类",
        queryset=Category.objects.filter(is_active=True).select_related("parent"),
        required=False,
        empty_label="全部分类",
        error_messages={"invalid_choice": "分类不正确"},
    )
    level = forms.ChoiceField(
        label="首接层级",
        choices=HandlerLevel.choices,
        error_messages={"required": "请选择首接层级", "invalid_choice": "首接层级不正确"},
    )
    lead = forms.ModelChoiceField(
        label="主办部门",
        queryset=Department.objects.none(),
        required=False,
        empty_label="（不派给部门）",
        error_messages={"invalid_choice": "该部门不在您的管辖范围内"},
    )
    co = forms.ModelMultipleChoiceField(
        label="协办部门",
        queryset=Department.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "协办部门不正确", "invalid_pk_value": "协办部门不正确"},
    )
    is_active = forms.BooleanField(label="启用", required=False, initial=True)
    note = forms.CharField(label="说明", max_length=200, required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        regions = (
            Region.objects.visible_to(user).filter(level__in=RULE_REGION_LEVELS).order_by("path")
        )
        departments = Department.objects.filter(
            Q(pk__in=Department.objects.visible_to(user).values("pk"))
            | Q(region__level__in=[RegionLevel.CITY, RegionLevel.DISTRICT])
        ).order_by("region__path", "code")
        self.fields["region"].queryset = regions  # type: ignore[attr-defined]
        self.fields["lead"].queryset = departments  # type: ignore[attr-defined]
        self.fields["co"].queryset = departments  # type: ignore[attr-defined]
