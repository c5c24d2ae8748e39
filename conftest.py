"""Fixtures shared by the whole suite."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from jiayuan.core.testing import World, build_world
from jiayuan.staff.selectors import forget_root_paths

# Data that migrations seed (care-tag types, categories and SLA policies, the holiday calendar).
# A transactional test (live_server, concurrency tests) flushes every table when it ends; these
# seeders put the data back so later tests in the same process see what migrate gave them.
SEEDERS = [
    ("jiayuan.regions.migrations.0002_care_tag_types", "add_types"),
    ("jiayuan.tickets.migrations.0002_categories_and_default_policy", "seed"),
    ("jiayuan.core.migrations.0003_calendar_seed", "seed"),
]


def reseed() -> None:
    from django.apps import apps

    for module, function in SEEDERS:
        getattr(importlib.import_module(module), function)(apps, None)


def _is_transactional(item: Any) -> bool:
    if {"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())):
        return True
    marker = item.get_closest_marker("django_db")
    return bool(marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: Any, nextitem: Any) -> Any:
    """After a transactional test's fixtures are gone (the tables flushed), seed again."""
    yield
    # After the last test the test databases are already gone (session fixtures end with it).
    if nextitem is None or not _is_transactional(item):
        return
    from pytest_django.plugin import blocking_manager_key

    with item.config.stash[blocking_manager_key].unblock():
        reseed()
        from jiayuan.core import calendar
        from jiayuan.tickets import sla

        calendar.reload()
        sla.reload()


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """The calendar and SLA policies are cached per process; a test must not see another
    test's rows."""
    from jiayuan.core import calendar
    from jiayuan.core.memo import clear_all_local
    from jiayuan.tickets import sla

    calendar.reload()
    sla.reload()
    forget_root_paths()
    clear_all_local()


@pytest.fixture(autouse=True)
def _no_trained_model(settings: Any, tmp_path_factory: Any) -> None:
    """The category model ``make demo`` trains into var/routing must not change what tests see:
    without a model, intake routes as it did before classification (tests that need a model
    point the setting at their own)."""
    from jiayuan.routing import classifier, dispatch

    settings.JIAYUAN_ROUTING_MODEL_DIR = tmp_path_factory.getbasetemp() / "no-routing-model"
    classifier.reset_model_cache()
    dispatch.forget_missing_model()


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db: Any) -> World:
    return build_world()


@pytest.fixture
def login(client: Any, world: World) -> Any:
    """``login("grid_worker")`` logs the test client in as that user of the world."""

    def _login(name: str) -> Any:
        client.force_login(world.users[name])
        return client

    return _login
