"""Fixtures for the pipeline: a ticket reported on a building of grid A1-1."""

from __future__ import annotations

from typing import Any

import pytest

from jiayuan.staff.choices import Role
from jiayuan.staff.models import Department, Post
from jiayuan.tickets.models import Category
from jiayuan.tickets.services import ticket_create


@pytest.fixture
def depts(world: Any) -> dict[str, Department]:
    city_admin = Department.objects.create(
        code="zfcg", name="芝罘区综合行政执法局", short_name="城管", region=world.r("district")
    )
    user = world.users["department_officer"]
    from jiayuan.core.testing import UserFactory

    cg_user: Any = UserFactory(username="chengguan")
    Post.objects.create(user=cg_user, role=Role.DEPARTMENT_OFFICER, department=city_admin)
    world.users["chengguan"] = cg_user
    return {"housing": world.departments["housing"], "chengguan": city_admin, "_": user}


@pytest.fixture
def ticket(world: Any) -> Any:
    return ticket_create(
        channel="qr",
        title="楼道灯坏了",
        description="3单元楼道灯不亮，晚上看不见",
        building=world.buildings["a1_1"],
        reporter_phone="13900000001",
        reporter_name="李女士",
        category=Category.objects.get(code="property"),
    ).ticket
