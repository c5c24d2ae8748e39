"""The working-day calendar (工作日历): seeded rows, deadline arithmetic, warnings, import."""

from __future__ import annotations

import datetime as dt
import importlib
import io
import sys
import warnings
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from jiayuan.core import calendar
from jiayuan.core.models import CalendarDay, CalendarYear

SH = ZoneInfo("Asia/Shanghai")
seed_migration = importlib.import_module("jiayuan.core.migrations.0003_calendar_seed")


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.fixture(autouse=True)
def _fresh_cache():
    calendar.reload()
    yield
    calendar.reload()


@pytest.fixture
def seeded(db):
    """The rows the migration seeds (restored if a transactional test flushed them)."""
    if not CalendarYear.objects.filter(source__startswith="chinese-calendar").exists():
        seed_migration.seed(django_apps, None)
    calendar.reload()


# A made-up 2027 schedule for the tests (the real one is not published in our data).
FILE_2027 = (
    "date,kind,name\n"
    "2027-01-01,holiday,元旦\n"
    "2027-02-06,workday,春节\n"
    "2027-02-08,holiday,春节\n"
    "2027-02-09,holiday,春节\n"
)


def import_text(text: str, filename: str = "2027.csv", **kwargs):
    return calendar.import_calendar(filename=filename, content=text.encode(), **kwargs)


# ---------------------------------------------------------------------------------------------
# Seeded data


def test_seed_agrees_with_chinese_calendar_on_every_date(seeded):
    day = dt.date(2004, 1, 1)
    disagreements = []
    while day.year <= 2026:
        if calendar.is_working_day(day) != chinese_calendar.is_workday(day):
            disagreements.append(day)
        day += dt.timedelta(days=1)
    assert disagreements == []
    assert calendar.known_years() == set(range(2004, 2027))
    assert CalendarYear.objects.get(year=2026).source == "chinese-calendar 1.11.0"


def test_seed_stores_only_exceptions_with_chinese_names(seeded):
    rows_2026 = CalendarDay.objects.filter(date__year=2026)
    assert rows_2026.count() == 25
    assert rows_2026.filter(kind="workday").count() == 6
    assert CalendarDay.objects.count() == 557
    oct1 = CalendarDay.objects.get(date=dt.date(2026, 10, 1))
    assert (oct1.kind, oct1.name, oct1.source) == ("holiday", "国庆节", "chinese-calendar 1.11.0")
    assert CalendarDay.objects.get(date=dt.date(2026, 9, 20)).name == "国庆节"
    assert CalendarDay.objects.get(date=dt.date(2015, 9, 3)).name == "抗战胜利纪念日"
    assert CalendarDay.objects.get(date=dt.date(2026, 2, 16)).name == "春节"
    assert calendar.holiday_name(dt.date(2026, 10, 1)) == "国庆节"
    # A weekend inside a holiday is off anyway: not stored.
    assert not CalendarDay.objects.filter(date=dt.date(2026, 10, 3)).exists()


@pytest.mark.parametrize(
    "day,working",
    [
        (dt.date(2026, 10, 1), False),  # Thursday, National Day
        (dt.date(2026, 10, 3), False),  # Saturday inside the holiday
        (dt.date(2026, 10, 7), False),  # Wednesday, National Day
        (dt.date(2026, 10, 8), True),  # Thursday, back to work
        (dt.date(2026, 10, 10), True),  # Saturday, 调休上班
        (dt.date(2026, 9, 20), True),  # Sunday, 调休上班
        (dt.date(2026, 2, 14), True),  # Saturday before Spring Festival
        (dt.date(2026, 2, 23), False),  # Monday, Spring Festival
        (dt.date(2026, 11, 21), False),  # an ordinary Saturday
        (dt.date(2026, 11, 23), True),  # an ordinary Monday
    ],
)
def test_is_working_day_2026(seeded, day, working):
    assert calendar.is_working_day(day) is working
    assert chinese_calendar.is_workday(day) is working


def test_seed_warns_and_writes_nothing_without_the_package(db, monkeypatch):
    CalendarDay.objects.all().delete()
    CalendarYear.objects.all().delete()
    monkeypatch.setitem(sys.modules, "chinese_calendar", None)  # import raises ImportError
    with pytest.warns(UserWarning, match="chinese-calendar is not installed"):
        seed_migration.seed(django_apps, None)
    assert CalendarDay.objects.count() == 0
    assert CalendarYear.objects.count() == 0


