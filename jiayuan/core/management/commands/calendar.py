"""``jiayuan calendar import FILE | status | show YEAR``: the working-day calendar (工作日历).

``import`` loads one year's holiday schedule (节假日安排) from .csv/.xlsx with columns
``date,kind,name`` (or 日期,类型,名称): every row is validated first; any error prints the
per-row report, writes nothing and exits with status 1. See docs/calendar.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from jiayuan.core import calendar


def _width(text: str) -> int:
    """Display width in a terminal: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    table = [headers, *[[str(c) for c in r] for r in rows]]
    widths = [max(_width(r[i]) for r in table) for i in range(len(headers) - 1)]
    lines = []
    for r in table:
        cells = [r[i] + " " * (widths[i] - _width(r[i])) for i in range(len(widths))]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "工作日历：导入某年的节假日安排（import），查看已导入的年份（status），"
        "列出某年的节假日与调休（show）。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="从 .csv/.xlsx 导入一年的节假日安排（有错误则不写入）")
        imp.add_argument("file", help="文件，列为 date,kind,name 或 日期,类型,名称")
        imp.add_argument("--year", type=int, help="年份；文件中其他年份的日期视为错误")
        imp.add_argument(
            "--source", default="", help="来源，如 国办发明电〔2026〕X号；默认为文件名"
        )
        imp.add_argument("--note", default="", help="备注")
        imp.add_argument("--dry-run", action="store_true", help="只校验，不写入")
        sub.add_parser("status", help="已导入的年份与提醒")
        show = sub.add_parser("show", help="列出某年的节假日与调休上班日")
        show.add_argument("year", type=int)
        show.add_argument(
            "--csv", action="store_true", help="以导入格式（CSV）输出，便于修改后再导入"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, "handle_" + options["action"])(**options)

    def handle_import(self, **options: Any) -> None:
        path = Path(options["file"])
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"无法读取文件 {path}：{exc.strerror}") from exc
        result = calendar.import_calendar(
            filename=path.name,
            content=content,
            year=options["year"],
            source=options["source"],
            note=options["note"],
            dry_run=options["dry_run"],
        )
        if result.errors:
            self.stdout.write(format_table(calendar.REPORT_HEADERS, result.report_rows()))
            raise CommandError(result.summary())
        self.stdout.write(result.summary())

    def handle_status(self, **options: Any) -> None:
        from jiayuan.core.models import CalendarYear

        calendar.reload()
        rows: list[list[Any]] = []
        for y in CalendarYear.objects.order_by("year"):
            loaded = timezone.localtime(y.loaded_at).strftime("%Y-%m-%d %H:%M")
            last = rows[-1] if rows else None
            # Consecutive years from the same source and load time share one line (2004–2026).
            if last and last[3] == y.year - 1 and last[1:3] == [loaded, y.source]:
                last[0], last[3] = f"{str(last[0])[:4]}–{y.year}", y.year
            else:
                rows.append([str(y.year), loaded, y.source, y.year])
        rows = [r[:3] for r in rows]
        if rows:
            self.stdout.write(format_table(["年份", "导入时间", "来源"], rows))
        else:
            self.stdout.write("尚未导入任何年份的节假日安排。")
        warning = calendar.calendar_warning()
        self.stdout.write(f"提醒：{warning}" if warning else "近期所需年份均已导入。")

    def handle_show(self, **options: Any) -> None:
        year = options["year"]
        rows = calendar.exceptions_of(year)
        if options["csv"]:
            self.stdout.write(calendar.schedule_csv((d, k, n) for d, k, n, _ in rows), ending="")
            return
        known = year in calendar.known_years()
        self.stdout.write(f"{year}年：" + ("已导入" if known else "尚未导入（按周末计算）"))
        table = [
            [
                d.isoformat(),
                "星期" + calendar.WEEKDAY_NAMES[d.weekday()],
                calendar.KIND_LABELS.get(kind, kind),
                name or "-",
            ]
            for d, kind, name, _ in rows
        ]
        if table:
            self.stdout.write(format_table(["日期", "星期", "类型", "名称"], table))
