"""``jiayuan demo-data``: build the Yantai demo city (演示城市) and print the demo accounts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jiayuan.core.errors import JiayuanError
from jiayuan.regions.demo import SCALES, build_demo_city, iter_account_table


class Command(BaseCommand):
    help = "生成烟台演示城市（真实区划 + 生成的网格、房屋、居民、党组织、部门和演示账号）"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            choices=SCALES,
            default="small",
            help="small：一个街道有住户；district：芝罘区；city：全市城市社区",
        )
        parser.add_argument("--seed", type=int, default=2026, help="随机种子（同一种子结果相同）")
        parser.add_argument("--reset", action="store_true", help="先删除已有的演示数据再生成")
        parser.add_argument(
            "--populate-communities",
            type=int,
            default=None,
            help="只为前 N 个社区生成住户（用于测试）",
        )
        parser.add_argument(
            "--tickets",
            type=int,
            default=0,
            help="再生成 N 张历史工单（含流转记录、部门派单和统计汇总），见 docs/demo-data.md",
        )
        parser.add_argument(
            "--years", type=float, default=1.0, help="历史工单分布在最近几年（默认 1）"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        def say(line: str) -> None:
            self.stdout.write(line)

        if options["reset"]:
            from jiayuan.stats.services import stats_clear

            stats_clear()  # the rollups count the tickets about to be deleted
        try:
            result = build_demo_city(
                scale=options["scale"],
                seed=options["seed"],
                reset=options["reset"],
                populate_communities=options["populate_communities"],
                stdout=say,
            )
        except JiayuanError as exc:
            raise CommandError(exc.message) from exc
        if result.skipped:
            say("数据库中已有演示城市，跳过生成（如需重建请加 --reset）；演示账号已重置。")
        else:
            say(
                f"演示城市已生成：规模 {result.scale}，种子 {result.seed}，"
                f"有住户的社区 {result.populated_communities} 个。"
            )
        say("")
        say("数量：" + "，".join(f"{k} {v:,}" for k, v in result.counts.items()))
        say(f"用时 {result.seconds:.1f} 秒")
        say("")
        say("演示账号（密码相同）：")
        for line in iter_account_table(result.accounts):
            say("  " + line)
        if options["tickets"]:
            from jiayuan.stats.history import generate_history

            try:
                history = generate_history(
                    tickets=options["tickets"],
                    years=options["years"],
                    seed=options["seed"],
                    say=say,
                )
            except JiayuanError as exc:
                raise CommandError(exc.message) from exc
            say("")
            say(
                f"历史工单已生成：{history.tickets:,} 张，流转记录 {history.events:,} 条，"
                f"{history.first_day} 至 {history.last_day}，用时 {history.seconds} 秒"
                f"（汇总 {history.rollup_seconds} 秒）"
            )
