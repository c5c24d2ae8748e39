"""Import of base data: formats, the per-row report, all-or-nothing, re-import, scope, page, CLI."""

from __future__ import annotations

import csv
import importlib
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError
from openpyxl import Workbook, load_workbook

from jiayuan.core.errors import JiayuanError, PermissionDenied
from jiayuan.regions.importer import (
    DB_ERROR_MESSAGE,
    SPECS,
    base_data_import,
    id_check_digit,
    parse_id_number,
)
from jiayuan.regions.models import Building, Household, Region, Resident, Unit

ImportCommand = importlib.import_module("jiayuan.core.management.commands.import").Command
DATA = Path(__file__).parent / "data"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "import.md"


def csv_bytes(rows: list[list[object]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def geojson_bytes(features: list[tuple[dict, dict | None]]) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": p, "geometry": g} for p, g in features],
        },
        ensure_ascii=False,
    ).encode()


def citizen_id(first17: str) -> str:
    return first17 + id_check_digit(first17)


def run(kind: str, filename: str, content: bytes, **kw: Any):
    return base_data_import(kind=kind, filename=filename, content=content, **kw)


def report(result) -> list[tuple]:
    return [(e.row, e.column, e.value, e.message) for e in result.errors]


def counts(result) -> tuple:
    return (result.rows, result.created, result.updated, result.unchanged, result.written)


# ---------------------------------------------------------------------------------------------
# Regions


def test_regions_csv_creates_parents_first_with_paths(world):
    result = run("regions", "regions.csv", (DATA / "regions.csv").read_bytes())
    assert report(result) == []
    assert counts(result) == (2, 2, 0, 0, True)
    street = Region.objects.get(code="370602003000")
    community = Region.objects.get(code="370602003001")
    assert (street.level, street.parent, street.depth) == ("street", world.r("district"), 2)
    assert community.parent == street
    assert community.path == "370600000000.370602000000.370602003000.370602003001"
    assert community.kind == ""


def test_regions_reimport_changes_nothing_and_a_changed_row_is_one_update(world):
    content = (DATA / "regions.csv").read_bytes()
    run("regions", "regions.csv", content)
    again = run("regions", "regions.csv", content)
    assert counts(again) == (2, 0, 0, 2, False)
    changed = content.decode().replace("新建街道", "新建街道（改名）").encode()
    result = run("regions", "regions.csv", changed)
    assert counts(result) == (2, 0, 1, 1, True)
    assert Region.objects.get(code="370602003000").name == "新建街道（改名）"


def test_regions_bad_file_reports_every_error_and_writes_nothing(world):
    before = Region.objects.count()
    content = csv_bytes(
        [
            ["code", "name", "level", "parent_code", "备注"],
            ["370602003000", "好街道", "街道", "370602000000", ""],
            ["37060200300", "短编码", "社区", "370602003000", ""],
            ["370602003001", "", "社区", "370602003000", ""],
            ["370602003002", "层级不对", "街道", "370602003000", ""],
            ["370611001001", "前缀不对", "社区", "370602003000", ""],
            ["370602003003", "没有上级", "社区", "370602009000", ""],
            ["370602003000", "重复", "街道", "370602000000", ""],
            ["370602001000", "移动", "街道", "370602000000", ""],
            ["370602001001", "改层级", "街道", "370602000000", ""],
            ["370602003004", "未知层级", "小区", "370602003000", ""],
        ]
    )
    result = run("regions", "bad.csv", content)
    assert report(result) == [
        (3, "code", "37060200300", "区划编码应为 12 位数字"),
        (4, "name", "", "「name」不能为空"),
        (5, "code", "370602003002", "街道（乡镇）级编码应为前 9 位有效、其后补 0"),
        (6, "code", "370611001001", "编码应以上级编码的前 9 位「370602003」开头"),
        (7, "parent_code", "370602009000", "上级区划不存在或不在您的管辖范围内"),
        (8, "code", "370602003000", "与第 2 行重复"),
        (10, "code", "370602001001", "街道（乡镇）级编码应为前 9 位有效、其后补 0"),
        (11, "level", "小区", "应为 市、区（市）、街道（乡镇）、社区（村） 之一"),
    ]
    assert result.ignored_columns == ["备注"]
    assert (result.created, result.updated, result.written) == (0, 0, False)
    assert Region.objects.count() == before


