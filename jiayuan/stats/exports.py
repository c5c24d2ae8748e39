"""Excel exports of the dashboard tables and lists (导出), through ``core.excel``: openpyxl's
write-only mode with rows from generators (constant memory), every text cell made safe against
formula injection (``safe_cell``).

Each table is ``(headers, rows)``; the rows are the same figures the page shows, rates as
fractions rounded to 4 places, durations in hours rounded to 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from jiayuan.core.excel import chunked
from jiayuan.regions.models import Region
from jiayuan.staff.models import Department
from jiayuan.stats import selectors
from jiayuan.stats.dashboard import Filters, current_tickets, departments_of
from jiayuan.tickets.measures import Measures

Table = tuple[Sequence[str], Iterable[Sequence[Any]]]

REGION_TABLES = {
    "measures": "考核指标",
    "children": "下级排名",
    "departments": "部门红黑榜",
    "categories": "诉求分类",
    "estates": "高投诉小区",
    "series": "趋势",
    "overdue": "超期工单",
    "supervised": "督办工单",
}
DEPARTMENT_TABLES = {
    k: v for k, v in REGION_TABLES.items() if k not in ("children", "departments", "estates")
}
LONG_LIST = 10_000  # "every" category or estate of a node, for the export

MEASURE_COLUMNS = [
    "受理量",
    "办结量",
    "办结率",
    "按期办结率",
    "满意率",
    "化解率",
    "平均首次响应(小时)",
    "平均办结(小时)",
    "小事不出网格",
    "大事不出社区",
]


def _r(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


def measure_cells(m: Measures) -> list[Any]:
    return [
        m.received,
        m.resolved,
        _r(m.resolution_rate),
        _r(m.on_time_rate),
        _r(m.satisfaction_rate),
        _r(m.solved_rate),
        _r(m.mean_first_response_hours, 2),
        _r(m.mean_resolution_hours, 2),
        _r(m.grid_share),
        _r(m.community_share),
    ]


def _measures_table(m: Measures, extra: selectors.Extra) -> Table:
    rows = [
        ("受理量", m.received),
        ("办结量", m.resolved),
        ("办结率", _r(m.resolution_rate)),
        ("按期办结量", m.on_time_resolved),
        ("按期办结率", _r(m.on_time_rate)),
        ("评价量", m.rated),
        ("满意量（满意+基本满意）", m.satisfied),
        ("满意率", _r(m.satisfaction_rate)),
        ("逾期未评价默认满意", m.default_satisfied),
        ("化解量", m.solved),
        ("化解率", _r(m.solved_rate)),
        ("平均首次响应时长(小时)", _r(m.mean_first_response_hours, 2)),
        ("平均办结时长(小时)", _r(m.mean_resolution_hours, 2)),
        ("网格内办结", m.resolved_in_grid),
        ("小事不出网格", _r(m.grid_share)),
        ("社区内办结", m.resolved_in_community),
        ("大事不出社区", _r(m.community_share)),
        ("超期", extra.overdue),
        ("督办", extra.supervised),
    ]
    return ["指标", "数值"], rows


def _series_table(points: list[selectors.Point]) -> Table:
    return ["起始日期", *MEASURE_COLUMNS], ([p.start, *measure_cells(p.measures)] for p in points)


def ticket_rows(tickets: Any) -> Iterator[list[Any]]:
    """One row per ticket (no personal data), read in chunks."""
    for t in chunked(tickets):
        yield [
            t.number,
            t.title,
            t.get_state_display(),
            t.get_level_display(),
            t.grid.name if t.grid_id else "",
            t.owner_region.name if t.owner_region_id else "",
            str(t.category) if t.category_id else "",
            t.get_channel_display(),
            t.created_at,
            t.accept_due,
            t.resolve_due,
            t.supervised,
        ]


TICKET_HEADERS = [
    "工单编号",
    "标题",
    "状态",
    "当前层级",
    "网格",
    "责任区域",
    "分类",
    "来源渠道",
    "提交时间",
    "签收期限",
    "办结期限",
    "督办中",
]


def region_table(user: Any, *, region: Region, table: str, filters: Filters) -> Table:
    args = filters.rollup_args()
    if table == "measures":
        summary = selectors.node_summary(region=region, with_top=False, **args)
        return _measures_table(summary.measures, summary.extra)
    if table == "children":
        rows = selectors.child_table(region=region, **args)
        return ["名次", "区域", "编码", *MEASURE_COLUMNS, "超期", "督办"], (
            [
                i,
                r.region.name,
                r.region.code,
                *measure_cells(r.measures),
                r.extra.overdue,
                r.extra.supervised,
            ]
            for i, r in enumerate(rows, 1)
        )
    if table == "departments":
        ranked = selectors.department_rankings(departments=departments_of(region), **args)
        return ["名次", "部门", *MEASURE_COLUMNS], (
            [i, r.department.name, *measure_cells(r.measures)] for i, r in enumerate(ranked, 1)
        )
    if table == "categories":
        top = selectors.top_categories(
            region=region,
            start=filters.start,
            end=filters.end,
            limit=LONG_LIST,
            channel=filters.channel or None,
        )
        return ["诉求分类", "受理量"], top
    if table == "estates":
        estates = selectors.hot_estates(
            region=region, start=filters.start, end=filters.end, limit=LONG_LIST
        )
        return ["小区", "受理量"], estates
    if table == "series":
        return _series_table(selectors.series(region=region, bucket=filters.bucket, **args))
    if table in ("overdue", "supervised"):
        return TICKET_HEADERS, ticket_rows(current_tickets(user, kind=table, region=region))
    raise KeyError(table)


def department_table(user: Any, *, department: Department, table: str, filters: Filters) -> Table:
    args = filters.rollup_args()
    if table == "measures":
        summary = selectors.department_summary(department=department, **args)
        return _measures_table(summary.measures, summary.extra)
    if table == "categories":
        summary = selectors.department_summary(department=department, **args)
        return ["诉求分类", "受理量"], summary.measures.top_categories
    if table == "series":
        return _series_table(selectors.series(department=department, bucket=filters.bucket, **args))
    if table in ("overdue", "supervised"):
        return TICKET_HEADERS, ticket_rows(current_tickets(user, kind=table, department=department))
    raise KeyError(table)
