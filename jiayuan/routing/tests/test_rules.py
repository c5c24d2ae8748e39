"""Who (派单规则): resolution up the region tree and the category tree, the cache, validation."""

from __future__ import annotations

from typing import Any

import pytest

from jiayuan.core.errors import JiayuanError
from jiayuan.routing import rules
from jiayuan.routing.models_dispatch import DispatchRule
from jiayuan.staff.models import Department
from jiayuan.tickets.models import Category

pytestmark = pytest.mark.django_db


def cat(code: str) -> Category:
    return Category.objects.get(code=code)


def chain(world: Any, grid: str) -> list[int]:
    """The grid and its ancestors, nearest first (as dispatch passes them)."""
    g = world.r(grid)
    parents = {"grid_a1_1": "comm_a1", "grid_a1_2": "comm_a1", "grid_a2_1": "comm_a2"}
    comm = world.r(parents.get(grid, "comm_b1"))
    street = world.r("street_a" if comm.parent_id == world.r("street_a").pk else "street_b")
    return [g.pk, comm.pk, street.pk, world.r("district").pk, world.r("city").pk]


def rule(name: str, *, region: Any = None, category: Any = None, level: str = "grid", **kw: Any):
    return DispatchRule.objects.create(
        name=name, region=region, category=category, level=level, **kw
    )


def resolve(world: Any, grid: str, category: Category | None) -> str | None:
    found = rules.rule_for(
        category_id=category.pk if category else None,
        category_parent_id=category.parent_id if category else None,
        region_ids=chain(world, grid),
    )
    return found.name if found else None


@pytest.fixture
def ladder(world: Any) -> Any:
    rule("district any", region=world.r("district"), level="street")
    rule("street A urban", region=world.r("street_a"), category=cat("urban"), level="community")
    rule("community A1 property", region=world.r("comm_a1"), category=cat("property"))
    return world


def test_no_rule_resolves_to_none(world: Any) -> None:
    assert resolve(world, "grid_a1_1", cat("property")) is None


def test_the_most_specific_region_and_category_wins(ladder: Any) -> None:
    assert resolve(ladder, "grid_a1_1", cat("property")) == "community A1 property"


def test_parent_category_at_an_upper_region(ladder: Any) -> None:
    # 建昌街社区 has no rule: 向阳街道's rule for 城乡建设 covers its 物业管理 tickets.
    assert resolve(ladder, "grid_a2_1", cat("property")) == "street A urban"


def test_any_category_rule_of_the_district(ladder: Any) -> None:
    assert resolve(ladder, "grid_b1_1", cat("property")) == "district any"
    assert resolve(ladder, "grid_a1_1", cat("noise")) == "district any"
    assert resolve(ladder, "grid_a1_1", None) == "district any"


def test_a_nearer_region_beats_a_more_specific_category(ladder: Any) -> None:
    rule("community A2 any", region=ladder.r("comm_a2"))
    assert resolve(ladder, "grid_a2_1", cat("property")) == "community A2 any"


def test_everywhere_rule_is_the_last_resort(world: Any) -> None:
    rule("everywhere noise", category=cat("noise"), level="community")
    assert resolve(world, "grid_b1_1", cat("noise")) == "everywhere noise"
    assert resolve(world, "grid_b1_1", cat("garbage")) is None


def test_inactive_rules_are_ignored(ladder: Any) -> None:
    DispatchRule.objects.filter(name="community A1 property").update(is_active=False)
    rules.reload()
    assert resolve(ladder, "grid_a1_1", cat("property")) == "street A urban"


def test_rules_are_cached_and_a_save_drops_the_cache(
    ladder: Any, django_assert_num_queries: Any
) -> None:
    prop = cat("property")
    resolve(ladder, "grid_a1_1", prop)
    with django_assert_num_queries(0):
        resolve(ladder, "grid_a1_1", prop)
    r = DispatchRule.objects.get(name="community A1 property")
    r.name = "renamed"
    r.save()
    assert resolve(ladder, "grid_a1_1", cat("property")) == "renamed"