def test_regions_level_must_be_one_below_the_parent(world):
    content = csv_bytes(
        [
            ["编码", "名称", "层级", "上级编码"],
            ["370602001009", "挂错层级", "社区", "370602000000"],
            ["370602001000", "向阳街道", "街道", "370602002000"],
        ]
    )
    assert report(run("regions", "r.csv", content)) == [
        (
            2,
            "上级编码",
            "370602000000",
            "上级是区（市），本行层级应比上级低一级（社区（村）的上级应为街道（乡镇））",
        ),
        (
            3,
            "上级编码",
            "370602002000",
            "与已有记录的上级（370602000000）不同，不能通过导入移动区划",
        ),
    ]


def test_the_real_yantai_division_file_imports_and_reimports_unchanged(db):
    content = (Path(__file__).resolve().parents[1] / "data" / "yantai.csv").read_bytes()
    result = run("regions", "yantai.csv", content)
    assert report(result) == []
    assert counts(result) == (6682, 6682, 0, 0, True)
    assert Region.objects.filter(level="community").count() == 6509
    assert counts(run("regions", "yantai.csv", content)) == (6682, 0, 0, 6682, False)


# ---------------------------------------------------------------------------------------------
# Grids (GeoJSON)


def test_grids_geojson_sets_boundary_center_and_kind(world):
    result = run("grids", "grids.geojson", (DATA / "grids.geojson").read_bytes())
    assert report(result) == []
    assert counts(result) == (3, 3, 0, 0, True)
    grid = Region.objects.get(code="370602001001003")
    micro = Region.objects.get(code="37060200100100301")
    school = Region.objects.get(code="370602001001004")
    assert (grid.level, grid.parent, grid.kind) == ("grid", world.r("comm_a1"), "residential")
    assert (micro.level, micro.parent, micro.kind) == ("micro_grid", grid, "residential")
    assert school.kind == "school" and school.boundary["type"] == "MultiPolygon"
    assert grid.boundary["coordinates"][0][0] == [121.44, 37.54]
    assert (grid.center_lng, grid.center_lat) == (121.445, 37.545)
    assert micro.path == grid.path + ".37060200100100301"
    again = run("grids", "grids.geojson", (DATA / "grids.geojson").read_bytes())
    assert counts(again) == (3, 0, 0, 3, False)


def test_grids_bad_geometry_and_codes_are_row_errors(world):
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[121.0, 37.0], [121.1, 37.1], [121.1, 37.0], [121.0, 37.1], [121.0, 37.0]]
        ],
    }
    swapped = {
        "type": "Polygon",
        "coordinates": [[[37, 121], [37.1, 121], [37.1, 121.1], [37, 121]]],
    }
    point = {"type": "Point", "coordinates": [121.4, 37.5]}
    comm = "370602001001"
    content = geojson_bytes(
        [
            ({"code": "370602001001005", "name": "自相交", "parent_code": comm}, bowtie),
            ({"code": "370602001001006", "name": "经纬颠倒", "parent_code": comm}, swapped),
            ({"code": "370602001001007", "name": "点", "parent_code": comm}, point),
            ({"code": "370602001002008", "name": "编码不接上级", "parent_code": comm}, None),
            ({"code": "37060200100100101", "name": "微网格挂社区", "parent_code": comm}, None),
            ({"code": "370602001001009", "name": "别人的", "parent_code": "370602009001"}, None),
        ]
    )
    result = run("grids", "g.geojson", content)
    assert report(result) == [
        (
            1,
            "geometry",
            json.dumps(bowtie, ensure_ascii=False)[:57] + "…",
            "边界几何无效（Self-intersection[121.05 37.05]），请检查自相交或未闭合的环",
        ),
        (
            2,
            "geometry",
            json.dumps(swapped)[:57] + "…",
            "坐标超出经纬度范围（经度 -180~180，纬度 -90~90；顺序为 经度, 纬度）",
        ),
        (
            3,
            "geometry",
            '{"type": "Point", "coordinates": [121.4, 37.5]}',
            "几何类型应为 Polygon / MultiPolygon",
        ),
        (4, "code", "370602001002008", "编码应为上级编码「370602001001」再加 3 位"),
        (5, "parent_code", "370602001001", "微网格的上级应为网格，而「370602001001」是社区（村）"),
        (6, "parent_code", "370602009001", "上级区划不存在或不在您的管辖范围内"),
    ]
    assert (
        not Region.objects.filter(code__startswith="370602001001")
        .exclude(code__in=["370602001001", "370602001001001", "370602001001002"])
        .exists()
    )


