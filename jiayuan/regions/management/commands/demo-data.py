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

    def handle(self, *args: Any, **options: Any) -> None:
        def say(line: str) -> None:
            self.stdout.write(line)

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
