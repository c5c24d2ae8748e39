"""``jiayuan tickets verify [--number N]`` and ``jiayuan tickets import-hotline FILE [--dry-run]``.

``verify`` recomputes every ticket's hash chain (流转记录哈希链), in batches, and prints
``OK: N tickets verified`` or the first broken link of each broken ticket; it exits with
status 1 when anything is broken. ``import-hotline`` imports a 12345 hotline export as the
system user (docs/hotline-import.md): it prints the counts or the per-row report and exits with
status 1 when the file has errors (then nothing was written).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jiayuan.core.management.commands.calendar import format_table
from jiayuan.regions.importer import REPORT_HEADERS, report_rows
from jiayuan.tickets.events import verify_chain
from jiayuan.tickets.hotline import hotline_import
from jiayuan.tickets.models import Ticket

BATCH = 500


class Command(BaseCommand):
    help = (
        "诉求工单：校验流转记录哈希链（verify），导入 12345 热线工单（import-hotline），"
        "处理受理队列（drain）。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="校验工单流转记录的哈希链，发现篡改则以状态 1 退出")
        verify.add_argument("--number", help="只校验这一张工单（工单编号）")
        imp = sub.add_parser(
            "import-hotline", help="导入 12345 热线导出的 .xlsx/.csv（有错误则不写入）"
        )
        imp.add_argument("file", help="热线系统导出的 .xlsx 或 .csv（UTF-8 或 GBK）")
        imp.add_argument("--dry-run", action="store_true", help="只校验，不写入")
        drain = sub.add_parser("drain", help="把受理队列中的提交生成工单（worker 每秒自动做）")
        drain.add_argument("--limit", type=int, default=None, help="最多处理多少条")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "verify":
            self.handle_verify(number=options["number"])
        elif options["action"] == "drain":
            from jiayuan.tickets.queue import submissions_drain

            result = submissions_drain(limit=options["limit"])
            self.stdout.write(
                f"受理队列：生成工单 {result['done']} 件，未能受理 {result['failed']} 件"
            )
        else:
            self.handle_import(file=options["file"], dry_run=options["dry_run"])

    def handle_verify(self, *, number: str | None) -> None:
        qs = Ticket.objects.order_by("pk")
        if number:
            qs = qs.filter(number=number)
            if not qs.exists():
                raise CommandError(f"工单 {number} 不存在")
        checked = broken = 0
        last_pk = 0
        while True:
            batch = list(qs.filter(pk__gt=last_pk)[:BATCH])
            if not batch:
                break
            for ticket in batch:
                link = verify_chain(ticket)
                checked += 1
                if link is not None:
                    broken += 1
                    self.stdout.write(f"BROKEN: {link.number} seq {link.seq}: {link.reason}")
            last_pk = batch[-1].pk
        if broken:
            raise CommandError(
                f"{broken} of {checked} tickets have a broken hash chain", returncode=1
            )
        self.stdout.write(self.style.SUCCESS(f"OK: {checked} tickets verified"))

    def handle_import(self, *, file: str, dry_run: bool) -> None:
        path = Path(file)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"无法读取文件 {path}：{exc.strerror}") from exc
        result = hotline_import(filename=path.name, content=content, user=None, dry_run=dry_run)
        self.stdout.write(f"{path.name} · {result.kind_label}")
        if result.ignored_columns:
            self.stdout.write("已忽略无法识别的列：" + "、".join(result.ignored_columns))
        if result.errors:
            self.stdout.write(format_table(REPORT_HEADERS, report_rows(result)))
            raise CommandError(result.summary(), returncode=1)
        self.stdout.write(self.style.SUCCESS(result.summary()))