# ---------------------------------------------------------------------------------------------
# Buildings


def test_buildings_xlsx_with_estate_and_point_inside_the_grid(world):
    content = xlsx_bytes(
        [
            ["楼栋编码", "楼栋名称", "网格编码", "地址", "小区", "经度", "纬度", "层数"],
            ["YY-001", "1号楼", 370602001001001, "友谊路1号", "友谊小区", 121.401, 37.541, 6],
            ["YY-002", "2号楼", "370602001001002", "友谊路2号", "", "", "", ""],
        ]
    )
    result = run("buildings", "b.xlsx", content)
    assert report(result) == []
    assert counts(result) == (2, 2, 0, 0, True)
    b1 = Building.objects.get(code="YY-001")
    assert (b1.grid, b1.estate.name, b1.lng, b1.lat, b1.floors) == (
        world.r("grid_a1_1"),
        "友谊小区",
        121.401,
        37.541,
        6,
    )
    assert len(b1.qr_token) >= 12
    assert Building.objects.get(code="YY-002").lng is None
    assert counts(run("buildings", "b.xlsx", content)) == (2, 0, 0, 2, False)


def test_buildings_geojson_point_must_lie_inside_the_grid(world):
    content = geojson_bytes(
        [
            ({"code": "P-1", "name": "点内", "grid_code": "370602001001001", "address": "甲"},
             {"type": "Point", "coordinates": [121.405, 37.545]}),
            ({"code": "P-2", "name": "点外", "grid_code": "370602001001001", "address": "乙"},
             {"type": "Point", "coordinates": [121.455, 37.545]}),
            ({"code": "P-3", "name": "小区不对", "grid_code": "370602001001001", "address": "丙",
              "estate": "不存在小区"}, None),
            ({"code": "P-4", "name": "微网格当网格", "grid_code": "370602001001", "address": "丁"},
             None),
        ]
    )  # fmt: skip
    result = run("buildings", "b.geojson", content)
    assert report(result) == [
        (2, "geometry", "121.455, 37.545", "坐标不在网格「友谊街社区第一网格」的边界内"),
        (3, "estate", "不存在小区", "网格所在社区没有这个小区，请先在系统中登记小区"),
        (4, "grid_code", "370602001001", "网格不存在或不在您的管辖范围内"),
    ]
    assert not Building.objects.filter(code__startswith="P-").exists()


def test_moving_a_building_to_another_grid_moves_its_households_and_residents(world):
    b = world.buildings["a1_1"]
    content = csv_bytes(
        [
            ["楼栋编码", "楼栋名称", "网格编码", "地址", "经度", "纬度"],
            [b.code, b.name, "370602001001002", b.address, "121.415", "37.545"],
        ]
    )
    result = run("buildings", "b.csv", content)
    assert counts(result) == (1, 0, 1, 0, True)
    grid2 = world.r("grid_a1_2")
    assert set(Household.objects.filter(building=b).values_list("grid", flat=True)) == {grid2.pk}
    assert set(Resident.objects.filter(household__building=b).values_list("grid", flat=True)) == {
        grid2.pk
    }


# ---------------------------------------------------------------------------------------------
# Households


def household_rows(building_code: str) -> list[list[object]]:
    return [
        ["户编码", "楼栋编码", "单元", "房号", "户主姓名", "居住状态", "党员中心户", "面积"],
        ["H-1", building_code, "2", "101", "王五", "出租", "是", "85.5"],
        ["H-2", building_code, "2", "102", "赵六", "", "", ""],
        ["H-3", building_code, "1", "0301", "孙七", "空置", "否", "60"],
    ]


