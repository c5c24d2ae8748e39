"""12345 hotline import: xlsx and GBK csv, the exact per-row report with nothing written,
re-import creates nothing, dry run, the command and the upload page."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import include, path
from openpyxl import Workbook

import jiayuan.urls
from jiayuan.core.errors import PermissionDenied
from jiayuan.tickets.hotline import hotline_import
from jiayuan.tickets.models import Ticket

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
# The page's URLs are included here until the root URL map includes jiayuan.tickets.hotline_urls
# (before jiayuan.tickets.urls, whose "tickets/<number>/" would take "tickets/hotline-import/").
urlpatterns = [path("", include("jiayuan.tickets.hotline_urls")), *jiayuan.urls.urlpatterns]
PAGE = "/tickets/hotline-import/"

HEADERS = [
    "工单编号",
    "来电时间",
    "来电人",
    "来电号码",
    "诉求内容",
    "标题",
    "诉求分类",
    "地址",
    "楼栋编码",
    "紧急程度",
    "是否保密",
]


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list[Any]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


def good_rows(world: Any) -> list[list[Any]]:
    return [
        HEADERS,
        [
            "RX2026112000017",
            dt.datetime(2026, 11, 20, 9, 30),  # an Excel date cell
            "王先生",
            "13812345678",
            "3单元楼道灯坏了一周，物业不管",
            "楼道灯不亮",
            "物业管理",
            "",
            world.buildings["a1_1"].code,
            "一般",
            "否",
        ],
        [
            "RX2026112000018",
            "2026-11-20 22:05",
            "",
            "0535-6212345",
            "夜里工地施工噪音太大",
            "",
            "noise",
            "芝罘区某路工地",
            "",
            "紧急",
            "",
        ],
        [
            "RX2026112100003",
            "2026/11/21 08:00:00",
            "",
            "",
            "暖气不热",
            "",
            "城乡建设/供暖",
            "",
            "",
            "",
            "是",
        ],
    ]


def test_a_good_xlsx_creates_one_ticket_per_row(world):
    result = hotline_import(filename="12345.xlsx", content=xlsx_bytes(good_rows(world)))
    assert result.as_dict() == {"rows": 3, "created": 3, "skipped": 0, "errors": []}
    assert result.written
    assert result.summary() == "导入完成。共 3 行：新建工单 3，已导入过（跳过）0。"
    a, b, c = (
        Ticket.objects.get(external_ref=n)
        for n in ["RX2026112000017", "RX2026112000018", "RX2026112100003"]
    )
    assert (a.channel, a.state, a.owner_region, a.grid, a.building) == (
        "hotline",
        "assigned",
        world.r("grid_a1_1"),
        world.r("grid_a1_1"),
        world.buildings["a1_1"],
    )
    assert (a.title, a.description, a.reporter_name, a.reporter_phone, a.category.code) == (
        "楼道灯不亮",
        "3单元楼道灯坏了一周，物业不管",
        "王先生",
        "13812345678",
        "property",
    )
    assert a.created_at == dt.datetime(2026, 11, 20, 9, 30, tzinfo=SH)
    assert a.number == "J20261120000001"
    assert b.number == "J20261120000002"
    assert (b.state, b.owner_region, b.urgency, b.category.code, b.address, b.title) == (
        "triage",
        world.r("city"),
        "urgent",
        "noise",
        "芝罘区某路工地",
        "夜里工地施工噪音太大",
    )
    assert b.created_at == dt.datetime(2026, 11, 20, 22, 5, tzinfo=SH)
    assert (c.anonymous, c.confidential, c.category.code, c.reporter_phone) == (
        True,
        True,
        "heating",
        "",
    )
    event = a.events.get()
    assert (event.action, event.actor, event.actor_label, event.at) == (
        "submit",
        None,
        "12345 热线导入",
        a.created_at,
    )


def test_re_import_of_the_same_file_creates_nothing(world):
    content = xlsx_bytes(good_rows(world))
    hotline_import(filename="12345.xlsx", content=content)
    again = hotline_import(filename="12345.xlsx", content=content)
    assert again.as_dict() == {"rows": 3, "created": 0, "skipped": 3, "errors": []}
    assert not again.written
    assert Ticket.objects.count() == 3


def test_a_file_with_old_and_new_rows_creates_only_the_new(world):
    rows = good_rows(world)
    hotline_import(filename="a.xlsx", content=xlsx_bytes(rows[:2]))
    result = hotline_import(filename="b.xlsx", content=xlsx_bytes(rows))
    assert result.as_dict() == {"rows": 3, "created": 2, "skipped": 1, "errors": []}
    assert Ticket.objects.count() == 3


def test_a_gbk_csv_with_english_headers(world):
    rows = [
        ["hotline_no", "received_at", "caller_name", "caller_phone", "content", "category"],
        ["H-1", "2026-11-22 10:00:00", "赵女士", "13900001111", "小区门口垃圾堆积", "垃圾清运"],
        ["H-2", "", "", "13900002222", "公交站牌损坏", "bus"],
    ]
    result = hotline_import(filename="export.csv", content=csv_bytes(rows, "gbk"))
    assert result.as_dict() == {"rows": 2, "created": 2, "skipped": 0, "errors": []}
    h1 = Ticket.objects.get(external_ref="H-1")
    assert (h1.reporter_name, h1.category.code, h1.state) == ("赵女士", "garbage", "triage")
    assert h1.created_at == dt.datetime(2026, 11, 22, 10, 0, tzinfo=SH)


def test_a_bad_file_gets_the_exact_report_and_nothing_is_written(world):
    rows = [
        HEADERS,
        ["OK-1", "2026-11-20 09:00", "", "13800000001", "好的一行", "", "", "", "", "", ""],
        ["BAD-1", "2026-13-40", "", "1380000", "", "", "不存在的分类", "", "NOPE", "很急", "也许"],
        ["OK-1", "2099-01-01 00:00", "", "13800000002", "重复编号", "", "", "", "", "", ""],
        ["", "", "", "", "没有编号", "", "物业", "", "", "", ""],
    ]
    result = hotline_import(filename="bad.xlsx", content=xlsx_bytes(rows))
    assert result.as_dict() == {
        "rows": 4,
        "created": 0,
        "skipped": 0,
        "errors": [
            {"row": 3, "column": "诉求内容", "value": "", "message": "「诉求内容」不能为空"},
            {
                "row": 3,
                "column": "来电号码",
                "value": "***0000",
                "message": "联系电话应为 11 位手机号或带区号的固定电话（如 0535-6212345）",
            },
            {
                "row": 3,
                "column": "来电时间",
                "value": "2026-13-40",
                "message": "来电时间格式不正确，应如 2026-11-23 09:30:00",
            },
            {
                "row": 3,
                "column": "诉求分类",
                "value": "不存在的分类",
                "message": "诉求分类不存在（填写分类名称或编码，见 /api/v1/categories）",
            },
            {"row": 3, "column": "紧急程度", "value": "很急", "message": "应为 一般、紧急 之一"},
            {"row": 3, "column": "是否保密", "value": "也许", "message": "请填写 是 或 否"},
            {"row": 4, "column": "工单编号", "value": "OK-1", "message": "与第 2 行重复"},
            {
                "row": 4,
                "column": "来电时间",
                "value": "2099-01-01 00:00",
                "message": "来电时间晚于当前时间",
            },
            {"row": 5, "column": "工单编号", "value": "", "message": "「工单编号」不能为空"},
            {
                "row": 5,
                "column": "诉求分类",
                "value": "物业",
                "message": "诉求分类不存在（填写分类名称或编码，见 /api/v1/categories）",
            },
        ],
    }
    assert result.summary() == "发现 10 处错误，未写入任何数据。"
    assert Ticket.objects.count() == 0


def test_unknown_building_code_is_a_row_error(world):
    rows = [[*HEADERS[:5], "楼栋编码"], ["X-1", "", "", "13800000001", "内容", "NOPE"]]
    result = hotline_import(filename="b.xlsx", content=xlsx_bytes(rows))
    assert result.as_dict()["errors"] == [
        {
            "row": 2,
            "column": "楼栋编码",
            "value": "NOPE",
            "message": "楼栋编码不存在或不在您的管辖范围内",
        }
    ]
    assert Ticket.objects.count() == 0


def test_missing_required_columns_are_file_errors(world):
    result = hotline_import(filename="x.csv", content=csv_bytes([["来电时间"], ["2026-11-20"]]))
    assert [e.as_dict() for e in result.errors] == [
        {
            "row": None,
            "column": "工单编号",
            "value": "",
            "message": "缺少必填列「工单编号」（或 hotline_no）",
        },
        {
            "row": None,
            "column": "诉求内容",
            "value": "",
            "message": "缺少必填列「诉求内容」（或 content）",
        },
    ]


def test_unreadable_files_are_reported(world):
    result = hotline_import(filename="x.xls", content=b"\xd0\xcf\x11\xe0")
    assert [e.message for e in result.errors] == [
        "不支持旧版 Excel（.xls）格式，请另存为 .xlsx 或 .csv 后再导入"
    ]


def test_an_ambiguous_category_name_asks_for_the_path(world):
    from jiayuan.tickets.models import Category

    Category.objects.create(
        code="noise2", name="噪音扰民", parent=Category.objects.get(code="community")
    )
    rows = [
        ["工单编号", "诉求内容", "诉求分类"],
        ["A", "吵", "噪音扰民"],
        ["B", "吵", "社区事务/噪音扰民"],
    ]
    result = hotline_import(filename="x.csv", content=csv_bytes(rows))
    assert [(e.row, e.message) for e in result.errors] == [
        (2, "分类名称不唯一，请写成 一级/二级 或填写分类编码")
    ]


def test_dry_run_counts_but_writes_nothing(world):
    result = hotline_import(filename="x.xlsx", content=xlsx_bytes(good_rows(world)), dry_run=True)
    assert result.as_dict() == {"rows": 3, "created": 3, "skipped": 0, "errors": []}
    assert (
        result.summary() == "校验通过（仅校验，未写入）。共 3 行：新建工单 3，已导入过（跳过）0。"
    )
    assert Ticket.objects.count() == 0


def test_a_grid_worker_may_not_import(world):
    with pytest.raises(PermissionDenied):
        hotline_import(
            filename="x.xlsx", content=xlsx_bytes(good_rows(world)), user=world.users["grid_worker"]
        )


def test_a_page_user_sees_only_buildings_in_scope(world):
    rows = [
        [*HEADERS[:5], "楼栋编码"],
        ["X-1", "", "", "13800000001", "内容", world.buildings["b1_1"].code],
    ]
    result = hotline_import(
        filename="b.xlsx", content=xlsx_bytes(rows), user=world.users["street_officer"]
    )
    assert [(e.row, e.column, e.message) for e in result.errors] == [
        (2, "楼栋编码", "楼栋编码不存在或不在您的管辖范围内")
    ]


# --- command ---------------------------------------------------------------------------------


def test_command_imports_and_prints_the_counts(world, tmp_path):
    file = tmp_path / "12345.xlsx"
    file.write_bytes(xlsx_bytes(good_rows(world)))
    out = io.StringIO()
    call_command("tickets", "import-hotline", str(file), stdout=out)
    assert out.getvalue().splitlines() == [
        "12345.xlsx · 12345 热线工单",
        "导入完成。共 3 行：新建工单 3，已导入过（跳过）0。",
    ]
    out = io.StringIO()
    call_command("tickets", "import-hotline", str(file), "--dry-run", stdout=out)
    assert (
        out.getvalue().splitlines()[-1]
        == "校验通过（仅校验，未写入）。共 3 行：新建工单 0，已导入过（跳过）3。"
    )
    assert Ticket.objects.count() == 3


def test_command_prints_the_report_and_exits_1_on_errors(world, tmp_path):
    file = tmp_path / "bad.csv"
    file.write_bytes(csv_bytes([["工单编号", "诉求内容"], ["A", ""]]))
    out = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("tickets", "import-hotline", str(file), stdout=out)
    assert exc.value.returncode == 1
    assert str(exc.value) == "发现 1 处错误，未写入任何数据。"
    assert out.getvalue().splitlines() == [
        "bad.csv · 12345 热线工单",
        "行号  列        值  错误说明",
        "2     诉求内容      「诉求内容」不能为空",
    ]
    assert Ticket.objects.count() == 0


# --- page ------------------------------------------------------------------------------------


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("user", "status"),
    [
        ("command_center", 200),
        ("street_officer", 200),
        ("community_secretary", 200),
        ("community_worker", 200),
        ("admin", 200),
        ("grid_worker", 404),
        ("department_officer", 404),
        ("resident", 404),
        ("outsider", 404),
    ],
)
def test_page_is_for_community_level_and_above(world, login, user, status):
    response = login(user).get(PAGE)
    assert response.status_code == status
    if status == 200:
        assert "导入 12345 热线工单" in response.content.decode()


@pytest.mark.urls(__name__)
def test_page_needs_a_login(client, world):
    response = client.get(PAGE)
    assert response.status_code == 302


@pytest.mark.urls(__name__)
def test_page_upload_shows_the_counts(world, login):
    upload = SimpleUploadedFile("12345.xlsx", xlsx_bytes(good_rows(world)))
    response = login("command_center").post(PAGE, {"file": upload})
    assert response.status_code == 200
    html = response.content.decode()
    assert "导入完成。共 3 行：新建工单 3，已导入过（跳过）0。" in html
    assert Ticket.objects.count() == 3


@pytest.mark.urls(__name__)
def test_page_upload_shows_the_report_with_the_phone_masked(world, login):
    upload = SimpleUploadedFile(
        "bad.csv", csv_bytes([["工单编号", "来电号码", "诉求内容"], ["A", "13812345", "有内容"]])
    )
    response = login("command_center").post(PAGE, {"file": upload})
    assert response.status_code == 400
    html = response.content.decode()
    assert "发现 1 处错误，未写入任何数据。" in html
    assert "****2345" in html
    assert "13812345" not in html
    assert Ticket.objects.count() == 0


@pytest.mark.urls(__name__)
def test_page_template_download(world, login):
    response = login("command_center").get(PAGE + "?template=1")
    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
