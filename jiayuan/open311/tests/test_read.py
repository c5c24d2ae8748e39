"""GET endpoints of Open311 GeoReport v2, in JSON and XML, as a public client sees them."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from jiayuan.open311.selectors import mask_personal
from jiayuan.tickets.choices import State
from jiayuan.tickets.models import Category, Ticket
from jiayuan.tickets.services import ticket_create

pytestmark = pytest.mark.django_db

BASE = "/open311/v2"


def xml_of(response: Any) -> ET.Element:
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    body = response.content.decode("utf-8")
    assert body.startswith('<?xml version="1.0" encoding="utf-8"?>\n')
    return ET.fromstring(response.content)


def json_of(response: Any) -> Any:
    assert response["Content-Type"] == "application/json; charset=utf-8"
    return json.loads(response.content)


def children(element: ET.Element) -> list[str]:
    return [c.tag for c in element]


# --- discovery --------------------------------------------------------------------------------


def test_discovery_json_lists_the_v2_endpoint(client: Any) -> None:
    data = json_of(client.get(f"{BASE}/discovery.json"))
    assert set(data) == {"changeset", "contact", "key_service", "endpoints"}
    assert data["endpoints"] == [
        {
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": "http://127.0.0.1:8000/open311/v2",
            "changeset": "2026-11-23T00:00:00+08:00",
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }
    ]


def test_discovery_xml_uses_the_spec_element_names(client: Any) -> None:
    root = xml_of(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    assert children(root) == ["changeset", "contact", "key_service", "endpoints"]
    endpoint = root.find("endpoints/endpoint")
    assert endpoint is not None
    assert children(endpoint) == ["specification", "url", "changeset", "type", "formats"]
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint.findtext("type") == "production"
    assert [f.text for f in endpoint.findall("formats/format")] == [
        "text/xml",
        "application/json",
    ]


# --- services ---------------------------------------------------------------------------------


def test_services_json_one_per_active_second_level_category(
    client: Any, noise_attributes: Any, django_assert_max_num_queries: Any
) -> None:
    Category.objects.filter(code="bus").update(is_active=False)
    with django_assert_max_num_queries(1):
        data = json_of(client.get(f"{BASE}/services.json"))
    expected = Category.objects.filter(parent__isnull=False, is_active=True).count()
    assert len(data) == expected
    codes = [s["service_code"] for s in data]
    assert "bus" not in codes
    assert "urban" not in codes  # a first-level category is a group, not a service
    noise = next(s for s in data if s["service_code"] == "noise")
    assert noise == {
        "service_code": "noise",
        "service_name": "噪音扰民",
        "description": Category.objects.get(code="noise").description,
        "metadata": True,
        "type": "realtime",
        "keywords": Category.objects.get(code="noise").keywords,
        "group": "环境保护",
    }
    assert next(s for s in data if s["service_code"] == "property")["metadata"] is False


def test_services_xml(client: Any, noise_attributes: Any) -> None:
    root = xml_of(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    services = root.findall("service")
    assert len(services) == Category.objects.filter(parent__isnull=False).count()
    noise = next(s for s in services if s.findtext("service_code") == "noise")
    assert children(noise) == [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ]
    assert noise.findtext("service_name") == "噪音扰民"
    assert noise.findtext("metadata") == "true"
    assert noise.findtext("type") == "realtime"
    assert noise.findtext("group") == "环境保护"


def test_service_definition_json(client: Any, noise_attributes: Any) -> None:
    data = json_of(client.get(f"{BASE}/services/noise.json"))
    assert data == {
        "service_code": "noise",
        "attributes": [
            {
                "variable": True,
                "code": "period",
                "datatype": "singlevaluelist",
                "required": True,
                "datatype_description": None,
                "order": 1,
                "description": "噪音出现的时段",
                "values": [
                    {"key": "day", "name": "白天"},
                    {"key": "night", "name": "夜间（22点后）"},
                ],
            },
            {
                "variable": True,
                "code": "source",
                "datatype": "multivaluelist",
                "required": False,
                "datatype_description": "可多选",
                "order": 2,
                "description": "噪音来源",
                "values": [
                    {"key": "shop", "name": "商铺"},
                    {"key": "site", "name": "工地"},
                    {"key": "neighbour", "name": "邻居"},
                ],
            },
        ],
    }


def test_service_definition_xml(client: Any, noise_attributes: Any) -> None:
    root = xml_of(client.get(f"{BASE}/services/noise.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "noise"
    attrs = root.findall("attributes/attribute")
    assert [a.findtext("code") for a in attrs] == ["period", "source"]
    assert children(attrs[0]) == [
        "variable",
        "code",
        "datatype",
        "required",
        "datatype_description",
        "order",
        "description",
        "values",
    ]
    assert attrs[0].findtext("required") == "true"
    assert attrs[0].findtext("datatype_description") == ""  # an empty element
    values = attrs[0].findall("values/value")
    assert [(v.findtext("key"), v.findtext("name")) for v in values] == [
        ("day", "白天"),
        ("night", "夜间（22点后）"),
    ]


def test_service_definition_without_attributes_is_an_empty_list(client: Any) -> None:
    assert json_of(client.get(f"{BASE}/services/property.json")) == {
        "service_code": "property",
        "attributes": [],
    }


# --- requests (GET) ---------------------------------------------------------------------------


def test_requests_json_shows_public_fields_only(
    client: Any, public_ticket: Any, secret_ticket: Any, world: Any
) -> None:
    data = json_of(client.get(f"{BASE}/requests.json"))
    assert [r["service_request_id"] for r in data] == [public_ticket.number]
    item = data[0]
    local = timezone.localtime(public_ticket.created_at)
    assert item == {
        "service_request_id": public_ticket.number,
        "status": "open",
        "status_notes": "待签收",
        "service_name": "物业管理",
        "service_code": "property",
        "description": "3单元楼道灯不亮，联系我139****5678，身份证370602********1234",
        "agency_responsible": "友谊街社区第一网格",
        "service_notice": item["service_notice"],
        "requested_datetime": local.isoformat(timespec="seconds"),
        "updated_datetime": local.isoformat(timespec="seconds"),
        "expected_datetime": timezone.localtime(public_ticket.resolve_due).isoformat(
            timespec="seconds"
        ),
        "address": world.buildings["a1_1"].address,
        "address_id": world.buildings["a1_1"].code,
        "zipcode": "",
        "lat": 37.545,
        "long": 121.405,
        "media_url": "",
    }
    assert item["requested_datetime"].endswith("+08:00")
    assert item["service_notice"].startswith("已受理，由所在网格办理，预计")
    body = json.dumps(data, ensure_ascii=False)
    for personal in ("李秀英", "13900000001", "13912345678", "王保密"):
        assert personal not in body


def test_requests_xml(client: Any, public_ticket: Any) -> None:
    root = xml_of(client.get(f"{BASE}/requests.xml"))
    assert root.tag == "service_requests"
    requests = root.findall("request")
    assert len(requests) == 1
    assert children(requests[0]) == [
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    ]
    assert requests[0].findtext("service_request_id") == public_ticket.number
    assert requests[0].findtext("status") == "open"
    assert requests[0].findtext("lat") == "37.545"
    assert requests[0].findtext("long") == "121.405"
    assert "13900000001" not in response_text(root)
    assert "李秀英" not in response_text(root)


def response_text(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode")


def test_closed_ticket_reports_closed_with_result_and_department(
    client: Any, public_ticket: Any, world: Any
) -> None:
    Ticket.objects.filter(pk=public_ticket.pk).update(state=State.CLOSED, result="已更换灯泡")
    data = json_of(client.get(f"{BASE}/requests/{public_ticket.number}.json"))
    assert data[0]["status"] == "closed"
    assert data[0]["status_notes"] == "已更换灯泡"
    assert data[0]["service_notice"] is None


def test_lead_department_is_the_agency_responsible(
    client: Any, public_ticket: Any, world: Any
) -> None:
    from jiayuan.tickets.models import TicketAssignment

    TicketAssignment.objects.create(
        ticket=public_ticket,
        department=world.departments["housing"],
        role="lead",
        dispatched_from=world.r("street_a"),
    )
    data = json_of(client.get(f"{BASE}/requests.json"))
    assert data[0]["agency_responsible"] == "芝罘区住房和城乡建设局"


def test_requests_filters(client: Any, world: Any, public_ticket: Any) -> None:
    noise = ticket_create(
        channel="web",
        title="",
        description="夜里施工太吵",
        anonymous=True,
        category=Category.objects.get(code="noise"),
        grid=world.r("grid_a2_1"),
    ).ticket
    Ticket.objects.filter(pk=noise.pk).update(state=State.RESOLVED)

    def ids(query: str) -> list[str]:
        data = json_of(client.get(f"{BASE}/requests.json?{query}"))
        return [r["service_request_id"] for r in data]

    assert ids("service_code=noise") == [noise.number]
    assert ids("service_code=noise,property") == [noise.number, public_ticket.number]
    assert ids("status=open") == [public_ticket.number]
    assert ids("status=closed") == [noise.number]
    assert ids("status=open,closed") == [noise.number, public_ticket.number]
    assert ids(f"service_request_id={public_ticket.number}") == [public_ticket.number]
    # service_request_id overrides every other argument (the spec)
    assert ids(f"service_request_id={public_ticket.number},{noise.number}&status=open") == [
        noise.number,
        public_ticket.number,
    ]


def test_requests_date_window(client: Any, world: Any) -> None:
    def make(when: dt.datetime) -> str:
        return ticket_create(
            channel="web",
            title="",
            description="路灯不亮",
            anonymous=True,
            grid=world.r("grid_a1_1"),
            created_at=when,
        ).ticket.number

    now = timezone.now()
    old = make(now - dt.timedelta(days=120))
    recent = make(now - dt.timedelta(days=10))

    def ids(query: str = "") -> list[str]:
        data = json_of(client.get(f"{BASE}/requests.json?{query}"))
        return [r["service_request_id"] for r in data]

    assert ids() == [recent]  # the last 90 days by default
    start = (now - dt.timedelta(days=130)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now - dt.timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(f"start_date={start}&end_date={end}") == [old]
    assert ids(f"start_date={start}") == [old]  # 90 days from the start
    # an unencoded '+' arrives as a space; it still parses
    local_start = timezone.localtime(now - dt.timedelta(days=11)).strftime("%Y-%m-%dT%H:%M:%S")
    assert ids(f"start_date={local_start}+08:00") == [recent]


def test_confidential_request_is_404_and_never_listed(client: Any, secret_ticket: Any) -> None:
    assert json_of(client.get(f"{BASE}/requests.json")) == []
    by_id = client.get(f"{BASE}/requests.json?service_request_id={secret_ticket.number}")
    assert json_of(by_id) == []
    response = client.get(f"{BASE}/requests/{secret_ticket.number}.json")
    assert response.status_code == 404
    assert json_of(response)[0]["code"] == 404
    assert client.get(f"{BASE}/tokens/{secret_ticket.public_token}.json").status_code == 404


def test_request_detail_json_and_xml(client: Any, public_ticket: Any) -> None:
    data = json_of(client.get(f"{BASE}/requests/{public_ticket.number}.json"))
    assert len(data) == 1
    assert data[0]["service_request_id"] == public_ticket.number
    root = xml_of(client.get(f"{BASE}/requests/{public_ticket.number}.xml"))
    assert root.tag == "service_requests"
    assert [r.findtext("service_request_id") for r in root.findall("request")] == [
        public_ticket.number
    ]


def test_token_answers_the_service_request_id(client: Any, public_ticket: Any) -> None:
    token = public_ticket.public_token
    assert json_of(client.get(f"{BASE}/tokens/{token}.json")) == [
        {"service_request_id": public_ticket.number, "token": token}
    ]
    root = xml_of(client.get(f"{BASE}/tokens/{token}.xml"))
    request = root.find("request")
    assert request is not None
    assert children(request) == ["service_request_id", "token"]
    assert request.findtext("token") == token


def test_requests_list_query_count_does_not_grow(
    client: Any, world: Any, django_assert_max_num_queries: Any
) -> None:
    from jiayuan.tickets.models import TicketAssignment

    for i in range(12):
        t = ticket_create(
            channel="web",
            title="",
            description=f"第{i}件事",
            anonymous=True,
            building=world.buildings["a1_1b"],
            category=Category.objects.get(code="garbage"),
        ).ticket
        if i % 3 == 0:
            TicketAssignment.objects.create(
                ticket=t,
                department=world.departments["housing"],
                role="lead",
                dispatched_from=world.r("street_a"),
            )
    with django_assert_max_num_queries(2):
        data = json_of(client.get(f"{BASE}/requests.json"))
    assert len(data) == 12
    assert sum(r["agency_responsible"] == "芝罘区住房和城乡建设局" for r in data) == 4


def test_requests_are_capped_newest_first(client: Any, world: Any, monkeypatch: Any) -> None:
    from jiayuan.open311 import selectors

    assert selectors.MAX_REQUESTS == 1000  # the spec's default limit
    monkeypatch.setattr(selectors, "MAX_REQUESTS", 3)
    now = timezone.now()
    numbers = [
        ticket_create(
            channel="web",
            title="",
            description=f"第{i}件",
            anonymous=True,
            grid=world.r("grid_a1_1"),
            created_at=now - dt.timedelta(hours=10 - i),
        ).ticket.number
        for i in range(5)
    ]
    data = json_of(client.get(f"{BASE}/requests.json"))
    assert [r["service_request_id"] for r in data] == numbers[:1:-1]


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status", "fragment"),
    [
        ("/services/nope.json", 404, "service_code 不存在"),
        ("/requests/J20990101000001.json", 404, "service_request_id 不存在"),
        ("/tokens/nope.json", 404, "token 不存在"),
        ("/services.json?jurisdiction_id=example.org", 404, "jurisdiction_id 不存在"),
        ("/requests.json?start_date=yesterday", 400, "start_date 不是 W3C 日期时间"),
        ("/requests.json?end_date=2026-13-45T00:00:00Z", 400, "end_date 不是 W3C 日期时间"),
        ("/requests.json?status=pending", 400, "status 只能是 open 或 closed"),
        (
            "/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
            400,
            "不能超过90天",
        ),
        (
            "/requests.json?start_date=2026-06-01T00:00:00Z&end_date=2026-01-01T00:00:00Z",
            400,
            "end_date 早于 start_date",
        ),
        ("/services.csv", 404, "不支持的格式"),
    ],
)
def test_errors_json(client: Any, world: Any, url: str, status: int, fragment: str) -> None:
    response = client.get(BASE + url)
    assert response.status_code == status
    data = json_of(response)
    assert len(data) == 1
    assert data[0]["code"] == status
    assert fragment in data[0]["description"]


def test_errors_xml(client: Any, world: Any) -> None:
    response = client.get(f"{BASE}/services/nope.xml")
    assert response.status_code == 404
    root = xml_of(response)
    assert root.tag == "errors"
    error = root.find("error")
    assert error is not None
    assert children(error) == ["code", "description"]
    assert error.findtext("code") == "404"
    assert error.findtext("description") == "service_code 不存在：nope (service_code not found)"


def test_configured_jurisdiction_is_accepted(client: Any, public_ticket: Any) -> None:
    response = client.get(f"{BASE}/requests.json?jurisdiction_id=yantai.gov.cn")
    assert response.status_code == 200
    assert len(json_of(response)) == 1


def test_wrong_method_is_405_in_open311_format(client: Any, world: Any) -> None:
    response = client.post(f"{BASE}/services.xml")
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert xml_of(response).findtext("error/code") == "405"
    response = client.delete(f"{BASE}/requests.json")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


def test_get_needs_no_login_and_allows_other_origins(client: Any, world: Any) -> None:
    response = client.get(f"{BASE}/services.json")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"


def test_w3c_datetimes_carry_the_beijing_offset(client: Any, world: Any) -> None:
    with time_machine.travel(dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC), tick=False):
        ticket_create(
            channel="web",
            title="",
            description="井盖松动",
            anonymous=True,
            grid=world.r("grid_a1_1"),
        )
        data = json_of(client.get(f"{BASE}/requests.json"))
    assert data[0]["requested_datetime"] == "2026-11-23T20:00:00+08:00"
    assert data[0]["updated_datetime"] == "2026-11-23T20:00:00+08:00"


def test_mask_personal_keeps_ordinary_numbers() -> None:
    assert mask_personal("3单元502室，电话0535-6612345") == "3单元502室，电话0535-****2345"
    assert mask_personal("订单号 20261123") == "订单号 20261123"
    assert mask_personal("身份证 37060219800101123X") == "身份证 370602********123X"
