"""Hot spots (高发预警): N tickets of a category in an estate or a grid within the window raise one
alert, once, and tell the community; the map layer is scoped."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from jiayuan.notifications.models import Notification
from jiayuan.regions.models import Estate
from jiayuan.routing.hotspots import hot_spots_raise
from jiayuan.routing.models_dispatch import HotSpot
from jiayuan.tickets.models import Category
from jiayuan.tickets.services import ticket_create

pytestmark = pytest.mark.django_db


def reports(world: Any, n: int, *, building: str = "a1_1", code: str = "noise", **kw: Any) -> None:
    for i in range(n):
        ticket_create(
            channel="web",
            title=f"噪音扰民{i}",
            description="晚上施工噪音太大",
            building=world.buildings[building],
            category=Category.objects.get(code=code),
            reporter_phone="13900000005",
            **kw,
        )


@pytest.fixture
def estate(world: Any) -> Estate:
    estate = Estate.objects.get(code="E1")
    for key in ("a1_1", "a1_1b"):
        b = world.buildings[key]
        b.estate = estate
        b.save()
    return estate


def test_five_tickets_in_a_grid_raise_one_hot_spot_and_tell_the_community(world: Any) -> None:
    reports(world, 5, building="a2_1")
    run = hot_spots_raise()
    assert (run.raised, run.notified) == (1, 1)  # grid A2-1 (its building has no estate)
    spot = HotSpot.objects.get()
    assert (spot.place_kind, spot.grid, spot.community, spot.ticket_count) == (
        "grid",
        world.r("grid_a2_1"),
        world.r("comm_a2"),
        5,
    )
    assert spot.category.code == "noise"
    note = Notification.objects.get()
    assert note.recipient == world.users["community_worker"]  # 建昌街社区's handler
    assert note.title == "高发预警：建昌街社区第一网格7天内5件“噪音扰民”诉求"


def test_raising_is_idempotent(world: Any) -> None:
    reports(world, 5, building="a2_1")
    hot_spots_raise()
    again = hot_spots_raise()
    assert (again.raised, again.updated, again.notified) == (0, 0, 0)
    assert HotSpot.objects.count() == 1
    assert Notification.objects.count() == 1
    reports(world, 1, building="a2_1")
    assert hot_spots_raise().updated == 1
    assert HotSpot.objects.get().ticket_count == 6
    assert Notification.objects.count() == 1


def test_estate_and_grid_both_raise(world: Any, estate: Estate) -> None:
    reports(world, 3, building="a1_1")
    reports(world, 2, building="a1_1b")
    hot_spots_raise()
    spots = {(s.place_kind, s.estate_id, s.grid_id) for s in HotSpot.objects.all()}
    assert spots == {("estate", estate.pk, None), ("grid", None, world.r("grid_a1_1").pk)}
    # 友谊街社区: the secretary is told, once per hot spot.
    assert Notification.objects.filter(recipient=world.users["community_secretary"]).count() == 2


def test_fewer_than_the_threshold_or_other_categories_raise_nothing(world: Any) -> None:
    reports(world, 4, building="a2_1")
    reports(world, 3, building="a2_1", code="garbage")
    assert hot_spots_raise().raised == 0


def test_tickets_outside_the_window_do_not_count(world: Any) -> None:
    reports(world, 3, building="a2_1", created_at=timezone.now() - dt.timedelta(days=8))
    reports(world, 3, building="a2_1")
    assert hot_spots_raise().raised == 0


def test_map_layer_is_scoped(login: Any, world: Any) -> None:
    reports(world, 5, building="a2_1")
    hot_spots_raise()
    url = reverse("routing:hotspots_geojson")
    features = login("street_officer").get(url).json()["features"]
    assert [f["properties"]["place"] for f in features] == ["建昌街社区第一网格"]
    assert features[0]["properties"]["count"] == 5
    assert features[0]["geometry"]["coordinates"] == [121.425, 37.545]
    assert login("grid_worker").get(url).json()["features"] == []  # grid A1-1 only


def test_admin_lists_routing_data_read_only(client: Any, world: Any) -> None:
    from jiayuan.core.testing import UserFactory

    reports(world, 5, building="a2_1")
    hot_spots_raise()
    su: Any = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(su)
    for model in ("hotspot", "ticketrouting", "dispatchrule"):
        assert client.get(f"/admin/routing/{model}/").status_code == 200
    assert client.get("/admin/routing/hotspot/add/").status_code == 403
