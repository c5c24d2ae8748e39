"""The triage queue page (智能分拨): suggestions shown, one click confirms, a correction, form
errors in Chinese, feedback kept, scoping (out of scope → 404)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from jiayuan.routing import dispatch
from jiayuan.tickets.choices import State
from jiayuan.tickets.models import Category, Ticket
from jiayuan.tickets.services import ticket_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def feedback(monkeypatch: Any) -> list[dict[str, Any]]:
    """What reached the classifier's ``record_feedback``."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(dispatch, "_record_feedback", lambda **kw: calls.append(kw))
    return calls


@pytest.fixture
def doubtful(world: Any, fake_classifier: Any) -> Ticket:
    fake_classifier.answer = [("环境保护", 0.55), ("城乡建设", 0.30), ("卫生计生", 0.08)]
    return ticket_create(
        channel="web",
        title="楼下饭店油烟大",
        description="饭店油烟直排，楼上住户窗户都不敢开",
        building=world.buildings["a1_1"],
        reporter_phone="13900000002",
    ).ticket


def url(ticket: Ticket) -> str:
    return reverse("routing:triage_decide", args=[ticket.number])


def test_queue_shows_the_suggestions_and_the_location(login: Any, doubtful: Ticket) -> None:
    response = login("command_center").get(reverse("routing:triage"))
    assert response.status_code == 200
    html = response.content.decode()
    assert doubtful.number in html
    assert '确认：环境保护<span class="p">55%</span>' in html
    assert '确认：城乡建设<span class="p">30%</span>' in html
    assert "定位：楼栋（置信度 1.00）" in html
    assert "模型 fake-1" in html


def test_queue_page_has_a_query_ceiling(
    login: Any, world: Any, fake_classifier: Any, django_assert_max_num_queries: Any
) -> None:
    fake_classifier.answer = [("环境保护", 0.5)]
    for i in range(6):
        ticket_create(
            channel="web",
            title=f"诉求{i}",
            description="内容",
            building=world.buildings["a1_1" if i % 2 else "b1_1"],
            reporter_phone="13900000002",
        )
    client = login("command_center")
    with django_assert_max_num_queries(14):
        assert client.get(reverse("routing:triage")).status_code == 200


@pytest.mark.parametrize("name", ["grid_worker", "street_officer", "department_officer"])
def test_queue_is_for_dispatchers_only(login: Any, doubtful: Ticket, name: str) -> None:
    assert login(name).get(reverse("routing:triage")).status_code == 404


