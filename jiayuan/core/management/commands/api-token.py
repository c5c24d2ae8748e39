"""``jiayuan api-token create USERNAME NAME | list | revoke PREFIX``: API tokens (接口令牌)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jiayuan.core.errors import JiayuanError
from jiayuan.core.models import ApiToken
from jiayuan.core.tokens import token_create, token_revoke


class Command(BaseCommand):
    help = "接口令牌：create USERNAME NAME（最后一行输出令牌原文）/ list / revoke PREFIX"

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="为用户新建令牌，最后一行输出令牌原文（只显示一次）")
        create.add_argument("username")
        create.add_argument("name", help="用途，如“12345平台对接”")
        sub.add_parser("list", help="列出令牌（只显示前缀）")
        revoke = sub.add_parser("revoke", help="吊销前缀为 PREFIX 的令牌")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            try:
                token, raw = token_create(username=options["username"], name=options["name"])
            except JiayuanError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(
                f"用户 {token.user.get_username()} 的令牌“{token.name}”已生成，只显示这一次"
                "（请求头 Authorization: Bearer …）："
            )
            self.stdout.write(raw)
        elif action == "list":
            for t in ApiToken.objects.select_related("user").order_by("user__username", "name"):
                state = "已吊销" if t.revoked_at else "有效"
                used = t.last_used_at.isoformat() if t.last_used_at else "-"
                self.stdout.write(
                    f"{t.user.get_username()}\t{t.name}\t{t.prefix}…\t{state}\t{used}"
                )
        else:
            count = token_revoke(prefix=options["prefix"])
            if not count:
                raise CommandError(f"没有前缀为 {options['prefix']} 的有效令牌")
            self.stdout.write(f"已吊销 {count} 个令牌")
