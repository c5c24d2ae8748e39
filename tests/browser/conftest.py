"""Playwright driving Debian's chromium, shared by the browser tests.

The tests skip only when /usr/bin/chromium is missing and CI is unset; under CI a missing
browser is a failure (``make test`` installs chromium and fonts-noto-cjk with apt-get).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls from the test
# body are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "pass-1234-jiayuan"


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)")
        pytest.skip(f"{CHROMIUM} is missing; set CI to make this a failure")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()
            # ORM calls made while Playwright's loop runs get connections pytest-django does
            # not track; close them, or PostgreSQL cannot drop the test database at the end.
            from django.db import connections

            connections.close_all()