def test_households_csv_creates_missing_units_and_reimports_unchanged(world):
    b = world.buildings["a1_1"]
    content = csv_bytes(household_rows(b.code))
    result = run("households", "h.csv", content)
    assert report(result) == []
    assert counts(result) == (3, 3, 0, 0, True)
    assert sorted(Unit.objects.filter(building=b).values_list("number", flat=True)) == ["1", "2"]
    h1 = Household.objects.get(code="H-1")
    assert (h1.unit.number, h1.room, h1.grid, h1.rental_status) == ("2", "101", b.grid, "rented")
    assert (h1.party_member_center, h1.area_m2) == (True, Decimal("85.50"))
    assert Household.objects.get(code="H-2").rental_status == "owner"
    assert counts(run("households", "h.csv", content)) == (3, 0, 0, 3, False)
    rows = household_rows(b.code)
    rows[2][4] = "赵六六"
    assert counts(run("households", "h.csv", csv_bytes(rows))) == (3, 0, 1, 2, True)
    assert Household.objects.get(code="H-2").head_name == "赵六六"


def test_household_room_taken_by_another_code_is_an_error(world):
    b = world.buildings["a1_1"]
    taken = Household.objects.filter(building=b).order_by("code").first()
    content = csv_bytes(
        [
            ["code", "building_code", "unit", "room"],
            ["H-9", b.code, taken.unit.number, taken.room],
            ["H-10", b.code, "5", "501"],
            ["H-11", b.code, "5", "501"],
            ["H-12", "NO-SUCH", "1", "101"],
            ["H-13", b.code, "1", "102", "多出的格子"],
        ]
    )
    result = run("households", "h.csv", content)
    assert report(result) == [
        (2, "room", taken.room, f"该楼栋单元房号已登记为户「{taken.code}」"),
        (4, "room", "501", "与第 3 行是同一楼栋、单元和房号"),
        (5, "building_code", "NO-SUCH", "楼栋不存在或不在您的管辖范围内"),
    ]
    assert not Household.objects.filter(code__startswith="H-1").exists()
    assert not Unit.objects.filter(number="5").exists()


# ---------------------------------------------------------------------------------------------
# Residents


ID_A = citizen_id("37060219800101001")  # male
ID_B = citizen_id("37060219850505002")  # female
ID_C = citizen_id("37060220100101003")  # male


def resident_rows(household_code: str) -> list[list[object]]:
    return [
        [
            "身份证号",
            "姓名",
            "户编码",
            "联系电话",
            "性别",
            "与户主关系",
            "党员",
            "楼栋长",
            "特殊人群标签",
        ],
        [ID_A, "张三", household_code, "13800001111", "男", "户主", "是", "否", "低保、独居老人"],
        [ID_B, "李四", household_code, "0535-6212345", "", "配偶", "", "", ""],
        [ID_C.lower(), "张小三", household_code, "", "男", "子女", "", "", "留守儿童"],
    ]


def test_residents_xlsx_with_id_checks_and_care_tags(world):
    hh = Household.objects.filter(building=world.buildings["a1_2"]).order_by("code").first()
    content = xlsx_bytes(resident_rows(hh.code))
    result = run("residents", "r.xlsx", content)
    assert report(result) == []
    assert counts(result) == (3, 3, 0, 0, True)
    a = Resident.objects.get(id_number=ID_A)
    assert (a.name, a.gender, str(a.birth_date), a.phone, a.relation) == (
        "张三",
        "M",
        "1980-01-01",
        "13800001111",
        "head",
    )
    assert (a.household, a.grid, a.is_party_member, a.is_building_leader) == (
        hh,
        hh.grid,
        True,
        False,
    )
    assert sorted(a.care_tags.values_list("code", flat=True)) == ["alone_elderly", "dibao"]
    b = Resident.objects.get(id_number=ID_B)
    assert (b.gender, b.phone, b.care_tags.count()) == ("F", "0535-6212345", 0)
    assert Resident.objects.filter(id_number=ID_C).exists()  # lower-case x/letters normalised

    assert counts(run("residents", "r.xlsx", content)) == (3, 0, 0, 3, False)
    rows = resident_rows(hh.code)
    rows[1][3] = "13900002222"
    assert counts(run("residents", "r.xlsx", xlsx_bytes(rows))) == (3, 0, 1, 2, True)
    assert Resident.objects.get(id_number=ID_A).phone == "13900002222"
    rows[1][8] = "无"
    assert counts(run("residents", "r.xlsx", xlsx_bytes(rows))) == (3, 0, 1, 2, True)
    assert Resident.objects.get(id_number=ID_A).care_tags.count() == 0