def test_seed_skips_years_already_loaded(db):
    CalendarDay.objects.all().delete()
    CalendarYear.objects.all().delete()
    assert import_text("date,kind,name\n2026-10-01,holiday,国庆节\n", filename="a.csv").ok
    seed_migration.seed(django_apps, None)
    assert CalendarDay.objects.filter(date__year=2026).count() == 1
    assert CalendarDay.objects.filter(date__year=2025).count() == 23
    assert CalendarYear.objects.get(year=2026).source == "a.csv"


# ---------------------------------------------------------------------------------------------
# Deadlines


def test_one_working_day_across_national_day_2026(seeded):
    start = at(2026, 9, 30, 15, 30)  # Wednesday before the holiday
    assert calendar.add_working_days(start, 1) == at(2026, 10, 8, 15, 30)
    assert calendar.add_working_days(start, 2) == at(2026, 10, 9, 15, 30)
    assert calendar.add_working_days(start, 3) == at(2026, 10, 10, 15, 30)  # 调休 Saturday
    assert calendar.add_working_days(start, 4) == at(2026, 10, 12, 15, 30)
    assert calendar.add_working_days(at(2026, 9, 29, 10), 2) == at(2026, 10, 8, 10)


def test_across_spring_festival_2026(seeded):
    start = at(2026, 2, 13, 9)  # Friday
    assert calendar.add_working_days(start, 1) == at(2026, 2, 14, 9)  # Saturday, 调休上班
    assert calendar.add_working_days(start, 2) == at(2026, 2, 24, 9)
    assert calendar.add_working_days(start, 3) == at(2026, 2, 25, 9)


def test_submission_on_a_saturday_counts_from_monday_midnight(seeded):
    saturday = at(2026, 11, 21, 10)
    assert calendar.add_working_days(saturday, 0) == at(2026, 11, 23, 0)
    assert calendar.add_working_days(saturday, 1) == at(2026, 11, 24, 0)
    assert calendar.add_working_days(saturday, 3) == at(2026, 11, 26, 0)
    # During a holiday: from 00:00 of the first day back.
    assert calendar.add_working_days(at(2026, 10, 3, 14), 1) == at(2026, 10, 9, 0)


def test_adjusted_working_weekend_counts(seeded):
    assert calendar.add_working_days(at(2026, 10, 9, 17), 1) == at(2026, 10, 10, 17)
    assert calendar.add_working_days(at(2026, 10, 10, 9), 1) == at(2026, 10, 12, 9)
    assert calendar.add_working_days(at(2026, 9, 18, 11), 1) == at(2026, 9, 20, 11)  # Sunday


def test_times_are_aware_and_local(seeded):
    utc = dt.datetime(2026, 9, 30, 20, 0, tzinfo=dt.UTC)  # 2026-10-01 04:00 in Shanghai
    result = calendar.add_working_days(utc, 1)
    assert result == at(2026, 10, 9, 0)
    assert result.tzinfo == SH
    assert result.isoformat() == "2026-10-09T00:00:00+08:00"
    with pytest.raises(ValueError):
        calendar.add_working_days(dt.datetime(2026, 9, 30, 10), 1)
    with pytest.raises(ValueError):
        calendar.add_working_days(at(2026, 9, 30, 10), -1)


def test_add_hours_runs_around_the_clock(seeded):
    assert calendar.add_hours(at(2026, 9, 30, 22), 4) == at(2026, 10, 1, 2)
    result = calendar.add_hours(dt.datetime(2026, 9, 30, 14, tzinfo=dt.UTC), 2.5)
    assert result.isoformat() == "2026-10-01T00:30:00+08:00"


def test_working_days_between(seeded):
    assert calendar.working_days_between(dt.date(2026, 9, 30), dt.date(2026, 10, 8)) == 1
    assert calendar.working_days_between(dt.date(2026, 9, 30), dt.date(2026, 10, 10)) == 3
    assert calendar.working_days_between(dt.date(2026, 10, 10), dt.date(2026, 9, 30)) == -3
    assert calendar.working_days_between(dt.date(2026, 10, 1), dt.date(2026, 10, 1)) == 0
    assert calendar.working_days_between(dt.date(2025, 12, 31), dt.date(2026, 12, 31)) == 248


