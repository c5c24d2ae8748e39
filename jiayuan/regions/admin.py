"""Admin for base data. Lists are scoped; ID and phone numbers are masked unless the post may see
them, and opening a resident's form with them unmasked is written to the access log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from jiayuan.core.admin import ScopedAdmin
from jiayuan.core.masking import can_unmask, log_unmasked, mask_id_number, mask_phone
from jiayuan.regions.models import (
    Building,
    CareTagType,
    Cluster,
    Estate,
    Household,
    Region,
    Resident,
    Unit,
)


@admin.register(Region)
class RegionAdmin(ScopedAdmin):
    list_display = ["code", "name", "level", "kind", "parent", "household_count"]
    list_filter = ["level", "kind"]
    search_fields = ["code", "name"]
    raw_id_fields = ["parent", "cluster"]
    readonly_fields = ["path", "depth"]


@admin.register(Cluster)
class ClusterAdmin(ScopedAdmin):
    list_display = ["code", "name", "street"]
    search_fields = ["code", "name"]
    raw_id_fields = ["street"]


@admin.register(Estate)
class EstateAdmin(ScopedAdmin):
    list_display = ["code", "name", "community", "property_company"]
    search_fields = ["code", "name"]
    raw_id_fields = ["community"]


class UnitInline(admin.TabularInline):
    model = Unit
    extra = 0


@admin.register(Building)
class BuildingAdmin(ScopedAdmin):
    list_display = ["code", "name", "address", "grid", "estate"]
    search_fields = ["code", "name", "address"]
    raw_id_fields = ["grid", "micro_grid", "estate"]
    readonly_fields = ["qr_token"]
    inlines = [UnitInline]


@admin.register(Household)
class HouseholdAdmin(ScopedAdmin):
    list_display = ["code", "building", "room", "head_name", "rental_status", "party_member_center"]
    list_filter = ["rental_status", "party_member_center"]
    search_fields = ["code", "head_name"]
    raw_id_fields = ["building", "unit", "grid"]
    list_select_related = ["building", "unit"]


@admin.register(CareTagType)
class CareTagTypeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "visit_interval_days", "sensitive", "sort"]


@admin.register(Resident)
class ResidentAdmin(ScopedAdmin):
    list_display = ["name", "masked_id_number", "masked_phone", "household", "grid"]
    list_filter = ["is_party_member", "is_building_leader", "care_tags"]
    search_fields = ["name", "=id_number", "=phone"]
    raw_id_fields = ["household", "grid", "user"]
    list_select_related = ["household__building", "household__unit", "grid"]
    filter_horizontal = ["care_tags"]

    @admin.display(description="身份证号")
    def masked_id_number(self, obj: Resident) -> str:
        return mask_id_number(obj.id_number)

    @admin.display(description="联系电话")
    def masked_phone(self, obj: Resident) -> str:
        return mask_phone(obj.phone)

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        # Without the right, the raw fields are not even sent to the browser.
        return [] if can_unmask(request.user) else ["id_number", "phone"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if can_unmask(request.user) else ["masked_id_number", "masked_phone"]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200 and can_unmask(request.user):
            log_unmasked(
                user=request.user,
                action="admin",
                model=Resident,
                object_ids=[object_id],
                request=request,
            )
        return response