def test_residents_bad_rows_are_reported_masked_and_nothing_is_written(world):
    hh = Household.objects.filter(building=world.buildings["a1_2"]).order_by("code").first()
    bad_check = ID_A[:17] + ("0" if ID_A[17] != "0" else "1")
    before = Resident.objects.count()
    content = csv_bytes(
        [
            ["身份证号", "姓名", "户编码", "联系电话", "性别", "特殊人群标签"],
            [ID_A, "好人", hh.code, "13800001111", "", ""],
            [bad_check, "校验码错", hh.code, "", "", ""],
            [ID_B, "性别不符", hh.code, "", "男", ""],
            [ID_C, "电话错", hh.code, "12345", "", ""],
            [citizen_id("37060219800101004"), "标签错", hh.code, "", "", "低保、富豪"],
            [citizen_id("37060219800101005"), "户不存在", "NO-SUCH", "", "", ""],
            [ID_A, "重复", hh.code, "", "", ""],
            ["3.70602E+17", "科学计数", hh.code, "", "", ""],
            [citizen_id("37060219801301006"), "日期错", hh.code, "", "", ""],
        ]
    )
    result = run("residents", "r.csv", content)
    assert report(result) == [
        (3, "身份证号", "370602********" + bad_check[-4:], "身份证号校验码不正确，请核对"),
        (4, "性别", "男", "与身份证号不符（身份证号显示为女）"),
        (
            5,
            "联系电话",
            "*2345",
            "联系电话应为 11 位手机号或带区号的固定电话（如 0535-6212345）",
        ),
        (6, "特殊人群标签", "低保、富豪", "未知的特殊人群标签「富豪」"),
        (7, "户编码", "NO-SUCH", "户不存在或不在您的管辖范围内"),
        (8, "身份证号", "370602********" + ID_A[-4:], "与第 2 行重复"),
        (9, "身份证号", "3.7060*E+17",
         "身份证号被 Excel 显示成了科学计数法，请把该列设为文本后重新填写"),
        (10, "身份证号", "370602********" + citizen_id("37060219801301006")[-4:],
         "身份证号中的出生日期不正确"),
    ]  # fmt: skip
    assert Resident.objects.count() == before
    # No ID or phone number appears unmasked anywhere in the report.
    values = [e.value for e in result.errors]
    assert ID_A not in values and bad_check not in values and "12345" not in values


def test_gbk_csv_as_chinese_excel_saves_it(world):
    hh = Household.objects.filter(building=world.buildings["a1_2"]).order_by("code").first()
    template = (DATA / "residents_gbk.csv").read_bytes().decode("gbk")
    content = template.format(id1=ID_A, id2=ID_B, hh=hh.code).encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    result = run("residents", "居民.csv", content)
    assert report(result) == []
    assert counts(result) == (2, 2, 0, 0, True)
    assert Resident.objects.get(id_number=ID_A).name == "张三"
    assert Resident.objects.get(id_number=ID_B).relation == "spouse"


def test_utf8_bom_csv_headers_are_recognised(world):
    b = world.buildings["a1_1"]
    content = "\ufeff".encode() + csv_bytes(household_rows(b.code))
    assert counts(run("households", "h.csv", content)) == (3, 3, 0, 0, True)


def test_formula_looking_values_are_stored_as_text(world):
    b = world.buildings["a1_1"]
    content = csv_bytes(
        [
            ["户编码", "楼栋编码", "单元", "房号", "户主姓名"],
            ["F-1", b.code, "1", "901", '=HYPERLINK("http://x","点我")'],
            ["F-2", b.code, "1", "902", "@SUM(A1)"],
            ["F-3", b.code, "1", "903", "'=1+1"],  # as jiayuan's own export writes it
        ]
    )
    assert report(run("households", "f.csv", content)) == []
    assert Household.objects.get(code="F-1").head_name == '=HYPERLINK("http://x","点我")'
    assert Household.objects.get(code="F-2").head_name == "@SUM(A1)"
    assert Household.objects.get(code="F-3").head_name == "=1+1"
    xlsx = xlsx_bytes(
        [["户编码", "楼栋编码", "单元", "房号", "户主姓名"], ["F-4", b.code, "1", "904", "=1+1"]]
    )
    assert report(run("households", "f.xlsx", xlsx)) == []
    assert Household.objects.get(code="F-4").head_name == "=1+1"