def test_a_change_of_co_handling_departments_drops_the_cache(world: Any) -> None:
    r = rule("违建", level="department", lead=world.departments["housing"])
    found = rules.rule_for(category_id=None, category_parent_id=None, region_ids=[])
    assert found is not None and found.co_ids == ()
    co = Department.objects.create(
        code="cg", name="芝罘区综合行政执法局", short_name="城管", region=world.r("district")
    )
    r.co.add(co)  # m2m_changed, no post_save
    found = rules.rule_for(category_id=None, category_parent_id=None, region_ids=[])
    assert found is not None and found.co_ids == (co.pk,)


def test_another_processs_rule_edit_is_seen(ladder: Any) -> None:
    from django.core.cache import cache

    assert resolve(ladder, "grid_a1_1", cat("property")) == "community A1 property"
    DispatchRule.objects.filter(name="community A1 property").update(name="edited elsewhere")
    assert resolve(ladder, "grid_a1_1", cat("property")) == "community A1 property"
    cache.set(rules._memo.generation_key, "moved by another process")
    assert resolve(ladder, "grid_a1_1", cat("property")) == "edited elsewhere"


# --- the command centre's writes ----------------------------------------------------------------


def save(world: Any, user: str = "command_center", **kw: Any) -> DispatchRule:
    args: dict[str, Any] = {"name": "规则", "region": world.r("district"), "category": None}
    args.update(level="grid")
    args.update(kw)
    return rules.dispatch_rule_save(user=world.users[user], **args)


def test_command_centre_saves_a_department_rule(world: Any) -> None:
    co = Department.objects.create(
        code="cg", name="芝罘区综合行政执法局", short_name="城管", region=world.r("district")
    )
    r = save(
        world,
        category=cat("illegal_building"),
        level="department",
        lead=world.departments["housing"],
        co=[co],
    )
    assert (r.level, r.lead, list(r.co.all())) == ("department", world.departments["housing"], [co])
    assert r.updated_by == world.users["command_center"]


