"""``jiayuan sla sweep [--now ISO]``: one SLA sweep (warnings, overdue actions, archiving)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from jiayuan.tickets.sweep import sla_sweep


def parse_now(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--now 不是 ISO 时间：{value}") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)  # local time (Asia/Shanghai)
    return moment


class Command(BaseCommand):
    help = "时限巡检：预警、超期自动处置（呼叫上级/督办）、逾期未评价归档"

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sweep = sub.add_parser("sweep", help="运行一次时限巡检")
        sweep.add_argument("--now", help="按此时间巡检（ISO，如 2026-11-25T10:00，默认当前时间）")

    def handle(self, *args: Any, **options: Any) -> None:
        now = parse_now(options.get("now"))
        result = sla_sweep(now=now)
        if result.calendar_warning:
            self.stderr.write(result.calendar_warning)
        self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))