def test_one_click_confirms_the_top_suggestion(
    login: Any, world: Any, doubtful: Ticket, feedback: list[dict[str, Any]]
) -> None:
    env = Category.objects.get(name="环境保护", parent=None)
    response = login("command_center").post(
        url(doubtful),
        {"suggestion": env.pk, "region": world.r("grid_a1_1").pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "已分拨至友谊街社区第一网格（环境保护）" in response.content.decode()
    doubtful.refresh_from_db()
    assert (doubtful.state, doubtful.owner_region, doubtful.category) == (
        State.ASSIGNED,
        world.r("grid_a1_1"),
        env,
    )
    assert feedback == [
        {
            "ticket": doubtful,
            "category": "环境保护",
            "user": world.users["command_center"],
            "suggestions": [
                {"category": "环境保护", "probability": 0.55},
                {"category": "城乡建设", "probability": 0.3},
                {"category": "卫生计生", "probability": 0.08},
            ],
            "model_version": "fake-1",
        }
    ]


def test_a_correction_to_a_second_level_category_is_kept_as_its_first_level(
    login: Any, world: Any, doubtful: Ticket, feedback: list[dict[str, Any]]
) -> None:
    noise = Category.objects.get(code="noise")
    response = login("command_center").post(
        url(doubtful), {"category": noise.pk, "region": world.r("comm_a1").pk, "note": "噪音"}
    )
    assert response.status_code == 302  # without htmx: back to the queue
    doubtful.refresh_from_db()
    assert (doubtful.state, doubtful.owner_region, doubtful.category) == (
        State.ASSIGNED,
        world.r("comm_a1"),
        noise,
    )
    assert feedback[0]["category"] == "环境保护"


def test_missing_region_is_a_form_error_in_chinese(
    login: Any, doubtful: Ticket, feedback: list[dict[str, Any]]
) -> None:
    env = Category.objects.get(name="环境保护", parent=None)
    response = login("command_center").post(
        url(doubtful), {"suggestion": env.pk, "region": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert "请选择承办网格或社区" in response.content.decode()
    doubtful.refresh_from_db()
    assert doubtful.state == State.TRIAGE
    assert feedback == []


def test_missing_category_is_a_form_error_in_chinese(
    login: Any, world: Any, doubtful: Ticket
) -> None:
    response = login("command_center").post(
        url(doubtful), {"category": "", "region": world.r("grid_a1_1").pk}
    )
    assert response.status_code == 400
    assert "请选择分类" in response.content.decode()


def test_a_ticket_already_assigned_answers_409(
    login: Any, world: Any, doubtful: Ticket, feedback: list[dict[str, Any]]
) -> None:
    env = Category.objects.get(name="环境保护", parent=None)
    client = login("command_center")
    data = {"suggestion": env.pk, "region": world.r("grid_a1_1").pk}
    assert client.post(url(doubtful), data, HTTP_HX_REQUEST="true").status_code == 200
    second = client.post(url(doubtful), data, HTTP_HX_REQUEST="true")
    assert second.status_code == 409
    assert "不能分拨" in second.content.decode()
    assert len(feedback) == 1


def test_out_of_scope_ticket_is_404(
    login: Any, world: Any, fake_classifier: Any, feedback: list[dict[str, Any]]
) -> None:
    from jiayuan.core.testing import UserFactory, post, region, square
    from jiayuan.regions.choices import Level
    from jiayuan.staff.choices import Role

    fushan = region("370611000000", "福山区", Level.DISTRICT, world.r("city"))
    street = region("370611001000", "清洋街道", Level.STREET, fushan)
    comm = region("370611001001", "清洋社区", Level.COMMUNITY, street)
    region("370611001001001", "清洋社区第一网格", Level.GRID, comm, boundary=square(121.30, 37.50))
    fake_classifier.answer = [("环境保护", 0.4)]
    there = ticket_create(
        channel="web",
        title="油烟",
        description="油烟",
        lng=121.305,
        lat=37.505,
        reporter_phone="13900000003",
    ).ticket
    assert there.state == State.TRIAGE
    user: Any = UserFactory(username="zf_center")
    post(user, Role.COMMAND_CENTER, region=world.r("district"))
    world.users["zf_center"] = user
    client = login("zf_center")
    assert there.number not in client.get(reverse("routing:triage")).content.decode()
    env = Category.objects.get(name="环境保护", parent=None)
    response = client.post(url(there), {"suggestion": env.pk, "region": comm.pk})
    assert response.status_code == 404
    assert feedback == []


def test_menu_links_the_queue_for_dispatchers(login: Any, world: Any) -> None:
    link = reverse("routing:triage")
    assert link in login("command_center").get(reverse("tickets:inbox")).content.decode()
    assert link not in login("grid_worker").get(reverse("tickets:inbox")).content.decode()


def test_the_decision_is_kept_as_labelled_feedback(
    login: Any, world: Any, doubtful: Ticket
) -> None:
    from jiayuan.routing.models import RoutingFeedback

    noise = Category.objects.get(code="noise")
    login("command_center").post(
        url(doubtful), {"category": noise.pk, "region": world.r("grid_a1_1").pk}
    )
    row = RoutingFeedback.objects.get()
    assert (row.ticket, row.chosen_category, row.suggested_category, row.model_version) == (
        doubtful,
        "环境保护",
        "环境保护",
        "fake-1",
    )
    assert (row.title, row.created_by) == (doubtful.title, world.users["command_center"])