def test_a_year_not_loaded_counts_weekends_only(seeded):
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(dt.date(2027, 1, 1))  # why jiayuan keeps its own rows
    assert calendar.is_working_day(dt.date(2027, 1, 1)) is True  # a Friday
    assert calendar.is_working_day(dt.date(2027, 1, 2)) is False  # a Saturday
    assert calendar.add_working_days(at(2026, 12, 31, 10), 1) == at(2027, 1, 1, 10)
    assert calendar.add_working_days(at(2026, 12, 31, 10), 2) == at(2027, 1, 4, 10)
    assert calendar.working_days_between(dt.date(2026, 12, 31), dt.date(2027, 1, 8)) == 6
    assert calendar.add_working_days(at(2031, 5, 1, 8), 1) == at(2031, 5, 2, 8)


# ---------------------------------------------------------------------------------------------
# Missing years and the warning

WARNING_2027 = "2027年节假日安排尚未导入，期限暂按周末计算，请尽快导入国务院办公厅公布的安排"


def test_missing_years_and_warning(seeded):
    assert calendar.missing_years(today=dt.date(2026, 11, 23)) == [2027]
    assert calendar.calendar_warning(dt.date(2026, 11, 23)) == WARNING_2027
    assert calendar.missing_years(today=dt.date(2026, 6, 1)) == []
    assert calendar.calendar_warning(dt.date(2026, 6, 1)) is None
    assert calendar.missing_years(today=dt.date(2026, 11, 1)) == []  # 61 days before
    assert calendar.missing_years(today=dt.date(2026, 11, 2)) == [2027]  # 60 days before
    assert calendar.missing_years(today=dt.date(2026, 11, 23), horizon_days=30) == []
    assert calendar.missing_years(today=dt.date(2027, 12, 15)) == [2027, 2028]
    assert calendar.calendar_warning(dt.date(2027, 12, 15)) == (
        "2027年、2028年节假日安排尚未导入，期限暂按周末计算，请尽快导入国务院办公厅公布的安排"
    )


def test_calendar_warning_defaults_to_today(seeded, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, tzinfo=SH))
    assert calendar.calendar_warning() == WARNING_2027


# ---------------------------------------------------------------------------------------------
# Import


def test_import_a_year_then_the_warning_goes_and_deadlines_use_it(seeded):
    # Prime the cache with the weekends-only answer first.
    assert calendar.add_working_days(at(2026, 12, 31, 10), 1) == at(2027, 1, 1, 10)
    result = import_text(FILE_2027, source="国办发明电〔2026〕99号")
    assert result.ok
    assert (result.year, result.rows, result.created, result.written) == (2027, 4, 4, True)
    assert result.summary() == "导入完成。2027年共 4 行：新增 4，修改 0，删除 0，未变 0。"
    assert list(
        CalendarDay.objects.filter(date__year=2027).values_list("date", "kind", "name", "source")
    ) == [
        (dt.date(2027, 1, 1), "holiday", "元旦", "国办发明电〔2026〕99号"),
        (dt.date(2027, 2, 6), "workday", "春节", "国办发明电〔2026〕99号"),
        (dt.date(2027, 2, 8), "holiday", "春节", "国办发明电〔2026〕99号"),
        (dt.date(2027, 2, 9), "holiday", "春节", "国办发明电〔2026〕99号"),
    ]
    assert CalendarYear.objects.get(year=2027).source == "国办发明电〔2026〕99号"
    assert calendar.missing_years(today=dt.date(2026, 11, 23)) == []
    assert calendar.calendar_warning(dt.date(2026, 11, 23)) is None
    assert calendar.add_working_days(at(2026, 12, 31, 10), 1) == at(2027, 1, 4, 10)
    assert calendar.add_working_days(at(2027, 2, 5, 9), 1) == at(2027, 2, 6, 9)
    assert calendar.add_working_days(at(2027, 2, 5, 9), 2) == at(2027, 2, 10, 9)


def test_another_process_import_is_seen_after_the_check_interval(seeded, monkeypatch):
    assert calendar.is_working_day(dt.date(2027, 1, 1)) is True  # cached
    # Another process writes the rows: this one does not ask again before CHECK_SECONDS ...
    CalendarDay.objects.create(date=dt.date(2027, 1, 1), kind="holiday", name="元旦")
    assert calendar.is_working_day(dt.date(2027, 1, 1)) is True
    # ... and sees the change once the interval has passed.
    clock = calendar.time.monotonic() + calendar.CHECK_SECONDS + 1
    monkeypatch.setattr(calendar.time, "monotonic", lambda: clock)
    assert calendar.is_working_day(dt.date(2027, 1, 1)) is False
    # A row changed in place (same count, same ids) is seen too.
    row = CalendarDay.objects.get(date=dt.date(2027, 1, 1))
    row.date = dt.date(2027, 1, 4)
    row.save()
    clock += calendar.CHECK_SECONDS + 1
    assert calendar.is_working_day(dt.date(2027, 1, 4)) is False
    assert calendar.is_working_day(dt.date(2027, 1, 1)) is True


