"""Outbound backends: the logging default and the WeCom webhook (against a local server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from jiayuan.notifications.backends import (
    DeliveryError,
    LoggingBackend,
    WeComWebhookBackend,
    get_backend,
)


class FakeWeCom(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
    status = 200

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append(
            {
                "path": self.path,
                "content_type": self.headers["Content-Type"],
                "json": json.loads(self.rfile.read(length)),
            }
        )
        body = json.dumps(type(self).answer).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def wecom() -> Iterator[str]:
    FakeWeCom.received = []
    FakeWeCom.answer = {"errcode": 0, "errmsg": "ok"}
    FakeWeCom.status = 200
    server = HTTPServer(("127.0.0.1", 0), FakeWeCom)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/cgi-bin/webhook/send?key=test"
    server.shutdown()
    server.server_close()


def test_the_default_backend_logs(settings, caplog):
    settings.NOTIFY_BACKEND = None
    backend = get_backend()
    assert isinstance(backend, LoggingBackend)
    with caplog.at_level("INFO", logger="jiayuan.notifications.outbound"):
        backend.send(recipient="张三", title="督办：J1", body="请抓紧", url="/tickets/1/")
    assert caplog.messages == ["notify 张三: 督办：J1 | 请抓紧 | /tickets/1/"]


def test_the_backend_is_chosen_by_setting(settings, wecom):
    settings.NOTIFY_BACKEND = "jiayuan.notifications.backends.WeComWebhookBackend"
    settings.WECOM_WEBHOOK = wecom
    backend = get_backend()
    assert (type(backend), backend.channel, backend.webhook) == (  # type: ignore[attr-defined]
        WeComWebhookBackend,
        "wecom",
        wecom,
    )


def test_wecom_posts_a_text_message(settings, wecom):
    settings.PUBLIC_BASE_URL = "https://jy.example.cn"
    WeComWebhookBackend(wecom).send(
        recipient="网格员张三", title="督办：J1 楼道灯坏了", body="请抓紧", url="/tickets/1/"
    )
    assert FakeWeCom.received == [
        {
            "path": "/cgi-bin/webhook/send?key=test",
            "content_type": "application/json; charset=utf-8",
            "json": {
                "msgtype": "text",
                "text": {
                    "content": "【督办：J1 楼道灯坏了】网格员张三\n请抓紧\nhttps://jy.example.cn/tickets/1/"
                },
            },
        }
    ]


def test_wecom_error_code_is_a_delivery_error(wecom):
    FakeWeCom.answer = {"errcode": 93000, "errmsg": "invalid webhook url"}
    with pytest.raises(DeliveryError, match="企业微信返回错误：93000 invalid webhook url"):
        WeComWebhookBackend(wecom).send(recipient="a", title="t", body="b", url="")


def test_wecom_http_error_is_a_delivery_error(wecom):
    FakeWeCom.status = 502
    with pytest.raises(DeliveryError, match="企业微信请求失败"):
        WeComWebhookBackend(wecom).send(recipient="a", title="t", body="b", url="")


def test_wecom_unreachable_is_a_delivery_error():
    server = HTTPServer(("127.0.0.1", 0), FakeWeCom)
    port = server.server_port
    server.server_close()  # nothing listens there now
    with pytest.raises(DeliveryError, match="企业微信请求失败"):
        WeComWebhookBackend(f"http://127.0.0.1:{port}/send").send(
            recipient="a", title="t", body="b", url=""
        )


def test_wecom_without_a_webhook_is_a_delivery_error(settings, monkeypatch):
    settings.WECOM_WEBHOOK = None
    monkeypatch.delenv("JIAYUAN_WECOM_WEBHOOK", raising=False)
    with pytest.raises(DeliveryError, match="JIAYUAN_WECOM_WEBHOOK 未配置"):
        WeComWebhookBackend().send(recipient="a", title="t", body="b", url="")
