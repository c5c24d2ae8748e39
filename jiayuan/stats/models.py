"""Rollups (统计汇总): additive counters per region node × day, per department × day and per
estate × node × day, from which every measure of ``docs/measures.md`` is computed for any period
and any node without reading the ticket table.

A ticket contributes to the rows of the day it was *received* (created, Asia/Shanghai), with its
facts as they stand (resolved, rated, …): the same cohort reading as ``tickets/measures.py``.
``TicketFact`` keeps each ticket's current contribution so that a change (a reopening, a move to
another grid) is applied as a delta: the old contribution out, the new one in. See
``docs/stats.md``.

Keys are plain integers without foreign-key constraints: the rollups are derived data and must
never stop the demo city (or anything else) from being deleted; ``jiayuan stats rebuild``
recomputes them.
"""

from __future__ import annotations

from django.db import models

from jiayuan.regions.choices import Level

# The counters of a rollup row, in this order everywhere (SQL column lists, delta tuples).
COUNTERS = (
    "received",  # 受理量
    "resolved",  # 办结量
    "on_time",  # 按期办结量
    "rated",  # 评价量
    "satisfied",  # 满意量 (满意 + 基本满意)
    "default_satisfied",  # 默认满意
    "solved",  # 化解量
    "in_grid",  # 网格内办结
    "in_community",  # 社区内办结 (网格 + 社区)
    "overdue",  # 超期 (the SLA sweeper took an overdue action)
    "supervised",  # 督办
    "first_response_count",
    "first_response_seconds",
    "resolution_count",
    "resolution_seconds",
)

# Levels whose nodes keep their day rows (``RegionDay``) only. A grid or a community receives a
# few tickets a day, so its day rows are about one per ticket: month rows and totals would be
# about as many rows again and summarise nothing (measured in docs/stats.md: 70 % of all rollup
# rows). Their ``RegionMonth``, ``RegionDayTotal`` and ``RegionMonthTotal`` rows are not kept, and
# the selectors read such a node's day rows for the whole period.
DAY_ROWS_ONLY = frozenset({Level.COMMUNITY.value, Level.GRID.value, Level.MICRO_GRID.value})