# ---------------------------------------------------------------------------------------------
# Whole-file problems, all-or-nothing


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("a.csv", b"", "文件是空的"),
        ("a.csv", "户编码,楼栋编码,单元,房号\n".encode(), "文件只有表头，没有数据行"),
        ("a.xlsx", b"not a zip at all", "无法读取该 .xlsx 文件，请确认它是 Excel 工作簿"),
        (
            "a.xls",
            b"\xd0\xcf\x11\xe0",
            "不支持旧版 Excel（.xls）格式，请另存为 .xlsx 或 .csv 后再导入",
        ),
        ("a.pdf", b"%PDF", "不支持的文件类型，请上传 .xlsx、.csv 或 .geojson 文件"),
        ("a.geojson", b'{"type": "Feature"}', "GeoJSON 文件应为 FeatureCollection"),
        ("a.geojson", b"{nope", "GeoJSON 格式错误（第 1 行）"),
    ],
)
def test_unreadable_files_get_one_clear_error(world, filename, content, message):
    result = run("households", filename, content)
    assert report(result) == [(None, "", "", message)]
    assert result.written is False


def test_missing_required_columns_are_listed(world):
    result = run("residents", "r.csv", csv_bytes([["姓名", "电话"], ["张三", "13800001111"]]))
    assert report(result) == [
        (None, "身份证号", "", "缺少必填列「身份证号」（或 id_number）"),
        (None, "户编码", "", "缺少必填列「户编码」（或 household_code）"),
    ]


def test_unknown_kind_is_a_clear_error(world):
    with pytest.raises(JiayuanError) as exc:
        run("cats", "a.csv", b"x\n1\n")
    assert exc.value.code == "unknown_kind"
    assert (
        exc.value.message
        == "未知的导入类型「cats」，应为 regions、grids、buildings、households、residents 之一"
    )


def test_a_database_error_while_writing_rolls_everything_back(world, monkeypatch):
    content = (DATA / "regions.csv").read_bytes()
    real = Region.objects.bulk_create
    calls = []

    def failing(objs, **kw):
        calls.append(len(objs))
        if len(calls) == 2:  # the street was written; the community fails
            raise IntegrityError("UNIQUE constraint failed: regions_region.code")
        return real(objs, **kw)

    monkeypatch.setattr(Region.objects, "bulk_create", failing)
    result = run("regions", "regions.csv", content)
    assert calls == [1, 1]
    assert report(result) == [(None, "", "", DB_ERROR_MESSAGE)]
    assert DB_ERROR_MESSAGE.startswith("写入数据库时出错")
    assert (result.created, result.written) == (0, False)
    assert not Region.objects.filter(code__in=["370602003000", "370602003001"]).exists()


def test_dry_run_validates_and_counts_but_writes_nothing(world):
    result = run("regions", "regions.csv", (DATA / "regions.csv").read_bytes(), dry_run=True)
    assert counts(result) == (2, 2, 0, 0, False)
    assert result.summary() == "校验通过（仅校验，未写入）。共 2 行：新增 2，更新 0，未变 0。"
    assert not Region.objects.filter(code="370602003000").exists()


def test_id_number_check_digit_follows_gb_11643():
    assert parse_id_number("11010519491231002X")[0] == "11010519491231002X"
    assert id_check_digit("11010519491231002") == "X"
    assert id_check_digit("44052418800101001") == "4"


# ---------------------------------------------------------------------------------------------
# Scope and the page


