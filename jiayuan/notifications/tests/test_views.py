"""The notifications page: own list only, unread first, mark read by htmx, unread count."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest
from django.test import RequestFactory

from jiayuan.notifications.context_processors import notifications
from jiayuan.notifications.models import Kind, Notification

pytestmark = pytest.mark.django_db
SH = zoneinfo.ZoneInfo("Asia/Shanghai")


def note(user: Any, title: str, hour: int, *, read: bool = False) -> Notification:
    at = dt.datetime(2026, 11, 23, hour, tzinfo=SH)
    return Notification.objects.create(
        recipient=user,
        kind=Kind.ASSIGNED,
        title=title,
        body="请签收",
        url="/tickets/1/",
        created_at=at,
        read_at=at if read else None,
        dedupe_key=f"test:{user.pk}:{title}",
    )


@pytest.fixture
def inbox(world: Any) -> dict[str, Notification]:
    gw = world.users["grid_worker"]
    return {
        "old_read": note(gw, "已读的新工单", 12, read=True),
        "old": note(gw, "较早的新工单", 9),
        "new": note(gw, "最新的新工单", 11),
        "other": note(world.users["street_officer"], "街道的消息", 10),
    }


def test_the_page_lists_own_notifications_unread_first(login, inbox, django_assert_max_num_queries):
    client = login("grid_worker")
    with django_assert_max_num_queries(12):
        response = client.get("/notifications/")
    assert response.status_code == 200
    titles = [n.title for n in response.context["page"].object_list]
    assert titles == ["最新的新工单", "较早的新工单", "已读的新工单"]
    assert response.context["unread"] == 2
    html = response.content.decode()
    assert "2 条未读" in html
    assert "街道的消息" not in html


def test_marking_one_read_by_htmx_returns_the_item_and_the_new_count(login, inbox):
    client = login("grid_worker")
    response = client.post(f"/notifications/{inbox['new'].pk}/read/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="notification-{inbox["new"].pk}" class="notification read"' in html
    assert '<small id="unread-count" class="badge" hx-swap-oob="true">1 条未读</small>' in html
    inbox["new"].refresh_from_db()
    assert inbox["new"].read_at is not None
    # Marking again keeps the first read time.
    first = inbox["new"].read_at
    client.post(f"/notifications/{inbox['new'].pk}/read/", HTTP_HX_REQUEST="true")
    inbox["new"].refresh_from_db()
    assert inbox["new"].read_at == first


def test_marking_all_read(login, inbox):
    client = login("grid_worker")
    response = client.post("/notifications/read-all/", HTTP_HX_REQUEST="true")
    assert (response.status_code, response["HX-Refresh"]) == (204, "true")
    assert Notification.objects.filter(read_at__isnull=True).count() == 1  # the street's own
    response = client.post("/notifications/read-all/")
    assert (response.status_code, response["Location"]) == (302, "/notifications/")


def test_another_users_notification_is_not_found(login, inbox):
    client = login("grid_worker")
    response = client.post(f"/notifications/{inbox['other'].pk}/read/", HTTP_HX_REQUEST="true")
    assert response.status_code == 404
    assert client.post("/notifications/999999/read/").status_code == 404
    inbox["other"].refresh_from_db()
    assert inbox["other"].read_at is None


def test_even_an_admin_sees_only_their_own(login, inbox):
    client = login("admin")
    response = client.get("/notifications/")
    assert list(response.context["page"].object_list) == []
    assert client.post(f"/notifications/{inbox['old'].pk}/read/").status_code == 404


def test_the_page_needs_a_login_and_marking_needs_post(client, login, inbox):
    response = client.get("/notifications/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert login("grid_worker").get(f"/notifications/{inbox['old'].pk}/read/").status_code == 405


def test_the_context_processor_counts_unread(world, inbox):
    request = RequestFactory().get("/")
    request.user = world.users["grid_worker"]
    assert notifications(request) == {"unread_notifications": 2}
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    assert notifications(request) == {"unread_notifications": 0}
