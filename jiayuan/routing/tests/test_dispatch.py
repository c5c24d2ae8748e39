"""The routing decision at intake: confident → the rule (default the grid), doubtful → triage,
no classifier → as before routing existed; the model version on the record and the event."""

from __future__ import annotations

from typing import Any

import pytest

from jiayuan.routing.models_dispatch import DispatchRule, TicketRouting
from jiayuan.staff.models import Department
from jiayuan.tickets.choices import Level, State
from jiayuan.tickets.models import Category, TicketAssignment, TicketEvent
from jiayuan.tickets.services import ticket_create

pytestmark = pytest.mark.django_db


def report(world: Any, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "channel": "qr",
        "title": "楼道里堆满杂物",
        "description": "3单元楼道堆放杂物，存在消防隐患",
        "building": world.buildings["a1_1"],
        "reporter_phone": "13900000001",
    }
    args.update(kw)
    return ticket_create(**args).ticket


def submit_event(ticket: Any) -> TicketEvent:
    return TicketEvent.objects.get(ticket=ticket, seq=1)


def test_confident_classification_routes_to_the_grid(world: Any, fake_classifier: Any) -> None:
    ticket = report(world)
    assert (ticket.state, ticket.owner_region, ticket.level) == (
        State.ASSIGNED,
        world.r("grid_a1_1"),
        Level.GRID,
    )
    assert ticket.category == Category.objects.get(code="urban")  # 城乡建设, first level
    routing = TicketRouting.objects.get(ticket=ticket)
    assert routing.auto_routed is True
    assert routing.category_source == "model"
    assert routing.model_version == "fake-1"
    assert routing.suggestions == [
        {"category": "城乡建设", "probability": 0.97},
        {"category": "环境保护", "probability": 0.02},
    ]
    assert submit_event(ticket).data["route"] == {
        "method": "building",
        "confidence": 1.0,
        "model": "fake-1",
        "auto": True,
        "rule": None,
        "top": "城乡建设",
        "p": 0.97,
    }


def test_doubtful_classification_goes_to_triage(world: Any, fake_classifier: Any) -> None:
    fake_classifier.answer = [("环境保护", 0.41), ("城乡建设", 0.38), ("卫生计生", 0.1)]
    ticket = report(world)
    assert (ticket.state, ticket.owner_region, ticket.category) == (
        State.TRIAGE,
        world.r("district"),
        None,
    )
    assert ticket.grid == world.r("grid_a1_1")  # where it is stays known
    routing = TicketRouting.objects.get(ticket=ticket)
    assert (routing.auto_routed, routing.model_version) == (False, "fake-1")
    assert [s["category"] for s in routing.suggestions] == ["环境保护", "城乡建设", "卫生计生"]
    event = submit_event(ticket)
    assert (event.to_state, event.data["route"]["auto"], event.data["route"]["model"]) == (
        State.TRIAGE,
        False,
        "fake-1",
    )


def test_a_given_category_is_trusted_even_when_the_model_doubts(
    world: Any, fake_classifier: Any
) -> None:
    fake_classifier.answer = [("环境保护", 0.3)]
    ticket = report(world, category=Category.objects.get(code="property"))
    assert (ticket.state, ticket.category.code) == (State.ASSIGNED, "property")
    routing = TicketRouting.objects.get(ticket=ticket)
    assert (routing.category_source, routing.suggestions[0]["category"]) == ("given", "环境保护")


def test_without_a_classifier_a_located_ticket_goes_to_its_grid(
    world: Any, fake_classifier: Any
) -> None:
    fake_classifier.fail = True  # no model built yet
    ticket = report(world)
    assert (ticket.state, ticket.owner_region, ticket.category) == (
        State.ASSIGNED,
        world.r("grid_a1_1"),
        None,
    )
    routing = TicketRouting.objects.get(ticket=ticket)
    assert (routing.auto_routed, routing.model_version, routing.suggestions) == (True, "", [])


def test_an_unlocated_ticket_waits_for_triage_however_sure_the_model(
    world: Any, fake_classifier: Any
) -> None:
    ticket = report(world, building=None, lng=121.49, lat=37.545)
    assert (ticket.state, ticket.grid, ticket.owner_region) == (
        State.TRIAGE,
        None,
        world.r("city"),
    )
    assert ticket.category is not None and ticket.category.name == "城乡建设"
    assert TicketRouting.objects.get(ticket=ticket).locate_method == "point"


