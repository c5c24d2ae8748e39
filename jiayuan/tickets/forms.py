"""Forms of the ticket pages: the resident's report, follow-up and rating, and one small form
per workflow action. Forms parse and check input; the rules live in ``workflow``."""

from __future__ import annotations

import re
import uuid
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError

from jiayuan.core.errors import JiayuanError
from jiayuan.tickets import selectors, uploads
from jiayuan.tickets.choices import Rating
from jiayuan.tickets.models import Category, Ticket
from jiayuan.tickets.workflow import MAX_EXTENSION_DAYS

PHONE_RE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


def normalize_phone(value: str) -> str:
    return "".join((value or "").split())


def _choices(form: forms.Form, name: str) -> forms.ChoiceField:
    return cast(forms.ChoiceField, form.fields[name])


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Up to ``uploads.MAX_PHOTOS`` photos in one <input type=file multiple>."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            MultipleFileInput(
                attrs={"accept": "image/jpeg,image/png,image/webp", "multiple": True}
            ),
        )
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[uploads.CleanImage]:
        files = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        try:
            return uploads.clean_images(files)
        except JiayuanError as exc:
            raise ValidationError(exc.message, code=exc.code) from None


class ReportForm(forms.Form):
    """随手拍 / 我要反映: a resident's report, with or without a known building."""

    category = forms.ChoiceField(label="问题类别", required=False)
    description = forms.CharField(
        label="问题描述",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "请描述问题的位置、情况和您的诉求"}),
        error_messages={"required": "请填写问题描述"},
    )
    address = forms.CharField(label="问题地点", max_length=200, required=False)
    photos = PhotosField(label="照片（最多3张，可不传）")
    name = forms.CharField(label="您的称呼", max_length=50, required=False)
    phone = forms.CharField(
        label="联系电话",
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    anonymous = forms.BooleanField(
        label="匿名反映（不留姓名电话，将无法查询进度和评价）", required=False
    )
    confidential = forms.BooleanField(label="保密（仅办理人员可见您的联系方式）", required=False)
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, need_address: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "category").choices = [("", "不清楚"), *selectors.category_choices()]
        if not self.is_bound:
            self.initial.setdefault("key", uuid.uuid4().hex)
        self.need_address = need_address
        if need_address:
            self.fields["address"].required = True
            self.fields["address"].error_messages["required"] = "请填写问题地点"
        else:
            del self.fields["address"]

    def clean_key(self) -> str:
        value = self.cleaned_data["key"]
        try:
            return uuid.UUID(value).hex
        except ValueError:
            raise ValidationError("表单已失效，请刷新页面后重新提交") from None

    def clean_phone(self) -> str:
        phone = normalize_phone(self.cleaned_data.get("phone", ""))
        if phone and not PHONE_RE.match(phone):
            raise ValidationError("请填写正确的手机号或固定电话")
        return phone

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("anonymous") and not data.get("phone") and "phone" not in self.errors:
            self.add_error("phone", "请留下联系电话，或选择匿名反映")
        if data.get("anonymous"):
            data["name"], data["phone"] = "", ""
        return data

    def category_obj(self) -> Category | None:
        value = self.cleaned_data.get("category")
        return Category.objects.filter(pk=value).first() if value else None


class TrackForm(forms.Form):
    number = forms.CharField(
        label="工单编号",
        max_length=20,
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "placeholder": "J2026…"}),
        error_messages={"required": "请填写工单编号"},
    )
    phone = forms.CharField(
        label="反映时留的联系电话",
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
        error_messages={"required": "请填写联系电话"},
    )


class RateForm(forms.Form):
    rating = forms.ChoiceField(
        label="您对办理结果",
        choices=Rating.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "请选择满意、基本满意或不满意"},
    )
    comment = forms.CharField(
        label="意见建议（可不填）",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class CancelForm(forms.Form):
    reason = forms.CharField(label="撤销原因（可不填）", max_length=500, required=False)


# ---------------------------------------------------------------------------------------------
# Action forms (one per workflow action)


def _note(
    label: str = "说明（可不填）", required: bool = False, message: str = ""
) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=2000,
        required=required,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": message or f"请填写{label}"},
    )


class ActionForm(forms.Form):
    """Base of the action forms: built for one ticket and one user (for the choices)."""

    action = ""
    photos_field = False

    def __init__(self, *args: Any, ticket: Ticket, user: Any, **kwargs: Any) -> None:
        self.ticket = ticket
        self.user = user
        kwargs.setdefault("prefix", None)
        super().__init__(*args, **kwargs)
        self.setup()

    def setup(self) -> None:
        pass

    def transition_data(self) -> dict[str, Any]:
        """The keyword data for ``workflow.transition``."""
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "", [])}


class NoteForm(ActionForm):
    note = _note()


class RequiredNoteForm(ActionForm):
    note = _note("说明", required=True)


class HandleForm(ActionForm):
    note = _note("办理进展", required=True)


class CallUpForm(ActionForm):
    note = _note("需要上级协调的事项", required=True, message="请说明需要上级协调解决的事项")
    lead = forms.ChoiceField(label="直接“吹哨”给主办部门（可不选）", required=False)
    co = forms.MultipleChoiceField(
        label="协办部门（可不选）", required=False, widget=forms.CheckboxSelectMultiple
    )

    def setup(self) -> None:
        depts = selectors.department_choices(self.user, self.ticket)
        _choices(self, "lead").choices = [("", "不吹哨，呼叫上一级"), *depts]
        _choices(self, "co").choices = depts


