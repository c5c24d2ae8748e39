"""Nodes of the ``DAY_ROWS_ONLY`` levels (community, grid, micro-grid) keep their day rows only:
their month rows and totals are deleted (the selectors read their day rows instead). Reversing
this leaves those rows missing: run ``jiayuan stats rebuild`` after going back."""

from django.db import migrations

LEVELS = ("community", "grid", "micro_grid")


def forwards(apps, schema_editor):
    fine = apps.get_model("regions", "Region").objects.filter(level__in=LEVELS).values("pk")
    for name in ("RegionMonth", "RegionDayTotal", "RegionMonthTotal"):
        apps.get_model("stats", name).objects.filter(region_id__in=fine).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("stats", "0004_department_period_indexes"),
        ("regions", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
