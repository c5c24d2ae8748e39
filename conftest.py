"""Fixtures shared by the whole suite."""

from __future__ import annotations

from typing import Any

import pytest

from jiayuan.core.testing import World, build_world


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


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
