"""``jiayuan stats update`` (one pass of the rollup updater) and ``jiayuan stats rebuild``
(empty the rollups and recompute them from the whole event log). Both print JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jiayuan.stats.services import BATCH_SIZE, stats_rebuild, stats_update


class Command(BaseCommand):
    help = "统计汇总：update 处理新的流转记录；rebuild 从全部流转记录重算。"

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for name, text in (("update", "处理水位之后的流转记录"), ("rebuild", "清空后全部重算")):
            p = sub.add_parser(name, help=text)
            p.add_argument(
                "--batch-size", type=int, default=BATCH_SIZE, help="每批流转记录数（每批一个事务）"
            )

    def handle(self, *args: Any, **options: Any) -> None:
        run = stats_update if options["action"] == "update" else stats_rebuild
        result = run(batch_size=options["batch_size"])
        self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))
