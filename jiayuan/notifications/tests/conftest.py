"""Fixtures for notifications: tasks run inline, a recording outbound backend."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from jiayuan.notifications.backends import BaseBackend, DeliveryError


class RecordingBackend(BaseBackend):
    """Remembers what it was asked to send; fails the first ``fail_times`` sends."""

    channel = "log"
    sent: ClassVar[list[dict[str, str]]] = []
    fail_times: ClassVar[int] = 0
    calls: ClassVar[int] = 0

    def send(self, *, recipient: str, title: str, body: str, url: str) -> None:
        type(self).calls += 1
        if type(self).calls <= type(self).fail_times:
            raise DeliveryError(f"网关不可用（第{type(self).calls}次）")
        type(self).sent.append({"recipient": recipient, "title": title, "body": body, "url": url})


@pytest.fixture
def outbox(settings: Any) -> type[RecordingBackend]:
    settings.NOTIFY_BACKEND = "jiayuan.notifications.tests.conftest.RecordingBackend"
    RecordingBackend.sent = []
    RecordingBackend.calls = 0
    RecordingBackend.fail_times = 0
    return RecordingBackend


@pytest.fixture
def immediate_tasks(settings: Any) -> None:
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["default"],
        }
    }
