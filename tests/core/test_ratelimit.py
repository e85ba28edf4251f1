"""bot.core.ratelimit: limit keys (IPv6 by its /64, e-mails hashed) and bounded storage."""

from __future__ import annotations

import logging
import time
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bot.core import ratelimit
from bot.core.ratelimit import Limiter, account_key, address_key, client_address


def _keys(limiter: Limiter) -> int:
    """Entries the shared storage holds for this limiter (counters and event lists)."""
    store = ratelimit.STORAGE
    return len([k for k in [*store.storage, *store.events] if f"/{limiter._scope}/" in k])


def test_expired_keys_leave_the_storage() -> None:
    limiter = Limiter("test-expiry", "1/second")
    for i in range(2000):
        assert limiter.hit(f"key-{i}") is None
    assert _keys(limiter) >= 2000
    time.sleep(2.1)  # a sliding window's counter lives two windows
    assert limiter.hit("one-more") is None  # any hit wakes the storage's expiry sweep
    deadline = time.monotonic() + 2
    while _keys(limiter) > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _keys(limiter) == 1


def test_limiters_share_one_storage_but_count_apart(still_limits: None) -> None:
    one, two = Limiter("same-name", "1/minute"), Limiter("same-name", "1/minute")
    assert one.hit("k") is None and two.hit("k") is None
    assert one.hit("k") is not None
    assert not hasattr(one, "blocked")


def test_ipv6_is_keyed_by_its_64(still_limits: None) -> None:
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key("") == "" and address_key("not-an-ip") == "not-an-ip"
    limiter = Limiter("test-v6", "1/minute")
    assert limiter.hit(address_key("2001:db8::1")) is None
    assert limiter.hit(address_key("2001:db8::2")) is not None  # same /64: same counter
    assert limiter.hit(address_key("2001:db8:0:1::1")) is None


def test_account_keys_are_short_hashes_of_the_lower_cased_email() -> None:
    assert account_key("Ann@Shop.test") == account_key("ann@shop.test")
    assert account_key("ann@shop.test") != account_key("bob@shop.test")
    assert len(account_key("x" * 10_000)) == 16
    assert "ann" not in account_key("ann@shop.test")


def _request(peer: str, headers: dict[str, str]) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = (
        lambda key, default=None: (peer, 40000) if key == "peername" else default)
    return make_mocked_request("GET", "/login", headers=headers, app=web.Application(),
                               transport=transport)


def test_a_loopback_proxy_not_named_is_warned_about_once(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(ratelimit, "_warned", [])
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    with caplog.at_level(logging.WARNING, logger="switchboard.ratelimit"):
        assert client_address(_request("203.0.113.9", forwarded)) == "203.0.113.9"
        assert client_address(_request("127.0.0.1", {})) == "127.0.0.1"
        assert not caplog.records  # not loopback, or nothing forwarded: nothing to say
        for _ in range(3):
            assert client_address(_request("127.0.0.1", forwarded)) == "127.0.0.1"
        assert client_address(_request("::1", forwarded)) == "::1"
    warnings = [r for r in caplog.records if "trusted_proxies is empty" in r.getMessage()]
    assert len(warnings) == 1 and "SWITCHBOARD_TRUSTED_PROXIES" in warnings[0].getMessage()
    caplog.clear()
    monkeypatch.setattr(ratelimit, "_warned", [])
    with caplog.at_level(logging.WARNING, logger="switchboard.ratelimit"):  # named: silent
        assert client_address(_request("127.0.0.1", forwarded), "127.0.0.1") == "203.0.113.7"
    assert not caplog.records
