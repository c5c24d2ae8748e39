"""POST requests: what an existing Open311 client sends (a form-encoded POST to requests.json,
the way the python ``requests`` library encodes ``data=``), and every way it can go wrong."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

import pytest

from jiayuan.open311.models import ApiKey
from jiayuan.open311.services import apikey_create
from jiayuan.open311.tests.conftest import INSIDE_A1_1, OUTSIDE
from jiayuan.tickets.choices import State
from jiayuan.tickets.models import Ticket, TicketEvent

pytestmark = pytest.mark.django_db

BASE = "/open311/v2"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def post(client: Any, fmt: str = "json", idempotency_key: str = "", **fields: Any) -> Any:
    """Like ``requests.post(url, data=fields)``: a urlencoded body, lists as repeated keys."""
    body = urlencode(fields, doseq=True)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return client.post(f"{BASE}/requests.{fmt}", body, content_type=FORM, headers=headers)


def error_of(response: Any) -> tuple[int, str]:
    data = json.loads(response.content)
    assert isinstance(data, list) and len(data) == 1
    assert set(data[0]) == {"code", "description"}
    return data[0]["code"], data[0]["description"]


def test_post_inside_a_grid_creates_an_assigned_ticket(
    client: Any, world: Any, raw_key: str
) -> None:
    response = post(
        client,
        api_key=raw_key,
        jurisdiction_id="yantai.gov.cn",
        service_code="garbage",
        description="垃圾桶满了三天没人清运",
        address_string="芝罘区友谊路12号",
        first_name="秀英",
        last_name="李",
        phone="13911112222",
        email="li@example.com",
        device_id="dev-1",
        account_id="acct-7",
        media_url="https://img.example.com/1.jpg",
        **INSIDE_A1_1,
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    data = json.loads(response.content)
    ticket = Ticket.objects.get()
    assert data == [
        {
            "service_request_id": ticket.number,
            "service_notice": data[0]["service_notice"],
            "account_id": "acct-7",
        }
    ]
    assert data[0]["service_notice"].startswith("已受理，由所在网格办理，预计")
    assert ticket.channel == "open311"
    assert ticket.grid == world.r("grid_a1_1")
    assert ticket.state == State.ASSIGNED
    assert ticket.category is not None and ticket.category.code == "garbage"
    assert (ticket.lat, ticket.lng) == (37.5452, 121.4031)
    assert ticket.address == "芝罘区友谊路12号"
    assert ticket.reporter_name == "李秀英"
    assert ticket.reporter_phone == "13911112222"
    assert ticket.anonymous is False
    assert ticket.media_url == "https://img.example.com/1.jpg"
    assert ticket.attributes == {
        "open311": {
            "api_key": "测试客户端",
            "attributes": {},
            "email": "li@example.com",
            "device_id": "dev-1",
            "account_id": "acct-7",
        }
    }
    event = TicketEvent.objects.get(ticket=ticket)
    assert (event.action, event.actor_label) == ("submit", "烟台市民通 App")
    assert ApiKey.objects.get().last_used_at is not None


def test_post_outside_every_grid_goes_to_triage(client: Any, world: Any, raw_key: str) -> None:
    response = post(client, api_key=raw_key, service_code="road", description="路面塌陷", **OUTSIDE)
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert ticket.grid is None
    assert ticket.state == State.TRIAGE
    assert ticket.anonymous is True
    assert json.loads(response.content)[0]["service_notice"] == "已受理，正在分拨到责任网格。"


def test_post_by_address_id_uses_the_building(client: Any, world: Any, raw_key: str) -> None:
    building = world.buildings["a2_1"]
    response = post(
        client,
        api_key=raw_key,
        service_code="property",
        description="电梯坏了",
        address_id=building.code,
    )
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert ticket.building == building
    assert ticket.grid == world.r("grid_a2_1")
    assert ticket.address == building.address


def test_post_with_only_an_address_string_goes_to_triage(
    client: Any, world: Any, raw_key: str
) -> None:
    response = post(
        client,
        api_key=raw_key,
        service_code="noise",
        description="广场舞太吵",
        address_string="芝罘区南大街某广场",
    )
    assert response.status_code == 200
    assert Ticket.objects.get().state == State.TRIAGE


def test_post_xml_answers_service_requests(client: Any, world: Any, raw_key: str) -> None:
    response = post(
        client, "xml", api_key=raw_key, service_code="garbage", description="垃圾", **INSIDE_A1_1
    )
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert root.tag == "service_requests"
    request = root.find("request")
    assert request is not None
    assert [c.tag for c in request] == ["service_request_id", "service_notice", "account_id"]
    assert request.findtext("service_request_id") == Ticket.objects.get().number
    assert request.findtext("account_id") == ""  # <account_id />


def test_post_multipart_is_accepted(client: Any, world: Any, raw_key: str) -> None:
    response = client.post(
        f"{BASE}/requests.json",
        {"api_key": raw_key, "service_code": "garbage", "description": "垃圾", **INSIDE_A1_1},
    )
    assert response.status_code == 200
    assert Ticket.objects.count() == 1


def test_retried_post_with_the_same_idempotency_key_creates_one_ticket(
    client: Any, world: Any, raw_key: str
) -> None:
    fields = {"api_key": raw_key, "service_code": "garbage", "description": "垃圾", **INSIDE_A1_1}
    first = post(client, idempotency_key="abc-123", **fields)
    again = post(client, idempotency_key="abc-123", **fields)
    assert first.status_code == again.status_code == 200
    first_id = json.loads(first.content)[0]["service_request_id"]
    assert json.loads(again.content)[0]["service_request_id"] == first_id
    assert Ticket.objects.count() == 1
    other = post(client, idempotency_key="abc-124", **fields)
    assert json.loads(other.content)[0]["service_request_id"] != first_id
    without = post(client, **fields)
    assert without.status_code == 200
    assert Ticket.objects.count() == 3


def test_the_same_idempotency_key_under_another_api_key_is_another_request(
    client: Any, world: Any, raw_key: str
) -> None:
    other_raw = apikey_create(name="另一个客户端")[1]
    fields = {"service_code": "garbage", "description": "垃圾", **INSIDE_A1_1}
    post(client, idempotency_key="k1", api_key=raw_key, **fields)
    post(client, idempotency_key="k1", api_key=other_raw, **fields)
    assert Ticket.objects.count() == 2


def test_attributes_are_validated_and_stored(
    client: Any, world: Any, raw_key: str, noise_attributes: Any
) -> None:
    response = post(
        client,
        api_key=raw_key,
        service_code="noise",
        description="楼下商铺和工地夜里很吵",
        **dict[str, Any]({"attribute[period]": "night", "attribute[source][]": ["shop", "site"]}),
        **INSIDE_A1_1,
    )
    assert response.status_code == 200, response.content
    assert Ticket.objects.get().attributes["open311"]["attributes"] == {
        "period": "night",
        "source": ["shop", "site"],
    }


@pytest.mark.parametrize(
    ("fields", "status", "fragment"),
    [
        ({"api_key": ""}, 403, "api_key 无效或缺失"),
        ({"api_key": "jy311_not-a-real-key"}, 403, "api_key 无效或缺失"),
        ({"api_key": "nonsense"}, 403, "api_key 无效或缺失"),
        ({"service_code": ""}, 400, "缺少 service_code"),
        ({"service_code": "no_such_service"}, 404, "service_code 不存在"),
        ({"lat": "", "long": ""}, 400, "缺少位置"),
        ({"long": ""}, 400, "lat 与 long 须同时提供"),
        ({"lat": "north"}, 400, "lat 不是数字"),
        ({"lat": "137.5"}, 400, "lat 超出范围"),
        ({"lat": "", "long": "", "address_id": "NO-SUCH-BUILDING"}, 400, "address_id 不存在"),
        ({"jurisdiction_id": "beijing.gov.cn"}, 404, "jurisdiction_id 不存在"),
        ({"description": "长" * 4001}, 400, "description 过长"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url 须为 http(s) 链接"),
        ({"attribute[period]": ""}, 400, "缺少必填项 attribute[period]"),
        ({"attribute[period]": "evening"}, 400, "attribute[period] 的取值 evening 不在可选值中"),
        (
            {"attribute[period]": "day", "attribute[source][]": ["shop", "bar"]},
            400,
            "attribute[source] 的取值 bar 不在可选值中",
        ),
    ],
)
def test_post_errors(
    client: Any,
    world: Any,
    raw_key: str,
    noise_attributes: Any,
    fields: dict[str, Any],
    status: int,
    fragment: str,
) -> None:
    base = {
        "api_key": raw_key,
        "service_code": "noise",
        "description": "吵",
        "attribute[period]": "night",
        **INSIDE_A1_1,
    }
    response = post(client, **{**base, **fields})
    assert response.status_code == status
    code, description = error_of(response)
    assert code == status
    assert fragment in description
    assert Ticket.objects.count() == 0


def test_post_error_in_xml(client: Any, world: Any) -> None:
    response = post(client, "xml", api_key="bad", service_code="noise", **INSIDE_A1_1)
    assert response.status_code == 403
    root = ET.fromstring(response.content)
    assert root.tag == "errors"
    assert root.findtext("error/code") == "403"
    assert root.findtext("error/description") == "api_key 无效或缺失 (invalid or missing api_key)"


def test_inactive_key_is_refused(client: Any, world: Any, raw_key: str) -> None:
    ApiKey.objects.update(is_active=False)
    response = post(client, api_key=raw_key, service_code="garbage", description="x", **INSIDE_A1_1)
    assert response.status_code == 403


def test_post_needs_no_csrf_token(world: Any, raw_key: str) -> None:
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = post(strict, api_key=raw_key, service_code="garbage", description="x", **INSIDE_A1_1)
    assert response.status_code == 200


def test_missing_description_is_filled_from_the_service(
    client: Any, world: Any, raw_key: str
) -> None:
    response = post(client, api_key=raw_key, service_code="garbage", **INSIDE_A1_1)
    assert response.status_code == 200
    assert Ticket.objects.get().description == "垃圾清运（未填写描述）"


def test_posted_request_can_be_read_back_without_personal_data(
    client: Any, world: Any, raw_key: str
) -> None:
    created = post(
        client,
        api_key=raw_key,
        service_code="garbage",
        description="垃圾没人收",
        first_name="秀英",
        last_name="李",
        phone="13911112222",
        email="li@example.com",
        **INSIDE_A1_1,
    )
    number = json.loads(created.content)[0]["service_request_id"]
    response = client.get(f"{BASE}/requests/{number}.json")
    body = response.content.decode("utf-8")
    assert json.loads(body)[0]["service_code"] == "garbage"
    for personal in ("李秀英", "秀英", "13911112222", "li@example.com", "acct"):
        assert personal not in body
