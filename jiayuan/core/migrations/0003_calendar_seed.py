"""Seed the working-day calendar (工作日历) from chinese-calendar, every year it knows.

Only the exceptions to the Mon–Fri rule are stored: weekday holidays and worked weekends
(调休上班). Self-contained on purpose (no jiayuan imports), so it keeps working as the app
changes. If the package is missing the migration warns and seeds nothing; load the years with
``jiayuan calendar import`` instead (docs/calendar.md).
"""

import datetime as dt
import warnings

from django.db import migrations
from django.utils import timezone

NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}
FIRST_YEAR = 2004  # chinese-calendar's data starts here


def package_rows():
    """``(source, years, [(date, kind, name)])`` from chinese-calendar, or None if missing."""
    try:
        import chinese_calendar
    except ImportError:
        return None
    version = getattr(chinese_calendar, "__version__", "")
    source = f"chinese-calendar {version}".strip()
    years = []
    rows = []
    year = FIRST_YEAR
    while True:
        try:
            chinese_calendar.get_holiday_detail(dt.date(year, 1, 1))
        except NotImplementedError:
            break
        day = dt.date(year, 1, 1)
        while day.year == year:
            on_holiday, name = chinese_calendar.get_holiday_detail(day)
            if on_holiday == (day.weekday() < 5):  # differs from Mon–Fri
                kind = "holiday" if on_holiday else "workday"
                rows.append((day, kind, NAMES.get(name, name or "")))
            day += dt.timedelta(days=1)
        years.append(year)
        year += 1
    return source, years, rows


def seed(apps, schema_editor):
    CalendarDay = apps.get_model("core", "CalendarDay")
    CalendarYear = apps.get_model("core", "CalendarYear")
    found = package_rows()
    if found is None:
        warnings.warn(
            "chinese-calendar is not installed: the working-day calendar is empty; "
            "load each year with `jiayuan calendar import` (docs/calendar.md).",
            stacklevel=1,
        )
        return
    source, years, rows = found
    loaded = set(CalendarYear.objects.filter(year__in=years).values_list("year", flat=True))
    now = timezone.now()
    CalendarDay.objects.bulk_create(
        [
            CalendarDay(date=d, kind=k, name=n, source=source)
            for d, k, n in rows
            if d.year not in loaded
        ],
        batch_size=500,
    )
    CalendarYear.objects.bulk_create(
        [
            CalendarYear(year=y, source=source, loaded_at=now, note="从 chinese-calendar 初始化")
            for y in years
            if y not in loaded
        ]
    )


def unseed(apps, schema_editor):
    apps.get_model("core", "CalendarDay").objects.filter(
        source__startswith="chinese-calendar"
    ).delete()
    apps.get_model("core", "CalendarYear").objects.filter(
        source__startswith="chinese-calendar"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("core", "0002_calendar")]

    operations = [migrations.RunPython(seed, unseed)]