def test_a_point_in_a_grid_is_routed(world: Any, fake_classifier: Any) -> None:
    ticket = report(world, building=None, lng=121.435, lat=37.545)
    assert (ticket.state, ticket.owner_region) == (State.ASSIGNED, world.r("grid_b1_1"))


def test_a_community_rule_sends_the_ticket_to_the_community(
    world: Any, fake_classifier: Any
) -> None:
    rule = DispatchRule.objects.create(
        name="友谊街城建",
        region=world.r("comm_a1"),
        category=Category.objects.get(code="urban"),
        level="community",
    )
    ticket = report(world)
    assert (ticket.state, ticket.owner_region, ticket.level, ticket.grid) == (
        State.ASSIGNED,
        world.r("comm_a1"),
        Level.COMMUNITY,
        world.r("grid_a1_1"),
    )
    assert TicketRouting.objects.get(ticket=ticket).rule == rule
    assert submit_event(ticket).data["route"]["rule"] == rule.pk


def test_a_department_rule_dispatches_to_lead_and_co(world: Any, fake_classifier: Any) -> None:
    housing = world.departments["housing"]
    chengguan = Department.objects.create(
        code="zfcg", name="芝罘区综合行政执法局", short_name="城管", region=world.r("district")
    )
    rule = DispatchRule.objects.create(
        name="违建",
        category=Category.objects.get(code="illegal_building"),
        level="department",
        lead=housing,
    )
    rule.co.add(chengguan)
    ticket = report(world, category=Category.objects.get(code="illegal_building"))
    assert (ticket.state, ticket.level, ticket.owner_region) == (
        State.DISPATCHED,
        Level.DEPARTMENT,
        world.r("district"),
    )
    assert ticket.resolve_due is not None
    roles = dict(TicketAssignment.objects.filter(ticket=ticket).values_list("department", "role"))
    assert roles == {housing.pk: "lead", chengguan.pk: "co"}
    event = submit_event(ticket)
    assert (event.department_id, event.to_state) == (housing.pk, State.DISPATCHED)
    assert (event.data["lead"], event.data["co"]) == (housing.pk, [chengguan.pk])
    from jiayuan.tickets.events import verify_chain

    ticket.refresh_from_db()
    assert verify_chain(ticket) is None


def _reported_under_a_housing_rule(world: Any) -> Any:
    """A 违建 report, with a rule sending that category straight to the housing department."""
    DispatchRule.objects.create(
        name="违建",
        category=Category.objects.get(code="illegal_building"),
        level="department",
        lead=world.departments["housing"],
    )
    return report(world, category=Category.objects.get(code="illegal_building"))


def test_a_department_officer_can_act_on_an_auto_dispatched_ticket(
    world: Any, fake_classifier: Any
) -> None:
    from jiayuan.tickets.workflow import transition

    ticket = _reported_under_a_housing_rule(world)
    transition(ticket, "dept_accept", actor=world.users["department_officer"])
    assert ticket.state == State.DISPATCHED


def test_routing_reads_few_rows(
    world: Any, fake_classifier: Any, django_assert_max_num_queries: Any
) -> None:
    from jiayuan.routing.dispatch import decide

    decide(title="t", description="d", building=world.buildings["a1_1"])  # warm the caches
    decide(title="t", description="d", lng=121.425, lat=37.545)
    with django_assert_max_num_queries(0):  # grid index, ancestors, rules: all cached
        decide(title="t", description="d", building=world.buildings["a1_1"])
        decide(title="t", description="d", lng=121.425, lat=37.545)


def test_a_renamed_community_is_routed_to_at_once(world: Any, fake_classifier: Any) -> None:
    from jiayuan.routing.dispatch import decide

    DispatchRule.objects.create(
        name="社区城建", region=world.r("comm_a1"), category=None, level="community"
    )
    building = world.buildings["a1_1"]
    assert decide(title="t", description="d", building=building).owner == world.r("comm_a1")
    community = world.r("comm_a1")
    community.name = "友谊新社区"
    community.save()  # the region tree kept by routing is dropped
    owner = decide(title="t", description="d", building=building).owner
    assert owner is not None and (owner.pk, owner.name) == (community.pk, "友谊新社区")