@pytest.mark.parametrize(
    ("kw", "field", "message"),
    [
        ({"name": " "}, "name", "请填写规则名称"),
        ({"level": "department"}, "lead", "派给职能部门时必须选择主办部门"),
        ({"level": "bogus"}, "level", "请选择首接层级"),
    ],
)
def test_invalid_rules_are_refused_in_chinese(
    world: Any, kw: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(JiayuanError) as exc:
        save(world, **kw)
    assert (exc.value.field, exc.value.message) == (field, message)


def test_departments_only_for_a_department_rule(world: Any) -> None:
    with pytest.raises(JiayuanError) as exc:
        save(world, level="community", lead=world.departments["housing"])
    assert exc.value.field == "lead"


def test_lead_and_co_must_differ(world: Any) -> None:
    housing = world.departments["housing"]
    with pytest.raises(JiayuanError) as exc:
        save(world, level="department", lead=housing, co=[housing])
    assert exc.value.message == "主办与协办部门不能重复"


def test_one_rule_per_region_and_category(world: Any) -> None:
    save(world, category=cat("noise"))
    with pytest.raises(JiayuanError) as exc:
        save(world, category=cat("noise"), name="又一条")
    assert exc.value.code == "duplicate"


def test_only_the_command_centre_and_admins_edit_rules(world: Any) -> None:
    with pytest.raises(JiayuanError) as exc:
        save(world, user="street_officer", region=world.r("street_a"))
    assert exc.value.message == "只有指挥中心或管理员可以设置派单规则"
    assert save(world, user="admin").pk


def test_a_district_command_centre_keeps_to_its_district(world: Any) -> None:
    from jiayuan.core.testing import UserFactory, post, region
    from jiayuan.regions.choices import Level
    from jiayuan.staff.choices import Role

    other = region("370611000000", "福山区", Level.DISTRICT, world.r("city"))
    user: Any = UserFactory(username="zf_center")
    post(user, Role.COMMAND_CENTER, region=world.r("district"))
    world.users["zf_center"] = user
    with pytest.raises(JiayuanError) as exc:
        save(world, user="zf_center", region=other)
    assert exc.value.message == "该区划不在您的管辖范围内"
    with pytest.raises(JiayuanError) as exc:
        save(world, user="zf_center", region=None)
    assert exc.value.field == "region"
    assert save(world, user="zf_center", region=world.r("street_b")).region == world.r("street_b")


# --- the rule pages -----------------------------------------------------------------------------


def test_rule_pages_are_for_the_command_centre_and_admins(login: Any, world: Any) -> None:
    from django.urls import reverse

    url = reverse("routing:rules")
    assert login("command_center").get(url).status_code == 200
    assert login("admin").get(url).status_code == 200
    for name in ("street_officer", "grid_worker", "department_officer"):
        assert login(name).get(url).status_code == 404
        assert login(name).post(reverse("routing:rule_create"), {}).status_code == 404


def test_create_a_rule_on_the_page(login: Any, world: Any) -> None:
    from django.urls import reverse

    client = login("command_center")
    response = client.post(
        reverse("routing:rule_create"),
        {
            "name": "向阳街道城建先到社区",
            "region": world.r("street_a").pk,
            "category": cat("urban").pk,
            "level": "community",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    rule = DispatchRule.objects.get()
    assert (rule.region, rule.category, rule.level) == (
        world.r("street_a"),
        cat("urban"),
        "community",
    )
    page = client.get(reverse("routing:rules")).content.decode()
    assert "向阳街道城建先到社区" in page
    form = client.get(reverse("routing:rule_edit", args=[rule.pk])).content.decode()
    assert 'value="向阳街道城建先到社区"' in form and reverse("routing:rule_preview") in form
    assert client.get(reverse("routing:rule_create")).status_code == 200
    edit = client.post(
        reverse("routing:rule_edit", args=[rule.pk]),
        {"name": "改名", "region": world.r("street_a").pk, "level": "street"},
    )
    assert edit.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.level, rule.category, rule.is_active) == ("改名", "street", None, False)


def test_page_errors_are_chinese_form_errors(login: Any, world: Any) -> None:
    from django.urls import reverse

    response = login("command_center").post(
        reverse("routing:rule_create"),
        {"name": "违建", "region": world.r("district").pk, "level": "department"},
    )
    assert response.status_code == 400
    assert "派给职能部门时必须选择主办部门" in response.content.decode()
    assert DispatchRule.objects.count() == 0


def test_preview_counts_last_months_tickets_the_rule_would_catch(login: Any, world: Any) -> None:
    import datetime as dt

    from django.urls import reverse
    from django.utils import timezone

    from jiayuan.tickets.services import ticket_create

    def make(building: str, code: str, days_ago: int = 1) -> None:
        ticket_create(
            channel="web",
            title=f"{code}问题",
            description="内容",
            building=world.buildings[building],
            category=cat(code),
            reporter_phone="13900000008",
            created_at=timezone.now() - dt.timedelta(days=days_ago),
        )

    make("a1_1", "property")
    make("a2_1", "municipal")
    make("b1_1", "property")  # another street
    make("a1_2", "noise")  # another category
    make("a1_1", "property", days_ago=40)  # too old
    url = reverse("routing:rule_preview")
    query = {"region": world.r("street_a").pk, "category": cat("urban").pk}
    response = login("command_center").get(url, query)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-count="2"' in html
    assert "property问题" in html and "municipal问题" in html
    assert login("grid_worker").get(url, query).status_code == 404


def test_a_rule_outside_the_users_scope_is_404(client: Any, world: Any) -> None:
    from django.urls import reverse

    from jiayuan.core.testing import UserFactory, post, region
    from jiayuan.regions.choices import Level
    from jiayuan.staff.choices import Role

    fushan = region("370611000000", "福山区", Level.DISTRICT, world.r("city"))
    theirs = rule("福山区", region=fushan)
    user: Any = UserFactory(username="zf_center")
    post(user, Role.COMMAND_CENTER, region=world.r("district"))
    client.force_login(user)
    assert client.get(reverse("routing:rule_edit", args=[theirs.pk])).status_code == 404
    assert "福山区" not in client.get(reverse("routing:rules")).content.decode()
