"""Reads of the base data. Every function starts from ``visible_to(user)`` (the one gate)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from jiayuan.core.errors import JiayuanError, NotFound
from jiayuan.core.masking import mask_id_number, mask_phone
from jiayuan.core.scoping import subtree_q
from jiayuan.regions.choices import Level, RentalStatus
from jiayuan.regions.models import Building, CareTagType, Household, Region, Resident


def _get_visible(queryset: QuerySet[Any], user: Any, pk: Any) -> Any:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound() from None
    obj = queryset.visible_to(user).filter(pk=pk).first()  # type: ignore[attr-defined]
    if obj is None:
        raise NotFound()
    return obj


def access_region(user: Any, pk: Any) -> Region:
    """The region ``pk`` if the user may see it; ``NotFound`` for missing and out of scope alike."""
    return _get_visible(Region.objects.select_related("parent"), user, pk)


def access_building(user: Any, pk: Any) -> Building:
    return _get_visible(Building.objects.select_related("grid", "estate", "micro_grid"), user, pk)


def access_household(user: Any, pk: Any) -> Household:
    return _get_visible(Household.objects.select_related("building", "unit", "grid"), user, pk)


def access_resident(user: Any, pk: Any) -> Resident:
    return _get_visible(
        Resident.objects.select_related("household__building", "household__unit", "grid"),
        user,
        pk,
    )


def _parse_bool(value: Any, field: str) -> bool | None:
    if value in (None, ""):
        return None
    if str(value).lower() in {"1", "true", "yes", "是"}:
        return True
    if str(value).lower() in {"0", "false", "no", "否"}:
        return False
    raise JiayuanError("请填写 是 或 否", code="invalid_choice", field=field)


def _under_region(user: Any, queryset: QuerySet[Any], region_id: Any, path_field: str) -> Any:
    if region_id in (None, ""):
        return queryset
    region = access_region(user, region_id)
    return queryset.filter(subtree_q(path_field, [region.path]))


def regions_visible(
    user: Any, *, parent_id: Any = None, level: str | None = None, q: str | None = None
) -> QuerySet[Region]:
    """Regions in scope; ``parent_id`` lists its children, ``level`` filters by level."""
    qs = Region.objects.visible_to(user).select_related("parent")
    if parent_id not in (None, ""):
        parent = access_region(user, parent_id)
        qs = qs.filter(parent=parent)
    if level:
        if level not in Level.values:
            raise JiayuanError("层级不正确", code="invalid_choice", field="level")
        qs = qs.filter(level=level)
    if q:
        qs = qs.filter(Q(name__contains=q) | Q(code__startswith=q))
    return qs.order_by("path")


def buildings_visible(
    user: Any, *, region_id: Any = None, q: str | None = None
) -> QuerySet[Building]:
    qs = Building.objects.visible_to(user).select_related("grid", "estate")
    qs = _under_region(user, qs, region_id, "grid__path")
    if q:
        qs = qs.filter(Q(name__contains=q) | Q(address__contains=q) | Q(code__startswith=q))
    return qs.annotate(n_households=Count("households")).order_by("code")


def households_visible(
    user: Any,
    *,
    region_id: Any = None,
    building_id: Any = None,
    q: str | None = None,
    rental_status: str | None = None,
    party_member_center: Any = None,
) -> QuerySet[Household]:
    qs = Household.objects.visible_to(user).select_related("building", "unit", "grid")
    qs = _under_region(user, qs, region_id, "grid__path")
    if building_id not in (None, ""):
        qs = qs.filter(building=access_building(user, building_id))
    if q:
        qs = qs.filter(
            Q(head_name__startswith=q) | Q(code__startswith=q) | Q(building__address__contains=q)
        )
    if rental_status:
        if rental_status not in RentalStatus.values:
            raise JiayuanError("居住状态不正确", code="invalid_choice", field="rental_status")
        qs = qs.filter(rental_status=rental_status)
    center = _parse_bool(party_member_center, "party_member_center")
    if center is not None:
        qs = qs.filter(party_member_center=center)
    return qs.order_by("code")


def residents_visible(
    user: Any,
    *,
    region_id: Any = None,
    household_id: Any = None,
    q: str | None = None,
    care_tag: str | None = None,
    party_member: Any = None,
    building_leader: Any = None,
) -> QuerySet[Resident]:
    """Residents in scope. ``q`` matches a name prefix, or a whole ID or phone number."""
    qs = Resident.objects.visible_to(user).select_related(
        "household__building", "household__unit", "grid"
    )
    qs = _under_region(user, qs, region_id, "grid__path")
    if household_id not in (None, ""):
        qs = qs.filter(household=access_household(user, household_id))
    if q:
        q = q.strip()
        qs = qs.filter(Q(name__startswith=q) | Q(id_number=q.upper()) | Q(phone=q))
    if care_tag:
        if not CareTagType.objects.filter(code=care_tag).exists():
            raise JiayuanError("特殊人群类型不存在", code="invalid_choice", field="care_tag")
        qs = qs.filter(care_tags__code=care_tag)
    member = _parse_bool(party_member, "party_member")
    if member is not None:
        qs = qs.filter(is_party_member=member)
    leader = _parse_bool(building_leader, "building_leader")
    if leader is not None:
        qs = qs.filter(is_building_leader=leader)
    return qs.order_by("id")


def present_resident(
    resident: Resident, *, unmasked: bool, tags: list[str] | None = None
) -> dict[str, Any]:
    """A resident as shown to a user: ID and phone masked unless ``unmasked`` (then log it)."""
    household = resident.household
    return {
        "id": resident.pk,
        "name": resident.name,
        "gender": resident.get_gender_display(),
        "birth_date": resident.birth_date,
        "id_number": resident.id_number if unmasked else mask_id_number(resident.id_number),
        "phone": resident.phone if unmasked else mask_phone(resident.phone),
        "relation": resident.get_relation_display(),
        "household_id": household.pk,
        "address": f"{household.building.address}{household.unit.number}单元{household.room}",
        "grid": resident.grid.name,
        "grid_id": resident.grid_id,
        "is_party_member": resident.is_party_member,
        "is_building_leader": resident.is_building_leader,
        "care_tags": tags if tags is not None else [t.name for t in resident.care_tags.all()],
        "masked": not unmasked,
    }


RESIDENT_EXPORT_HEADERS = [
    "编号",
    "姓名",
    "性别",
    "出生日期",
    "身份证号",
    "联系电话",
    "与户主关系",
    "住址",
    "网格",
    "党员",
    "楼栋长",
    "特殊人群标签",
]


def resident_export_row(data: dict[str, Any]) -> list[Any]:
    return [
        data["id"],
        data["name"],
        data["gender"],
        data["birth_date"],
        data["id_number"],
        data["phone"],
        data["relation"],
        data["address"],
        data["grid"],
        data["is_party_member"],
        data["is_building_leader"],
        "、".join(data["care_tags"]),
    ]
