"""Health check, masking functions, Excel safety, login and the home page."""

from __future__ import annotations

import io
from unittest import mock

import pytest
from openpyxl import load_workbook

from jiayuan.core.excel import safe_cell, write_xlsx
from jiayuan.core.masking import mask_id_number, mask_phone


def test_healthz_ok(client, db):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"


def test_healthz_reports_a_dead_database_as_503(client, db):
    from django.db.backends.utils import CursorWrapper

    with mock.patch.object(CursorWrapper, "execute", side_effect=RuntimeError("down")):
        resp = client.get("/healthz")
    assert resp.status_code == 503
    assert resp.json() == {"status": "error", "database": "RuntimeError"}


@pytest.mark.parametrize(
    "value,expected",
    [
        ("370602198001011234", "370602********1234"),
        ("37060219800101123X", "370602********123X"),
        ("370602800101123", "370602*****1123"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_id_number(value, expected):
    assert mask_id_number(value) == expected


@pytest.mark.parametrize(
    "value,expected",
    [("13812345678", "138****5678"), ("0535-6212345", "********2345"), ("123", "***"), ("", "")],
)
def test_mask_phone(value, expected):
    assert mask_phone(value) == expected


@pytest.mark.parametrize(
    "value,expected",
    [
        ("=1+1", "'=1+1"),
        ("+86 138", "'+86 138"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("＝HYPERLINK()", "'＝HYPERLINK()"),
        ("张三", "张三"),
        (-2, -2),
        (True, "是"),
        (None, ""),
    ],
)
def test_safe_cell_never_writes_a_formula(value, expected):
    assert safe_cell(value) == expected


def test_write_xlsx_round_trip_keeps_formulas_as_text():
    out = write_xlsx(headers=["姓名", "备注"], rows=[["=cmd|' /C calc'!A0", "ok"]])
    ws = load_workbook(io.BytesIO(out.read())).active
    assert [c.value for c in ws[1]] == ["姓名", "备注"]
    assert ws["A2"].value == "'=cmd|' /C calc'!A0"
    assert ws["A2"].data_type == "s"


def test_login_page_and_bad_password_message(client, world):
    assert client.get("/login/").status_code == 200
    resp = client.post("/login/", {"username": "grid_worker", "password": "wrong"})
    assert resp.status_code == 200
    assert "用户名或密码不正确" in resp.content.decode()
    resp = client.post("/login/", {"username": "grid_worker", "password": "pass-1234-jiayuan"})
    assert resp.status_code == 302


def test_home_requires_login_and_shows_the_post(client, world):
    assert client.get("/").status_code == 302
    client.force_login(world.users["grid_worker"])
    html = client.get("/").content.decode()
    assert "网格员" in html
    assert "友谊街社区第一网格" in html


def test_system_check_flags_a_wrong_time_zone(settings):
    from jiayuan.core.checks import check_settings

    settings.TIME_ZONE = "UTC"
    assert [e.id for e in check_settings()] == ["jiayuan.E001"]


def test_api_docs_page_loads_nothing_from_outside(client, world):
    client.force_login(world.users["grid_worker"])
    html = client.get("/api/v1/docs").content.decode()
    assert "swagger-ui-bundle.js" in html
    assert "https://" not in html and "http://" not in html.replace("http://testserver", "")
