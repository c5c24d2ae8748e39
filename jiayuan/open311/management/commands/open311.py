"""``jiayuan open311 …``: manage Open311 API keys from the shell.

    jiayuan open311 create-key NAME [--label 来源说明]   # prints the new key as the last line
    jiayuan open311 demo-key                            # creates or rotates the key "demo"
    jiayuan open311 list-keys

A key is stored only as its SHA-256 hash, so an existing key can never be printed again:
``demo-key`` (used by ``make demo``) gives the "demo" key a fresh secret each time it runs.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jiayuan.core.errors import JiayuanError
from jiayuan.open311.models import ApiKey
from jiayuan.open311.services import DEMO_KEY_NAME, apikey_create, apikey_rotate


class Command(BaseCommand):
    help = "管理 Open311 接口密钥 (create-key NAME / demo-key / list-keys)"

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create-key", help="新建密钥，最后一行输出密钥原文")
        create.add_argument("name")
        create.add_argument("--label", default="", help="写入流转记录的提交方说明")
        create.add_argument(
            "--queued", action="store_true", help="异步受理：提交立即返回 token，工单由后台生成"
        )
        sub.add_parser("demo-key", help="新建或重置名为 demo 的密钥，最后一行输出密钥原文")
        sub.add_parser("list-keys", help="列出密钥（只显示前缀）")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "create-key":
                key, raw = apikey_create(
                    name=options["name"], channel_label=options["label"], queued=options["queued"]
                )
            elif action == "demo-key":
                key, raw = apikey_rotate(name=DEMO_KEY_NAME, channel_label="演示客户端")
            else:
                for row in ApiKey.objects.order_by("name"):
                    state = "启用" if row.is_active else "停用"
                    if row.queued:
                        state += "·异步受理"
                    used = row.last_used_at.isoformat() if row.last_used_at else "-"
                    self.stdout.write(f"{row.name}\t{row.prefix}…\t{state}\t{used}")
                return
        except JiayuanError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Open311 密钥“{key.name}”已生成，只显示这一次（api_key=…）：")
        self.stdout.write(raw)