def test_user_scope_refuses_rows_outside_it(world):
    street_officer = world.users["street_officer"]  # 向阳街道
    content = csv_bytes(
        [
            ["编码", "名称", "层级", "上级编码"],
            ["370602001003", "向阳新社区", "社区", "370602001000"],
            ["370602002009", "毓璜顶新社区", "社区", "370602002000"],
            ["370602002001", "毓西社区", "社区", "370602002000"],
            ["370602000000", "芝罘区", "区（市）", "370600000000"],
        ]
    )
    result = run("regions", "r.csv", content, user=street_officer)
    assert report(result) == [
        (3, "上级编码", "370602002000", "上级区划不存在或不在您的管辖范围内"),
        (4, "编码", "370602002001", "该区划不存在或不在您的管辖范围内"),
        (5, "编码", "370602000000", "该区划不存在或不在您的管辖范围内"),
    ]
    good = [
        ["编码", "名称", "层级", "上级编码"],
        ["370602001003", "向阳新社区", "社区", "370602001000"],
    ]
    ok = run("regions", "r.csv", csv_bytes(good), user=street_officer)
    assert counts(ok) == (1, 1, 0, 0, True)


def test_grid_worker_may_not_import(world):
    with pytest.raises(PermissionDenied):
        run(
            "regions", "r.csv", (DATA / "regions.csv").read_bytes(), user=world.users["grid_worker"]
        )


def test_page_requires_login(client, world):
    resp = client.get("/import/")
    assert resp.status_code == 302
    assert resp["Location"].startswith("/login/")


@pytest.mark.parametrize("name", ["grid_worker", "resident", "department_officer", "outsider"])
def test_page_refuses_posts_below_community(login, name):
    resp = login(name).get("/import/")
    assert resp.status_code == 403
    assert "您的岗位无权导入基础数据" in resp.content.decode()
    upload = io.BytesIO((DATA / "regions.csv").read_bytes())
    upload.name = "regions.csv"
    resp = login(name).post("/import/", {"kind": "regions", "file": upload})
    assert resp.status_code == 403
    assert not Region.objects.filter(code="370602003000").exists()


def test_page_shows_form_and_column_specs(login):
    resp = login("community_worker").get("/import/")
    assert resp.status_code == 200
    page = resp.content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert "身份证号" in page and "上级编码" in page and "只校验，不写入" in page


def test_community_worker_page_rejects_a_row_outside_their_community(login, world):
    client = login("community_worker")  # 建昌街社区 (comm_a2)
    mine, other = world.buildings["a2_1"], world.buildings["a1_1"]
    upload = io.BytesIO(
        csv_bytes(
            [
                ["户编码", "楼栋编码", "单元", "房号"],
                ["W-1", mine.code, "3", "301"],
                ["W-2", other.code, "3", "302"],
            ]
        )
    )
    upload.name = "户.csv"
    resp = client.post("/import/", {"kind": "households", "file": upload})
    assert resp.status_code == 400
    page = resp.content.decode()
    assert "发现 1 处错误，未写入任何数据。" in page
    cells = (
        f"<td>3</td><td>楼栋编码</td><td>{other.code}</td><td>楼栋不存在或不在您的管辖范围内</td>"
    )
    assert cells in page
    assert not Household.objects.filter(code__in=["W-1", "W-2"]).exists()

    download = client.get("/import/?download=report")
    assert download.status_code == 200
    ws = load_workbook(io.BytesIO(b"".join(download.streaming_content))).active
    assert [list(r) for r in ws.iter_rows(values_only=True)] == [
        ["行号", "列", "值", "错误说明"],
        [3, "楼栋编码", other.code, "楼栋不存在或不在您的管辖范围内"],
    ]

    upload = io.BytesIO(
        csv_bytes([["户编码", "楼栋编码", "单元", "房号"], ["W-1", mine.code, "3", "301"]])
    )
    upload.name = "户.csv"
    resp = client.post("/import/", {"kind": "households", "file": upload})
    assert resp.status_code == 200
    assert "导入完成。共 1 行：新增 1，更新 0，未变 0。" in resp.content.decode()
    assert Household.objects.get(code="W-1").grid == world.r("grid_a2_1")