def test_another_processs_region_edit_is_seen(world: Any, fake_classifier: Any) -> None:
    from django.core.cache import cache

    from jiayuan.regions.models import Region
    from jiayuan.routing import tree
    from jiayuan.routing.dispatch import decide

    def owner_name() -> str:
        owner = decide(title="t", description="d", building=world.buildings["a1_1"]).owner
        assert owner is not None and owner.pk == world.r("street_a").pk
        return owner.name

    DispatchRule.objects.create(name="街道", region=None, category=None, level="street")
    name = owner_name()
    Region.objects.filter(pk=world.r("street_a").pk).update(name="改名街道")  # no signal here
    assert owner_name() == name
    cache.set(tree._memo.generation_key, "moved by another process")
    assert owner_name() == "改名街道"


def test_a_building_without_its_grid_loaded_is_located_without_a_query(
    world: Any, django_assert_num_queries: Any
) -> None:
    from jiayuan.regions.models import Building
    from jiayuan.routing import tree
    from jiayuan.routing.locate import locate

    tree.current()  # warm the region tree
    building = Building.objects.get(pk=world.buildings["a2_1"].pk)
    with django_assert_num_queries(0):
        found = locate(building=building)
    assert found.grid == world.r("grid_a2_1")


def test_a_batch_is_routed_as_one_by_one(world: Any, settings: Any, tmp_path: Any) -> None:
    from jiayuan.routing import classifier
    from jiayuan.routing.dispatch import decide, decide_many
    from jiayuan.routing.tests.classifier_support import model_copy

    settings.JIAYUAN_ROUTING_MODEL_DIR = model_copy(tmp_path / "model")
    classifier.reset_model_cache()
    try:
        items: list[dict[str, Any]] = [
            {
                "title": "小区垃圾没人清运",
                "description": "垃圾桶满了好几天",
                "lng": 121.405,
                "lat": 37.545,
            },
            {
                "title": "工资被拖欠",
                "description": "公司拖欠三个月工资",
                "building": world.buildings["b1_1"],
            },
            {"title": "路灯不亮", "description": "路灯坏了", "lng": 121.49, "lat": 37.545},
        ]
        one_by_one = [decide(**item) for item in items]
        expected = [(d.state, d.grid, d.category, d.classification) for d in one_by_one]
        batch = decide_many(items)
        assert [(d.state, d.grid, d.category, d.classification) for d in batch] == expected
        forked = decide_many(items, chunk=2, processes=2)
        assert [(d.state, d.grid, d.category, d.classification) for d in forked] == expected
        assert batch[0].classification.model_version == classifier.model_version() != ""
    finally:
        classifier.reset_model_cache()


def test_the_department_of_an_auto_dispatched_ticket_is_told(
    world: Any, fake_classifier: Any
) -> None:
    from jiayuan.notifications.models import Kind, Notification
    from jiayuan.notifications.services import notify_ticket_event

    ticket = _reported_under_a_housing_rule(world)
    assert notify_ticket_event(ticket_id=ticket.pk, seq=1) == 1
    (told,) = Notification.objects.filter(ticket=ticket)
    assert (told.recipient, told.kind) == (world.users["department_officer"], Kind.DISPATCHED)


def test_a_missing_model_is_looked_for_once_a_minute_not_on_every_ticket(
    world: Any, monkeypatch: Any, caplog: Any
) -> None:
    from jiayuan.routing import classifier, dispatch

    calls = {"n": 0}
    real = classifier.current_model

    def counting() -> Any:
        calls["n"] += 1
        return real()

    monkeypatch.setattr(classifier, "current_model", counting)
    for _ in range(3):
        assert dispatch.classify("楼道灯不亮", "三单元楼道灯坏了") is None
    assert calls["n"] == 1
    assert sum("routing without the classifier" in r.getMessage() for r in caplog.records) == 1
    assert not any(r.exc_info for r in caplog.records if r.name == "jiayuan.routing.dispatch")
    dispatch.forget_missing_model()
    assert dispatch.classify("楼道灯不亮", "三单元楼道灯坏了") is None
    assert calls["n"] == 2
