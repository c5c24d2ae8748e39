"""Outbound channels (外发渠道): pluggable by the ``JIAYUAN_NOTIFY_BACKEND`` setting.

A backend has a ``channel`` name (stored on each ``OutboundMessage``) and a ``send`` that either
returns or raises ``DeliveryError``; retries and exactly-once are the caller's business
(``services.send_outbound``), so a backend stays a few lines.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger("jiayuan.notifications.outbound")

DEFAULT_BACKEND = "jiayuan.notifications.backends.LoggingBackend"


class DeliveryError(Exception):
    """The channel did not take the message; it will be retried."""


class BaseBackend:
    channel = "base"

    def send(self, *, recipient: str, title: str, body: str, url: str) -> None:
        raise NotImplementedError


class LoggingBackend(BaseBackend):
    """The default: writes each message to the log (demo and tests; no network needed)."""

    channel = "log"

    def send(self, *, recipient: str, title: str, body: str, url: str) -> None:
        logger.info("notify %s: %s | %s | %s", recipient, title, body, url)


class WeComWebhookBackend(BaseBackend):
    """企业微信群机器人: POSTs a text message as JSON to ``JIAYUAN_WECOM_WEBHOOK``.

    WeCom answers HTTP 200 with ``{"errcode": 0}`` on success; anything else is a failure.
    """

    channel = "wecom"
    timeout = 5.0

    def __init__(self, webhook: str | None = None) -> None:
        self.webhook = webhook or setting("WECOM_WEBHOOK")

    def send(self, *, recipient: str, title: str, body: str, url: str) -> None:
        if not self.webhook:
            raise DeliveryError("JIAYUAN_WECOM_WEBHOOK 未配置")
        text = f"【{title}】{recipient}\n{body}"
        if url:
            text += f"\n{setting('PUBLIC_BASE_URL') or ''}{url}"
        payload = json.dumps({"msgtype": "text", "text": {"content": text}}, ensure_ascii=False)
        request = urllib.request.Request(
            self.webhook,
            data=payload.encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read().decode("utf-8") or "{}")
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise DeliveryError(f"企业微信请求失败：{exc}") from exc
        if answer.get("errcode", 0) != 0:
            raise DeliveryError(f"企业微信返回错误：{answer.get('errcode')} {answer.get('errmsg')}")


def setting(name: str) -> Any:
    """``settings.<name>``, else the ``JIAYUAN_<name>`` environment variable."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(f"JIAYUAN_{name}")
    return value


def get_backend() -> BaseBackend:
    """The configured backend (``NOTIFY_BACKEND`` / ``JIAYUAN_NOTIFY_BACKEND``, a dotted path)."""
    path = setting("NOTIFY_BACKEND") or DEFAULT_BACKEND
    backend: BaseBackend = import_string(path)()
    return backend
