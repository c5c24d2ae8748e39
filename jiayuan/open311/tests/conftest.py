"""Fixtures for the Open311 tests: an API key, a service with attributes, public tickets."""

from __future__ import annotations

from typing import Any

import pytest

from jiayuan.open311.models import ServiceAttribute
from jiayuan.open311.services import apikey_create
from jiayuan.tickets.models import Category
from jiayuan.tickets.services import ticket_create

# A point inside grid A1-1 (lng 121.40–121.41, lat 37.54–37.55) and one outside every grid.
INSIDE_A1_1 = {"lat": "37.5452", "long": "121.4031"}
OUTSIDE = {"lat": "37.60", "long": "121.60"}


@pytest.fixture
def raw_key(db: Any) -> str:
    return apikey_create(name="测试客户端", channel_label="烟台市民通 App")[1]


@pytest.fixture
def noise_attributes(db: Any) -> list[ServiceAttribute]:
    """噪音扰民 asks when (required single choice) and what kind (optional multi choice)."""
    noise = Category.objects.get(code="noise")
    return [
        ServiceAttribute.objects.create(
            category=noise,
            code="period",
            datatype="singlevaluelist",
            required=True,
            order=1,
            description="噪音出现的时段",
            values=[{"key": "day", "name": "白天"}, {"key": "night", "name": "夜间（22点后）"}],
        ),
        ServiceAttribute.objects.create(
            category=noise,
            code="source",
            datatype="multivaluelist",
            required=False,
            order=2,
            description="噪音来源",
            datatype_description="可多选",
            values=[
                {"key": "shop", "name": "商铺"},
                {"key": "site", "name": "工地"},
                {"key": "neighbour", "name": "邻居"},
            ],
        ),
    ]


@pytest.fixture
def public_ticket(world: Any) -> Any:
    return ticket_create(
        channel="qr",
        title="楼道灯坏了",
        description="3单元楼道灯不亮，联系我13912345678，身份证370602198001011234",
        building=world.buildings["a1_1"],
        reporter_phone="13900000001",
        reporter_name="李秀英",
        category=Category.objects.get(code="property"),
    ).ticket


@pytest.fixture
def secret_ticket(world: Any) -> Any:
    return ticket_create(
        channel="web",
        title="举报",
        description="保密举报内容",
        building=world.buildings["a1_2"],
        reporter_phone="13900000002",
        reporter_name="王保密",
        confidential=True,
        category=Category.objects.get(code="public_security"),
    ).ticket