def test_chinese_headers_and_kinds_in_gbk_csv(seeded):
    text = "日期,类型,名称\n2027/1/1,放假,元旦\n2027年2月6日,上班,春节\n2027-02-08,休息,春节\n"
    result = calendar.import_calendar(
        filename="安排.csv", content=text.encode("gb18030"), year=2027
    )
    assert result.ok, result.errors
    assert dict(CalendarDay.objects.filter(date__year=2027).values_list("date", "kind")) == {
        dt.date(2027, 1, 1): "holiday",
        dt.date(2027, 2, 6): "workday",
        dt.date(2027, 2, 8): "holiday",
    }
    assert CalendarYear.objects.get(year=2027).source == "安排.csv"


def test_xlsx_with_date_cells(seeded):
    wb = Workbook()
    ws = wb.active
    ws.append(["日期", "类型", "名称"])
    ws.append([dt.datetime(2027, 1, 1), "holiday", "元旦"])
    ws.append([dt.date(2027, 2, 6), "调休", "春节"])
    out = io.BytesIO()
    wb.save(out)
    result = calendar.import_calendar(filename="2027.xlsx", content=out.getvalue())
    assert result.ok, result.errors
    assert result.year == 2027
    assert CalendarDay.objects.get(date=dt.date(2027, 2, 6)).kind == "workday"


BAD_FILE = (
    "date,kind,name\n"
    "2027-02-30,holiday,春节\n"
    "2027-01-04,workday,元旦\n"
    "2027-01-01,holiday,元旦\n"
    "2027-01-01,holiday,元旦\n"
    "2026-12-31,holiday,元旦\n"
    "2027-05-01,休假,劳动节\n"
    ",holiday,\n"
)


def test_bad_file_gives_the_exact_report_and_writes_nothing(seeded):
    before = CalendarDay.objects.count()
    result = import_text(BAD_FILE, year=2027)
    assert result.report_rows() == [
        [2, "date", "2027-02-30", "日期格式不正确，应为 YYYY-MM-DD"],
        [
            3,
            "kind",
            "workday",
            "2027-01-04 是星期一，本来就是工作日，调休上班只能是星期六或星期日",
        ],
        [5, "date", "2027-01-01", "日期与第 4 行重复"],
        [6, "date", "2026-12-31", "日期不在 2027 年内"],
        [7, "kind", "休假", "无法识别的类型，应为 workday/上班/调休 或 holiday/休息/放假"],
        [8, "date", "", "日期不能为空"],
    ]
    assert result.summary() == "发现 6 处错误，未写入任何数据。"
    assert result.written is False
    assert CalendarDay.objects.count() == before
    assert not CalendarYear.objects.filter(year=2027).exists()


@pytest.mark.parametrize(
    "filename,content,message",
    [
        ("a.csv", b"", "文件是空的"),
        ("a.csv", b"date,kind,name\n", "文件只有表头，没有数据行"),
        (
            "a.csv",
            b"day,kind\n2027-01-01,holiday\n",
            "缺少“date/日期”列（表头应为 日期,类型,名称）",
        ),
        ("a.xls", b"whatever", "不支持的文件类型，请上传 .csv 或 .xlsx 文件"),
        ("a.xlsx", b"not a workbook", "无法读取该 .xlsx 文件，请确认它是 Excel 工作簿"),
        (
            "a.csv",
            b"date,kind\n2026-10-01,holiday\n2027-01-01,holiday\n",
            "文件包含多个年份（2026、2027）的日期，一次只能导入一年，请用 --year 指定年份",
        ),
    ],
)
def test_file_level_errors(seeded, filename, content, message):
    before = CalendarDay.objects.count()
    result = calendar.import_calendar(filename=filename, content=content)
    assert [e.message for e in result.errors] == [message]
    assert result.errors[0].row is None
    assert CalendarDay.objects.count() == before