class DispatchForm(ActionForm):
    lead = forms.ChoiceField(label="主办部门", error_messages={"required": "请选择主办部门"})
    co = forms.MultipleChoiceField(
        label="协办部门（可多选）", required=False, widget=forms.CheckboxSelectMultiple
    )
    note = _note()

    def setup(self) -> None:
        depts = selectors.department_choices(self.user, self.ticket)
        _choices(self, "lead").choices = [("", "请选择"), *depts]
        _choices(self, "co").choices = depts


class ResultForm(ActionForm):
    result = forms.CharField(
        label="办理结果",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "请填写办理结果"},
    )


class ResolveForm(ResultForm):
    photos = PhotosField(label="现场照片（最多3张，可不传）")
    photos_field = True

    def transition_data(self) -> dict[str, Any]:
        return {"result": self.cleaned_data["result"]}


class ReturnForm(ActionForm):
    reason = forms.CharField(
        label="回退理由",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "请填写回退理由"},
    )


class RegionForm(ActionForm):
    region = forms.ChoiceField(
        label="承办网格/单位", error_messages={"required": "请选择承办区划或网格"}
    )

    def setup(self) -> None:
        _choices(self, "region").choices = [("", "请选择"), *self.region_choices()]

    def region_choices(self) -> list[tuple[Any, Any]]:
        return selectors.assign_region_choices(self.user)


class AssignForm(RegionForm):
    category = forms.ChoiceField(label="分类（可不改）", required=False)
    note = _note()

    def setup(self) -> None:
        super().setup()
        _choices(self, "category").choices = [("", "不改"), *selectors.category_choices()]

    def transition_data(self) -> dict[str, Any]:
        data = super().transition_data()
        if data.get("category"):
            data["category"] = Category.objects.get(pk=data["category"])
        return data


class TransferForm(RegionForm):
    note = _note("转办原因", required=True, message="请说明转办原因")

    def region_choices(self) -> list[tuple[Any, Any]]:
        return selectors.transfer_region_choices(self.user, self.ticket)


class ExtensionForm(ActionForm):
    days = forms.IntegerField(
        label="延期（工作日）",
        min_value=1,
        max_value=MAX_EXTENSION_DAYS,
        error_messages={
            "required": "请填写延期天数",
            "min_value": f"延期天数应为 1 到 {MAX_EXTENSION_DAYS} 个工作日",
            "max_value": f"延期天数应为 1 到 {MAX_EXTENSION_DAYS} 个工作日",
            "invalid": "请填写整数天数",
        },
    )
    reason = forms.CharField(
        label="延期理由",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "请填写延期理由"},
    )


class ApproveExtensionForm(ActionForm):
    approve = forms.TypedChoiceField(
        label="审批意见",
        choices=[("1", "同意延期"), ("0", "不同意")],
        coerce=lambda v: v == "1",
        widget=forms.RadioSelect,
        initial="1",
    )
    note = _note()

    def transition_data(self) -> dict[str, Any]:
        data = {"approve": self.cleaned_data["approve"]}
        if self.cleaned_data.get("note"):
            data["note"] = self.cleaned_data["note"]
        return data


class SuperviseForm(ActionForm):
    days = forms.IntegerField(
        label="督办期限（工作日）",
        min_value=1,
        max_value=MAX_EXTENSION_DAYS,
        initial=1,
        error_messages={
            "required": "请填写督办期限",
            "min_value": f"督办期限应为 1 到 {MAX_EXTENSION_DAYS} 个工作日",
            "max_value": f"督办期限应为 1 到 {MAX_EXTENSION_DAYS} 个工作日",
            "invalid": "请填写整数天数",
        },
    )
    note = _note("督办意见（可不填）")


class StaffRateForm(ActionForm):
    rating = forms.ChoiceField(
        label="群众评价（回访）",
        choices=Rating.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "请选择满意、基本满意或不满意"},
    )
    comment = forms.CharField(label="回访记录", max_length=500, required=False)


class MergeForm(ActionForm):
    into = forms.CharField(
        label="合并到工单编号",
        max_length=20,
        error_messages={"required": "请填写要合并到的工单编号"},
    )
    note = _note()

    def clean_into(self) -> int:
        number = self.cleaned_data["into"].strip().upper()
        target = Ticket.objects.visible_to(self.user).filter(number=number).first()
        if target is None:
            raise ValidationError("未找到该编号的工单")
        return target.pk


class CancelActionForm(ActionForm):
    reason = forms.CharField(label="撤销原因（可不填）", max_length=500, required=False)


ACTION_FORMS: dict[str, type[ActionForm]] = {
    "cancel": CancelActionForm,
    "assign": AssignForm,
    "triage": RequiredNoteForm,
    "accept": NoteForm,
    "handle": HandleForm,
    "call_up": CallUpForm,
    "respond": NoteForm,
    "dispatch": DispatchForm,
    "dept_accept": NoteForm,
    "dept_finish": ResultForm,
    "return": ReturnForm,
    "transfer": TransferForm,
    "request_extension": ExtensionForm,
    "approve_extension": ApproveExtensionForm,
    "supervise": SuperviseForm,
    "resolve": ResolveForm,
    "rate": StaffRateForm,
    "merge": MergeForm,
    "archive": NoteForm,
}
# Actions that are one click (their form has only an optional note).
ONE_CLICK = {"accept", "respond", "dept_accept", "archive"}


def action_form(
    action: str, *, ticket: Ticket, user: Any, data: Any = None, files: Any = None
) -> ActionForm:
    cls = ACTION_FORMS.get(action, NoteForm)
    form = cls(data, files, ticket=ticket, user=user, auto_id=f"id_{action}_%s")
    form.action = action
    return form
