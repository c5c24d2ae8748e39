"""API tokens: a program calls the JSON API as a staff member, with that member's scope."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from jiayuan.core.models import ApiToken
from jiayuan.core.tokens import token_create

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def test_a_token_acts_with_its_users_scope(world: Any) -> None:
    _, raw = token_create(username="grid_worker", name="巡查App")
    client = Client(enforce_csrf_checks=True)
    response = client.get("/api/v1/households", headers=bearer(raw))
    assert response.status_code == 200
    outside = world.buildings["b1_1"].code
    mine = world.buildings["a1_1"].code
    # No CSRF token needed: no cookie is involved.
    created = client.post(
        "/api/v1/tickets",
        {"description": "楼道灯不亮", "building": mine},
        content_type="application/json",
        headers=bearer(raw),
    )
    assert created.status_code == 201, created.content
    assert created.json()["channel"] == "api"
    refused = client.post(
        "/api/v1/tickets",
        {"description": "楼道灯不亮", "building": outside},
        content_type="application/json",
        headers=bearer(raw),
    )
    assert refused.status_code == 404  # the building is outside the grid worker's scope


def test_revoked_unknown_and_disabled_tokens_answer_401(world: Any) -> None:
    token, raw = token_create(username="street_officer", name="大屏")
    client = Client()
    assert client.get("/api/v1/tickets", headers=bearer("jyt_nonsense")).status_code == 401
    assert client.get("/api/v1/tickets", headers=bearer(raw)).status_code == 200
    token.user.is_active = False
    token.user.save()
    assert client.get("/api/v1/tickets", headers=bearer(raw)).status_code == 401
    token.user.is_active = True
    token.user.save()
    call_command("api-token", "revoke", token.prefix, stdout=StringIO())
    response = client.get("/api/v1/tickets", headers=bearer(raw))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_the_command_prints_the_token_last_and_stores_only_its_hash(world: Any) -> None:
    out = StringIO()
    call_command("api-token", "create", "command_center", "12345平台对接", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    assert raw.startswith("jyt_")
    token = ApiToken.objects.get()
    assert raw not in (token.token_hash, token.prefix) and raw.startswith(token.prefix)
    assert Client().get("/api/v1/tickets", headers=bearer(raw)).status_code == 200
    listing = StringIO()
    call_command("api-token", "list", stdout=listing)
    assert token.prefix in listing.getvalue() and raw not in listing.getvalue()
    with pytest.raises(CommandError):
        call_command("api-token", "create", "command_center", "12345平台对接", stdout=out)
    with pytest.raises(CommandError):
        call_command("api-token", "create", "nobody", "x", stdout=out)


def test_a_live_token_is_memoised_until_its_posts_change(world: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jiayuan.staff.models import Post

    _, raw = token_create(username="grid_worker", name="巡查App")
    client = Client()
    mine = world.buildings["a1_1"].pk
    outside = world.buildings["b1_1"].pk
    assert client.get(f"/api/v1/buildings/{mine}", headers=bearer(raw)).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/api/v1/buildings/{mine}", headers=bearer(raw)).status_code == 200
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "core_apitoken" not in sql and "staff_post" not in sql  # token and scope memoised
    assert client.get(f"/api/v1/buildings/{outside}", headers=bearer(raw)).status_code == 404
    # The grid worker is moved to grid B1-1: the next call has the new scope, not the memo's.
    post = Post.objects.get(user__username="grid_worker")
    post.region = world.buildings["b1_1"].grid
    post.save()
    assert client.get(f"/api/v1/buildings/{outside}", headers=bearer(raw)).status_code == 200
    assert client.get(f"/api/v1/buildings/{mine}", headers=bearer(raw)).status_code == 404