def test_reimport_changes_nothing(seeded):
    assert import_text(FILE_2027).written
    ids = list(CalendarDay.objects.filter(date__year=2027).values_list("id", "updated_at"))
    loaded_at = CalendarYear.objects.get(year=2027).loaded_at
    again = import_text(FILE_2027)
    assert again.ok
    assert (again.created, again.updated, again.deleted, again.unchanged) == (0, 0, 0, 4)
    assert again.written is False
    assert list(CalendarDay.objects.filter(date__year=2027).values_list("id", "updated_at")) == ids
    assert CalendarYear.objects.get(year=2027).loaded_at == loaded_at


def test_reimport_replaces_the_year(seeded):
    import_text(FILE_2027)
    changed = "date,kind,name\n2027-01-01,holiday,元旦节\n2027-02-08,holiday,春节\n"
    result = import_text(changed)
    assert (result.created, result.updated, result.deleted, result.unchanged) == (0, 1, 2, 1)
    assert list(CalendarDay.objects.filter(date__year=2027).values_list("date", "name")) == [
        (dt.date(2027, 1, 1), "元旦节"),
        (dt.date(2027, 2, 8), "春节"),
    ]
    assert calendar.is_working_day(dt.date(2027, 2, 6)) is False  # the 调休 row is gone
    # Other years are untouched.
    assert CalendarDay.objects.filter(date__year=2026).count() == 25


def test_dry_run_writes_nothing(seeded):
    result = import_text(FILE_2027, dry_run=True)
    assert result.ok and not result.written
    assert (
        result.summary()
        == "校验通过（仅校验，未写入）。2027年共 4 行：新增 4，修改 0，删除 0，未变 0。"
    )
    assert not CalendarDay.objects.filter(date__year=2027).exists()
    assert not CalendarYear.objects.filter(year=2027).exists()


def test_schedule_csv_round_trips(seeded):
    rows = [(d, k, n) for d, k, n, _ in calendar.exceptions_of(2026)]
    text = calendar.schedule_csv(rows)
    assert text.splitlines()[:3] == [
        "date,kind,name",
        "2026-01-01,holiday,元旦",
        "2026-01-02,holiday,元旦",
    ]
    result = import_text(text, filename="2026.csv", source="chinese-calendar 1.11.0")
    assert (result.created, result.updated, result.deleted, result.unchanged) == (0, 0, 0, 25)
    assert result.written is False


# ---------------------------------------------------------------------------------------------
# The command


