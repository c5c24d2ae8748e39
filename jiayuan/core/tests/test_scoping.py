"""The scoping gate: each role sees exactly its subtree, nothing else."""

from __future__ import annotations

import pytest

from jiayuan.core.scoping import scope_for, subtree_q
from jiayuan.regions.models import Building, Household, Region, Resident
from jiayuan.staff.models import Department

EXPECTED_BUILDINGS = {
    "grid_worker": {"a1_1", "a1_1b"},
    "community_secretary": {"a1_1", "a1_1b", "a1_2"},
    "community_worker": {"a2_1"},
    "street_officer": {"a1_1", "a1_1b", "a1_2", "a2_1"},
    "department_officer": {"b1_1"},
    "command_center": {"a1_1", "a1_1b", "a1_2", "a2_1", "b1_1"},
    "admin": {"a1_1", "a1_1b", "a1_2", "a2_1", "b1_1"},
    "outsider": set(),
    "resident": set(),
}


@pytest.mark.parametrize("name,expected", sorted(EXPECTED_BUILDINGS.items()))
def test_buildings_visible_to_each_role_are_exactly_its_subtree(world, name, expected):
    user = world.users[name]
    got = set(Building.objects.visible_to(user).values_list("code", flat=True))
    assert got == {world.buildings[k].code for k in expected}


def test_resident_sees_only_own_household(world):
    user = world.users["resident"]
    mine = Resident.objects.get(user=user).household
    assert list(Household.objects.visible_to(user)) == [mine]
    assert set(Resident.objects.visible_to(user)) == set(mine.residents.all())
    assert Region.objects.visible_to(user).count() == 0


def test_anonymous_and_inactive_users_see_nothing(world):
    from django.contrib.auth.models import AnonymousUser

    assert Resident.objects.visible_to(AnonymousUser()).count() == 0
    user = world.users["command_center"]
    user.is_active = False
    assert Resident.objects.visible_to(user).count() == 0


def test_inactive_post_grants_nothing(world):
    user = world.users["street_officer"]
    user.posts.update(is_active=False)
    assert Resident.objects.visible_to(user).count() == 0


def test_subtree_query_does_not_match_sibling_with_longer_code(world):
    # 370602001001 must not match 3706020010010 … of another parent: paths are dot-separated.
    grid = world.r("grid_a1_1")
    got = set(Region.objects.filter(subtree_q("path", [grid.path])).values_list("code", flat=True))
    assert got == {grid.code}


def test_scope_adds_department_service_area(world):
    scope = scope_for(world.users["department_officer"])
    assert scope.department_ids == (world.departments["housing"].pk,)
    assert scope.region_paths == (world.r("street_b").path,)
    assert Department.objects.visible_to(world.users["department_officer"]).count() == 1


def test_model_without_scope_rule_fails_closed(world):
    from django.contrib.auth.models import Group

    from jiayuan.core.scoping import ScopedQuerySet

    qs = ScopedQuerySet(model=Group)
    Group.objects.create(name="x")
    assert qs.visible_to(world.users["street_officer"]).count() == 0


def test_a_post_at_the_root_sees_the_whole_tree_without_a_path_filter(world):
    from jiayuan.core.scoping import WHOLE_TREE

    scope = scope_for(world.users["command_center"])
    assert scope.region_paths == (WHOLE_TREE,)
    sql = str(Resident.objects.visible_to(world.users["command_center"]).query)
    assert "regions_region" not in sql
    assert Resident.objects.visible_to(world.users["command_center"]).count() == 20
    # a street officer still gets the range filter
    assert scope_for(world.users["street_officer"]).region_paths == (world.r("street_a").path,)


@pytest.mark.parametrize("name", sorted(n for n, seen in EXPECTED_BUILDINGS.items() if seen))
def test_covers_path_agrees_with_the_sql_gate_for_every_building(world, name):
    from jiayuan.core.scoping import covers_path

    user = world.users[name]
    scope = scope_for(user)
    visible = set(Building.objects.visible_to(user).values_list("pk", flat=True))
    in_python = {
        b.pk for b in Building.objects.select_related("grid") if covers_path(scope, b.grid.path)
    }
    assert in_python == visible
    assert visible  # every post here sees some building
