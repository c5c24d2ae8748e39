"""Duplicates (疑似重复): same building, within 100 m, outside the window, closed ones, text."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from jiayuan.routing.duplicates import duplicate_candidates, haversine_m, text_similarity
from jiayuan.tickets.choices import State
from jiayuan.tickets.models import Category, Ticket
from jiayuan.tickets.services import ticket_create
from jiayuan.tickets.workflow import transition

pytestmark = pytest.mark.django_db

LAMP = ("3号楼楼道灯不亮", "3号楼2单元楼道灯坏了好几天，晚上上下楼看不见，请尽快修理")
LAMP_AGAIN = ("楼道灯坏了", "2单元楼道灯不亮，晚上看不见，老人上下楼不安全")
NOISE = ("广场舞噪音扰民", "每晚小区广场舞音响声音太大，影响休息")


def report(world: Any, text: tuple[str, str], **kw: Any) -> Ticket:
    args: dict[str, Any] = {
        "channel": "web",
        "title": text[0],
        "description": text[1],
        "reporter_phone": "13900000004",
        "category": Category.objects.get(code="property"),
    }
    args.update(kw)
    return ticket_create(**args).ticket


def test_haversine_is_in_metres() -> None:
    # 0.001° of latitude is 111 m everywhere.
    assert round(haversine_m(121.4, 37.54, 121.4, 37.541)) == 111


def test_text_similarity_ranks_the_same_request_above_another() -> None:
    same = text_similarity("".join(LAMP), "".join(LAMP_AGAIN))
    other = text_similarity("".join(LAMP), "".join(NOISE))
    assert same >= 0.5 > other


def test_same_building_open_ticket_is_a_candidate(world: Any) -> None:
    first = report(world, LAMP, building=world.buildings["a1_1"])
    second = report(world, LAMP_AGAIN, building=world.buildings["a1_1"])
    found = duplicate_candidates(second)
    assert [(c.ticket, c.same_building) for c in found] == [(first, True)]
    assert found[0].score >= 0.5


def test_different_text_at_the_same_building_is_not(world: Any) -> None:
    report(world, NOISE, building=world.buildings["a1_1"])
    second = report(world, LAMP_AGAIN, building=world.buildings["a1_1"])
    assert duplicate_candidates(second) == []


def test_within_100_metres_is_a_candidate(world: Any) -> None:
    # Building a1_1b is 0.001° east and north of a1_1: about 140 m; this point is 55 m away.
    first = report(world, LAMP, lng=121.4056, lat=37.5452)
    second = report(world, LAMP_AGAIN, lng=121.4050, lat=37.5450)
    found = duplicate_candidates(second)
    assert [c.ticket for c in found] == [first]
    assert found[0].same_building is False
    assert 40 < (found[0].distance_m or 0) < 70


def test_beyond_100_metres_is_not(world: Any) -> None:
    report(world, LAMP, building=world.buildings["a1_1b"])  # ~140 m from a1_1
    second = report(world, LAMP_AGAIN, building=world.buildings["a1_1"])
    assert duplicate_candidates(second) == []


def test_outside_the_window_is_not(world: Any, settings: Any) -> None:
    settings.ROUTING_DUPLICATE_DAYS = 7
    old = report(
        world,
        LAMP,
        building=world.buildings["a1_1"],
        created_at=timezone.now() - dt.timedelta(days=8),
    )
    second = report(world, LAMP_AGAIN, building=world.buildings["a1_1"])
    assert duplicate_candidates(second) == []
    settings.ROUTING_DUPLICATE_DAYS = 10
    assert [c.ticket for c in duplicate_candidates(second)] == [old]


def test_closed_tickets_are_not_candidates(world: Any) -> None:
    first = report(world, LAMP, building=world.buildings["a1_1"])
    transition(first, "cancel", as_reporter=True)
    second = report(world, LAMP_AGAIN, building=world.buildings["a1_1"])
    assert duplicate_candidates(second) == []


def test_fragment_offers_merge_and_merging_uses_the_workflow(login: Any, world: Any) -> None:
    first = report(world, LAMP, building=world.buildings["a1_1"])
    second = report(world, LAMP_AGAIN, building=world.buildings["a1_1"])
    client = login("grid_worker")
    page = client.get(reverse("tickets:detail", args=[second.number])).content.decode()
    assert reverse("routing:duplicates", args=[second.number]) in page
    fragment = client.get(reverse("routing:duplicates", args=[second.number])).content.decode()
    assert "疑似重复" in fragment and first.number in fragment
    assert f'name="into" value="{first.number}"' in fragment
    response = client.post(
        reverse("tickets:act", args=[second.number, "merge"]),
        {"into": first.number},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    second.refresh_from_db()
    assert (second.state, second.merged_into) == (State.MERGED, first)


def test_fragment_is_scoped(login: Any, world: Any) -> None:
    report(world, LAMP, building=world.buildings["a1_1"])
    second = report(world, LAMP_AGAIN, building=world.buildings["a1_1"])
    url = reverse("routing:duplicates", args=[second.number])
    assert login("community_worker").get(url).status_code == 404  # 建昌街社区: not theirs
