"""The client address behind reverse proxies (rate limits and access logs key on it)."""

from __future__ import annotations

from typing import Any

from django.test import RequestFactory

from jiayuan.core.masking import client_ip


def request(forwarded: str | None = None) -> Any:
    req = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2")
    if forwarded is not None:
        req.META["HTTP_X_FORWARDED_FOR"] = forwarded
    return req


def test_without_trusted_proxies_the_header_is_ignored(settings: Any) -> None:
    settings.TRUSTED_PROXIES = 0
    assert client_ip(request("1.2.3.4")) == "10.0.0.2"


def test_one_trusted_proxy_takes_the_rightmost_address(settings: Any) -> None:
    settings.TRUSTED_PROXIES = 1
    # The client forged "6.6.6.6"; nginx appended the address it saw.
    assert client_ip(request("6.6.6.6, 1.2.3.4")) == "1.2.3.4"
    assert client_ip(request()) == "10.0.0.2"


def test_two_trusted_proxies_skip_the_inner_one(settings: Any) -> None:
    settings.TRUSTED_PROXIES = 2
    assert client_ip(request("6.6.6.6, 1.2.3.4, 10.0.0.9")) == "1.2.3.4"
    assert client_ip(request("10.0.0.9")) == "10.0.0.2"  # shorter than the proxy chain


def test_rate_limits_count_the_forwarded_client(settings: Any, client: Any, db: Any) -> None:
    from jiayuan.core import ratelimit

    settings.TRUSTED_PROXIES = 1
    settings.JIAYUAN_RATE_LIMITS = {"track": (1, 600)}
    first = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="1.2.3.4")
    other = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="5.6.7.8")
    ratelimit.check(first, "track")
    ratelimit.check(other, "track")  # another client behind the same proxy: its own window
    try:
        ratelimit.check(first, "track")
    except ratelimit.RateLimited:
        pass
    else:
        raise AssertionError("the second hit of 1.2.3.4 should be limited")
