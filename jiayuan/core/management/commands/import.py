"""``jiayuan import FILE --kind regions|grids|buildings|households|residents [--dry-run]``.

Imports base data (基础数据导入) as the system user (sees everything): validates every row, prints
the counts or the per-row error report, and exits with status 1 when anything is wrong (then
nothing was written). See docs/import.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jiayuan.core.errors import JiayuanError
from jiayuan.core.excel import write_xlsx
from jiayuan.regions.importer import (
    KIND_LABELS,
    KINDS,
    REPORT_HEADERS,
    ImportResult,
    base_data_import,
    report_rows,
)


def format_report(result: ImportResult) -> str:
    """The per-row report as a plain-text table (row, column, value, message)."""
    rows = [[str(c) for c in r] for r in report_rows(result)]
    table = [REPORT_HEADERS, *rows]
    widths = [max(_width(r[i]) for r in table) for i in range(len(REPORT_HEADERS) - 1)]
    lines = []
    for r in table:
        cells = [r[i] + " " * (widths[i] - _width(r[i])) for i in range(len(widths))]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(lines)


def _width(text: str) -> int:
    """Display width in a terminal: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


class Command(BaseCommand):
    help = (
        "导入基础数据（区划、网格、楼栋、户、居民）：.xlsx、.csv 或 GeoJSON；"
        "有错误则不写入任何数据。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="要导入的文件（.xlsx、.csv、.geojson/.json）")
        parser.add_argument(
            "--kind",
            required=True,
            choices=KINDS,
            help="导入类型：" + "，".join(f"{k}={v}" for k, v in KIND_LABELS.items()),
        )
        parser.add_argument("--dry-run", action="store_true", help="只校验，不写入")
        parser.add_argument("--report", help="把错误报告另存为 .xlsx 文件")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"无法读取文件 {path}：{exc.strerror}") from exc
        try:
            result = base_data_import(
                kind=options["kind"],
                filename=path.name,
                content=content,
                user=None,
                dry_run=options["dry_run"],
            )
        except JiayuanError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{path.name} · {result.kind_label}")
        if result.ignored_columns:
            self.stdout.write("已忽略无法识别的列：" + "、".join(result.ignored_columns))
        if result.errors:
            self.stdout.write(format_report(result))
            if options["report"]:
                out = write_xlsx(headers=REPORT_HEADERS, rows=report_rows(result), sheet="错误报告")
                Path(options["report"]).write_bytes(out.read())
                self.stdout.write(f"错误报告已保存到 {options['report']}")
            raise CommandError(result.summary(), returncode=1)
        self.stdout.write(self.style.SUCCESS(result.summary()))