class Watermark(models.Model):
    """The one row (pk 1) saying how far the updater has read the event log: the highest
    processed ``TicketEvent`` id, and the ids below it that were missing when it passed them
    (``holes``: ``[[low, high, first_seen_epoch], …]``, rechecked until they expire), because a
    transaction that took a lower id may commit after a higher one."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_event_id = models.BigIntegerField("已处理到的流转记录ID", default=0)
    holes = models.JSONField("待复查的ID区间", default=list, blank=True)
    updated_at = models.DateTimeField("更新时间", null=True, blank=True)

    class Meta:
        verbose_name = "汇总水位"
        verbose_name_plural = verbose_name

    def __str__(self) -> str:
        return f"event {self.last_event_id}"


class TicketFact(models.Model):
    """One ticket's current contribution to the rollups (derived; see ``stats/facts.py``).

    ``flags`` is a bit set (``facts.F_*``); ``sticky`` bits come from events and never clear
    (ever supervised, ever overdue, archived with the default rating)."""

    ticket_id = models.BigIntegerField(primary_key=True)
    region_id = models.IntegerField(null=True)  # the grid, or the owner region when unlocated
    day = models.DateField()
    category_pk = models.IntegerField(default=0)  # 0: uncategorised
    channel = models.CharField(max_length=10)
    estate_id = models.IntegerField(null=True)
    flags = models.IntegerField(default=0)
    first_response_seconds = models.BigIntegerField(null=True)
    resolution_seconds = models.BigIntegerField(null=True)

    class Meta:
        verbose_name = "工单统计事实"
        verbose_name_plural = verbose_name

    def __str__(self) -> str:
        return f"ticket {self.ticket_id}"


class TicketFactDepartment(models.Model):
    """A department's part in a ticket's facts: a live assignment (主办/协办, not returned),
    counted on the day it was dispatched (``docs/measures.md``)."""

    ticket_id = models.BigIntegerField()
    department_id = models.IntegerField()
    day = models.DateField()

    class Meta:
        verbose_name = "工单部门统计事实"
        verbose_name_plural = verbose_name
        constraints = [
            models.UniqueConstraint(
                fields=["ticket_id", "department_id"], name="stats_factdept_unique"
            )
        ]

    def __str__(self) -> str:
        return f"ticket {self.ticket_id} department {self.department_id}"


def _by_day(name: str) -> models.Index:
    """A department rollup's index by day first: a node's 红黑榜 reads every department of the
    node over a period."""
    return models.Index(fields=["day", "department_id"], name=name)


class _Counters(models.Model):
    received = models.IntegerField(default=0)
    resolved = models.IntegerField(default=0)
    on_time = models.IntegerField(default=0)
    rated = models.IntegerField(default=0)
    satisfied = models.IntegerField(default=0)
    default_satisfied = models.IntegerField(default=0)
    solved = models.IntegerField(default=0)
    in_grid = models.IntegerField(default=0)
    in_community = models.IntegerField(default=0)
    overdue = models.IntegerField(default=0)
    supervised = models.IntegerField(default=0)
    first_response_count = models.IntegerField(default=0)
    first_response_seconds = models.BigIntegerField(default=0)
    resolution_count = models.IntegerField(default=0)
    resolution_seconds = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class RegionDay(_Counters):
    """Counters of the tickets received on ``day`` anywhere under the node ``region_id`` (the
    node itself included), per category (the ticket's own, usually second-level) and channel.
    Every ancestor of a ticket's grid has its row, so a node's dashboard reads its own rows."""

    region_id = models.IntegerField()
    day = models.DateField()
    category_pk = models.IntegerField()
    channel = models.CharField(max_length=10)

    class Meta:
        verbose_name = "区划日汇总"
        verbose_name_plural = verbose_name
        constraints = [
            models.UniqueConstraint(
                fields=["region_id", "day", "category_pk", "channel"], name="stats_regionday_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.day}"


class DepartmentDay(_Counters):
    """Counters of the tickets dispatched to a department on ``day`` (not returned by it)."""

    department_id = models.IntegerField()
    day = models.DateField()
    category_pk = models.IntegerField()
    channel = models.CharField(max_length=10)

    class Meta:
        verbose_name = "部门日汇总"
        verbose_name_plural = verbose_name
        indexes = [_by_day("stats_deptday_day")]
        constraints = [
            models.UniqueConstraint(
                fields=["department_id", "day", "category_pk", "channel"],
                name="stats_departmentday_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.department_id} {self.day}"


class EstateDay(models.Model):
    """Tickets received on ``day`` under the node ``region_id`` from buildings of one estate
    (小区), for 高投诉小区."""

    region_id = models.IntegerField()
    day = models.DateField()
    estate_id = models.IntegerField()
    received = models.IntegerField(default=0)

    class Meta:
        verbose_name = "小区日汇总"
        verbose_name_plural = verbose_name
        constraints = [
            models.UniqueConstraint(
                fields=["region_id", "day", "estate_id"], name="stats_estateday_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.day} {self.estate_id}"


# Month rollups (月汇总): the same rows summed per calendar month, ``day`` being the first day of
# the month. A period reads whole months here and its ragged ends from the day rows, so a year
# costs about 12 rows per key instead of 365 (``selectors._grouped``). The updater writes both
# levels from the same deltas, in the same transaction, so a month row is always the sum of its
# day rows (tested).


class RegionMonth(_Counters):
    """``RegionDay`` summed per month (``day`` = the 1st)."""

    region_id = models.IntegerField()
    day = models.DateField()
    category_pk = models.IntegerField()
    channel = models.CharField(max_length=10)

    class Meta:
        verbose_name = "区划月汇总"
        verbose_name_plural = verbose_name
        constraints = [
            models.UniqueConstraint(
                fields=["region_id", "day", "category_pk", "channel"], name="stats_regionmonth_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.day:%Y-%m}"


class DepartmentMonth(_Counters):
    """``DepartmentDay`` summed per month (``day`` = the 1st)."""

    department_id = models.IntegerField()
    day = models.DateField()
    category_pk = models.IntegerField()
    channel = models.CharField(max_length=10)

    class Meta:
        verbose_name = "部门月汇总"
        verbose_name_plural = verbose_name
        indexes = [_by_day("stats_deptmonth_day")]
        constraints = [
            models.UniqueConstraint(
                fields=["department_id", "day", "category_pk", "channel"],
                name="stats_departmentmonth_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.department_id} {self.day:%Y-%m}"


class EstateMonth(models.Model):
    """``EstateDay`` summed per month (``day`` = the 1st)."""

    region_id = models.IntegerField()
    day = models.DateField()
    estate_id = models.IntegerField()
    received = models.IntegerField(default=0)

    class Meta:
        verbose_name = "小区月汇总"
        verbose_name_plural = verbose_name
        constraints = [
            models.UniqueConstraint(
                fields=["region_id", "day", "estate_id"], name="stats_estatemonth_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.day:%Y-%m} {self.estate_id}"


# Totals (合计): the same counters over every category and channel, per node or department and
# per day or month. A dashboard without a category or channel filter (the usual one) reads these:
# one row per key and day (or month) instead of one per category × channel.


class RegionDayTotal(_Counters):
    """``RegionDay`` summed over categories and channels."""

    region_id = models.IntegerField()
    day = models.DateField()

    class Meta:
        verbose_name = "区划日合计"
        verbose_name_plural = verbose_name
        constraints = [
            models.UniqueConstraint(fields=["region_id", "day"], name="stats_regiondaytotal_key")
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.day}"


class RegionMonthTotal(_Counters):
    """``RegionMonth`` summed over categories and channels (``day`` = the 1st)."""

    region_id = models.IntegerField()
    day = models.DateField()

    class Meta:
        verbose_name = "区划月合计"
        verbose_name_plural = verbose_name
        constraints = [
            models.UniqueConstraint(fields=["region_id", "day"], name="stats_regionmonthtotal_key")
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.day:%Y-%m}"


class DepartmentDayTotal(_Counters):
    """``DepartmentDay`` summed over categories and channels."""

    department_id = models.IntegerField()
    day = models.DateField()

    class Meta:
        verbose_name = "部门日合计"
        verbose_name_plural = verbose_name
        indexes = [_by_day("stats_deptdaytotal_day")]
        constraints = [
            models.UniqueConstraint(
                fields=["department_id", "day"], name="stats_departmentdaytotal_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.department_id} {self.day}"


class DepartmentMonthTotal(_Counters):
    """``DepartmentMonth`` summed over categories and channels (``day`` = the 1st)."""

    department_id = models.IntegerField()
    day = models.DateField()

    class Meta:
        verbose_name = "部门月合计"
        verbose_name_plural = verbose_name
        indexes = [_by_day("stats_deptmonthtotal_day")]
        constraints = [
            models.UniqueConstraint(
                fields=["department_id", "day"], name="stats_departmentmonthtotal_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.department_id} {self.day:%Y-%m}"
