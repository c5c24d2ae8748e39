"""API keys: the command, the admin, hashing, rotation."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jiayuan.open311.models import ApiKey
from jiayuan.open311.tests.conftest import INSIDE_A1_1
from jiayuan.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def run(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("open311", *args, stdout=out)
    return out.getvalue().splitlines()


def submit(client: Any, raw: str) -> Any:
    return client.post(
        "/open311/v2/requests.json",
        {"api_key": raw, "service_code": "garbage", "description": "垃圾", **INSIDE_A1_1},
    )


def test_create_key_prints_the_key_last_and_the_key_works(client: Any, world: Any) -> None:
    lines = run("create-key", "12345小程序", "--label", "烟台12345小程序")
    raw = lines[-1]
    assert raw.startswith("jy311_")
    key = ApiKey.objects.get(name="12345小程序")
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert key.prefix == raw[:10]
    assert raw not in {key.prefix, key.key_hash}
    response = submit(client, raw)
    assert response.status_code == 200
    assert Ticket.objects.get().events.get().actor_label == "烟台12345小程序"


def test_create_key_twice_with_one_name_is_an_error(db: Any) -> None:
    run("create-key", "app")
    with pytest.raises(CommandError, match="已有名为“app”的密钥"):
        run("create-key", "app")
    assert ApiKey.objects.count() == 1


def test_demo_key_creates_then_rotates(client: Any, world: Any) -> None:
    first = run("demo-key")[-1]
    assert submit(client, first).status_code == 200
    second = run("demo-key")[-1]
    assert second != first
    assert ApiKey.objects.filter(name="demo").count() == 1
    assert submit(client, first).status_code == 403
    assert submit(client, second).status_code == 200


def test_list_keys_shows_prefixes_only(db: Any) -> None:
    raw = run("create-key", "app")[-1]
    lines = run("list-keys")
    assert lines == [f"app\t{raw[:10]}…\t启用\t-"]


def test_admin_shows_a_new_key_once(client: Any, world: Any) -> None:
    from django.contrib.auth import get_user_model

    admin_user = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client.force_login(admin_user)
    response = client.post(
        "/admin/open311/apikey/add/",
        {"name": "后台新建", "channel_label": "", "is_active": "on"},
        follow=True,
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="后台新建")
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 2  # the key, then Django's "added successfully"
    raw = shown[0].split("：")[1].split(" ")[0]
    assert raw.startswith(key.prefix)
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    page = client.get(f"/admin/open311/apikey/{key.pk}/change/").content.decode()
    assert raw not in page
    assert key.prefix in page
    client.logout()
    assert submit(client, raw).status_code == 200
    assert json.loads(submit(client, raw + "x").content)[0]["code"] == 403


def test_admin_rejects_bad_attribute_values(client: Any, world: Any) -> None:
    from django.contrib.auth import get_user_model

    from jiayuan.tickets.models import Category

    admin_user = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client.force_login(admin_user)
    response = client.post(
        "/admin/open311/serviceattribute/add/",
        {
            "category": Category.objects.get(code="noise").pk,
            "code": "period",
            "variable": "on",
            "datatype": "singlevaluelist",
            "order": "1",
            "description": "时段",
            "values": json.dumps([{"key": "day"}]),
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "每个可选值须是" in response.content.decode()