def test_page_report_masks_id_numbers(login, world):
    client = login("community_secretary")  # may see personal data, the report still masks it
    hh = Household.objects.filter(building=world.buildings["a1_1"]).first()
    rows = [["身份证号", "姓名", "户编码", "联系电话"], [ID_A, "张三", hh.code, "13800001111"]]
    rows.append([ID_A, "张三", hh.code, "1380000111"])
    upload = io.BytesIO(xlsx_bytes(rows))
    upload.name = "r.xlsx"
    resp = client.post("/import/", {"kind": "residents", "file": upload, "dry_run": "on"})
    page = resp.content.decode()
    assert resp.status_code == 400
    assert f"<td>3</td><td>身份证号</td><td>370602********{ID_A[-4:]}</td>" in page
    assert "<td>3</td><td>联系电话</td><td>******0111</td>" in page
    assert ID_A not in page and "1380000111" not in page


def test_page_dry_run_writes_nothing(login, world):
    upload = io.BytesIO((DATA / "grids.geojson").read_bytes())
    upload.name = "grids.geojson"
    resp = login("community_secretary").post(
        "/import/", {"kind": "grids", "file": upload, "dry_run": "on"}
    )
    assert resp.status_code == 200
    assert "校验通过（仅校验，未写入）。共 3 行：新增 3，更新 0，未变 0。" in resp.content.decode()
    assert not Region.objects.filter(code="370602001001003").exists()


def test_page_without_a_file_is_a_form_error(login):
    resp = login("admin").post("/import/", {"kind": "regions"})
    assert resp.status_code == 400
    assert "这个字段是必填项。" in resp.content.decode()


def test_page_unknown_kind_is_a_form_error(login):
    upload = io.BytesIO(b"x\n1\n")
    upload.name = "a.csv"
    resp = login("admin").post("/import/", {"kind": "cats", "file": upload})
    assert resp.status_code == 400
    assert "选择一个有效的选项。 cats 不在可用的选项中。" in resp.content.decode()


def test_page_template_download_has_the_chinese_headers(login):
    resp = login("admin").get("/import/?template=residents")
    assert resp.status_code == 200
    ws = load_workbook(io.BytesIO(b"".join(resp.streaming_content))).active
    assert [c.value for c in next(ws.iter_rows())] == [c.zh for c in SPECS["residents"]]


# ---------------------------------------------------------------------------------------------
# The command


def test_command_imports_and_prints_counts(world, capsys):
    call_command("import", str(DATA / "regions.csv"), "--kind", "regions")
    out = capsys.readouterr().out
    assert "导入完成。共 2 行：新增 2，更新 0，未变 0。" in out
    assert Region.objects.filter(code="370602003001").exists()


def test_command_dry_run_writes_nothing(world, capsys):
    call_command("import", str(DATA / "regions.csv"), "--kind", "regions", "--dry-run")
    assert "校验通过（仅校验，未写入）" in capsys.readouterr().out
    assert not Region.objects.filter(code="370602003000").exists()


def test_command_prints_the_report_and_exits_non_zero(world, tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([["编码", "名称", "层级", "上级编码"], ["123", "坏", "社区", ""]]))
    report_path = tmp_path / "report.xlsx"
    # run_from_argv closes every connection when done; keep the test's own open.
    monkeypatch.setattr("django.db.connections.close_all", lambda: None)
    with pytest.raises(SystemExit) as exc:
        ImportCommand().run_from_argv(
            ["jiayuan", "import", str(bad), "--kind", "regions", "--report", str(report_path)]
        )
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[:4] == [
        "bad.csv · 区划（市、区、街道、社区）",
        "行号  列        值   错误说明",
        "2     编码      123  区划编码应为 12 位数字",
        "2     上级编码       「上级编码」不能为空",
    ]
    assert "发现 2 处错误，未写入任何数据。" in captured.err
    rows = list(load_workbook(report_path).active.iter_rows(values_only=True))
    assert rows[1] == (2, "编码", "123", "区划编码应为 12 位数字")


def test_command_missing_file_is_a_clear_error(db):
    with pytest.raises(CommandError, match="无法读取文件"):
        call_command("import", "/nonexistent/file.csv", "--kind", "regions")


def test_docs_describe_every_column():
    text = DOCS.read_text()
    for kind, columns in SPECS.items():
        assert f"`{kind}`" in text
        for col in columns:
            assert f"`{col.key}`" in text and col.zh in text, (kind, col.key)