def test_command_import_status_show(seeded, tmp_path, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, tzinfo=SH))
    path = tmp_path / "2027.csv"
    path.write_text(FILE_2027, encoding="utf-8")
    out = io.StringIO()
    call_command("calendar", "status", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["年份", "导入时间", "来源"]
    assert lines[1].startswith("2004–2026  ")
    assert lines[1].endswith("  chinese-calendar 1.11.0")
    assert lines[2] == f"提醒：{WARNING_2027}"
    out = io.StringIO()
    call_command("calendar", "import", str(path), "--source", "测试", stdout=out)
    assert out.getvalue().strip() == "导入完成。2027年共 4 行：新增 4，修改 0，删除 0，未变 0。"
    out = io.StringIO()
    call_command("calendar", "show", "2027", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "2027年：已导入"
    assert lines[2].split() == ["2027-01-01", "星期五", "法定节假日", "元旦"]
    assert lines[3].split() == ["2027-02-06", "星期六", "调休上班", "春节"]
    out = io.StringIO()
    call_command("calendar", "status", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[2].split() == ["2027", "2026-11-23", "09:00", "测试"]
    assert lines[3] == "近期所需年份均已导入。"


def test_command_bad_file_prints_report_and_fails(seeded, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(BAD_FILE, encoding="utf-8")
    out = io.StringIO()
    with pytest.raises(CommandError, match="发现 6 处错误，未写入任何数据。"):
        call_command("calendar", "import", str(path), "--year", "2027", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["行号", "列", "值", "错误说明"]
    assert lines[1].split() == ["2", "date", "2027-02-30", "日期格式不正确，应为", "YYYY-MM-DD"]
    assert len(lines) == 7
    assert not CalendarYear.objects.filter(year=2027).exists()


def test_command_show_csv(seeded):
    out = io.StringIO()
    call_command("calendar", "show", "2026", "--csv", stdout=out)
    assert out.getvalue().splitlines()[-1] == "2026-10-10,workday,国庆节"


# ---------------------------------------------------------------------------------------------
# Admin and model rules


def test_admin_import_page(seeded, admin_client):
    url = "/admin/core/calendaryear/import/"
    assert admin_client.get(url).status_code == 200
    assert admin_client.get("/admin/core/calendaryear/add/")["Location"] == url
    bad = io.BytesIO(BAD_FILE.encode())
    bad.name = "bad.csv"
    resp = admin_client.post(url, {"file": bad, "year": "2027"})
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "发现 6 处错误，未写入任何数据。" in html
    assert "日期与第 4 行重复" in html
    assert not CalendarYear.objects.filter(year=2027).exists()
    good = io.BytesIO(FILE_2027.encode())
    good.name = "2027.csv"
    resp = admin_client.post(url, {"file": good, "source": "国办发明电"})
    assert "导入完成。2027年共 4 行：新增 4，修改 0，删除 0，未变 0。" in resp.content.decode()
    assert CalendarYear.objects.get(year=2027).source == "国办发明电"
    assert calendar.is_working_day(dt.date(2027, 1, 1)) is False


def test_admin_lists_render(seeded, admin_client):
    resp = admin_client.get("/admin/core/calendarday/?year=2026&kind__exact=workday")
    assert resp.status_code == 200
    assert resp.context["cl"].result_count == 6
    assert admin_client.get("/admin/core/calendaryear/").status_code == 200


def test_import_page_needs_permission(seeded, client, django_user_model):
    user = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/core/calendaryear/import/").status_code == 403


def test_workday_must_be_a_weekend(db):
    with pytest.raises(ValidationError):
        CalendarDay(date=dt.date(2027, 1, 4), kind="workday").full_clean()
    CalendarDay(date=dt.date(2027, 1, 2), kind="workday").full_clean()


def test_kind_is_constrained_in_the_database(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        CalendarDay.objects.create(date=dt.date(2027, 1, 1), kind="vacation")


# ---------------------------------------------------------------------------------------------
# Properties, on a pure calendar built from the package (2004–2026) plus a year beyond it


def _package_calendar() -> calendar.WorkCalendar:
    _source, years, rows = seed_migration.package_rows()
    return calendar.WorkCalendar(days={d: k for d, k, _ in rows}, years=frozenset(years), names={})


PURE = _package_calendar()


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2027, 12, 31)).map(
        lambda t: t.replace(tzinfo=SH)
    ),
    n=st.integers(min_value=0, max_value=40),
)
def test_add_working_days_properties(start, n):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        due = PURE.add_working_days(start, n)
    assert due.tzinfo == SH
    assert PURE.is_working_day(due.date())
    assert due >= start
    if PURE.is_working_day(start.date()):
        assert due.time() == start.time()
        begin = start.date()
    else:
        assert due.time() == dt.time(0, 0)
        begin = PURE.add_working_days(start, 0).date()
        n_from_prev = PURE.working_days_between(start.date(), begin)
        assert n_from_prev == 1
    assert PURE.working_days_between(begin, due.date()) == n


@settings(max_examples=200, deadline=None)
@given(
    a=st.dates(min_value=dt.date(2003, 6, 1), max_value=dt.date(2028, 6, 1)),
    span=st.integers(min_value=0, max_value=120),
)
def test_working_days_between_matches_counting_day_by_day(a, span):
    b = a + dt.timedelta(days=span)
    by_hand = sum(PURE.is_working_day(a + dt.timedelta(days=i)) for i in range(1, span + 1))
    assert PURE.working_days_between(a, b) == by_hand
    assert PURE.working_days_between(b, a) == -by_hand
    if a.year <= 2026 and b.year <= 2026 and a.year >= 2004:
        assert by_hand == sum(
            chinese_calendar.is_workday(a + dt.timedelta(days=i)) for i in range(1, span + 1)
        )


def test_unreadable_database_falls_back_to_weekends_and_keeps_the_transaction(seeded, monkeypatch):
    from django.db import DatabaseError

    def broken():
        CalendarDay.objects.raw("SELECT * FROM no_such_table").__iter__().__next__()

    monkeypatch.setattr(calendar, "_version", broken)
    with transaction.atomic():
        assert calendar.is_working_day(dt.date(2026, 10, 1)) is True  # Thursday, by the rule
        assert CalendarYear.objects.count() == 23  # the transaction still works
    with pytest.raises(DatabaseError):
        broken()
