"""Issue 19 point 2: password hashing never runs on the event loop, at most
``password_hash_threads`` hashes run at once, and login tries are limited per address and
per account (429 with Retry-After, logged without what was typed)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bot.core import auth
from tests.conftest import Shop, make_settings, start_shop

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _try(shop: Shop, email: str, password: str, address: str = "") -> Any:
    page = await shop.client.get("/login")
    token = CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]
    headers = {"X-Forwarded-For": address} if address else {}
    return await shop.client.post("/login", data={"email": email, "password": password,
                                                  "csrf_token": token},
                                  headers=headers, allow_redirects=False)


class Spy:
    """Stands in for argon2's PasswordHasher (whose methods cannot be patched)."""

    def __init__(self, **methods: Any) -> None:
        self.__dict__.update(methods)


async def test_hashing_runs_off_the_loop_at_most_threads_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    auth.configure_hashing(2)
    loop_thread = threading.current_thread()
    seen: list[threading.Thread] = []
    nice: list[int] = []  # the hashing threads yield the CPU to the loop
    running, most = [0], [0]
    lock = threading.Lock()

    def slow_verify(_hash: str, _password: str) -> bool:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            seen.append(threading.current_thread())
            nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return False

    monkeypatch.setattr(auth, "_hasher", Spy(verify=slow_verify))
    monkeypatch.setattr(auth, "_dummy", ["x"])
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    results = await asyncio.gather(*(auth.verify_password("h", "pw") for _ in range(8)))
    task.cancel()
    assert results == [False] * 8
    assert loop_thread not in seen and most[0] == 2
    assert all(n == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10) for n in nice)
    assert ticks >= 20  # the loop kept running: 4 rounds of 50 ms, ticking every 5 ms


async def test_create_user_and_login_hash_in_the_pool(shop: Shop,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    real_hash, real_verify = auth._hasher.hash, auth._hasher.verify

    def hash_(password: str) -> str:
        threads.append(threading.current_thread().name)
        return real_hash(password)

    def verify(h: str, password: str) -> bool:
        threads.append(threading.current_thread().name)
        return real_verify(h, password)

    monkeypatch.setattr(auth, "_hasher", Spy(hash=hash_, verify=verify))
    added = await shop.add_user("agent")
    ok = await _try(shop, added["email"], added["password"])
    assert ok.status == 302
    assert len(threads) == 2 and all(t.startswith("password-hash") for t in threads)


@pytest.fixture
async def limited(aiohttp_client: Any, tmp_path: Path, still_limits: None) -> Shop:
    return await start_shop(aiohttp_client, make_settings(
        tmp_path, login_limit_address="4/minute", login_limit_account="2/minute",
        trusted_proxies="127.0.0.1"))


async def test_tries_per_address_are_limited(limited: Shop,
                                             caplog: pytest.LogCaptureFixture) -> None:
    for i in range(4):
        resp = await _try(limited, f"nobody{i}@shop.test", "wrong", "203.0.113.7")
        assert resp.status == 401
    with caplog.at_level(logging.WARNING, logger="switchboard.ratelimit"):
        resp = await _try(limited, "nobody@shop.test", "secret-guess", "203.0.113.7")
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert "Too many tries" in await resp.text()
    refusals = [r for r in caplog.records if r.getMessage() == "rate limited"]
    assert refusals and refusals[0].__dict__["limit"] == "login-address"
    assert refusals[0].__dict__["client"] == "203.0.113.7"
    assert "secret-guess" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="switchboard.ratelimit"):
        again = await _try(limited, "nobody@shop.test", "x", "203.0.113.7")
    assert again.status == 429  # refused again, counted, not logged again within the minute
    assert len([r for r in caplog.records if r.getMessage() == "rate limited"]) == 1
    # another address is not held back
    other = await _try(limited, limited.seed["email"], limited.seed["password"], "203.0.113.8")
    assert other.status == 302


async def test_failed_tries_per_account_are_limited_from_any_address(
        limited: Shop, caplog: pytest.LogCaptureFixture) -> None:
    email = limited.seed["email"]
    for i in range(2):
        assert (await _try(limited, email, "wrong", f"198.51.100.{i}")).status == 401
    with caplog.at_level(logging.WARNING, logger="switchboard.ratelimit"):
        resp = await _try(limited, email.upper(), "pw-typed-here", "198.51.100.9")
    assert resp.status == 429 and "Retry-After" in resp.headers
    refusal = next(r for r in caplog.records if r.getMessage() == "rate limited")
    assert refusal.__dict__["limit"] == "login-account" and refusal.__dict__["user_id"]
    assert "pw-typed-here" not in caplog.text
    # even the right password waits: the account is held, not the address
    right = await _try(limited, email, limited.seed["password"], "198.51.100.10")
    assert right.status == 429


async def test_a_success_clears_the_accounts_count(limited: Shop) -> None:
    email = limited.seed["email"]
    assert (await _try(limited, email, "wrong", "192.0.2.1")).status == 401
    assert (await _try(limited, email, limited.seed["password"], "192.0.2.2")).status == 302
    assert (await _try(limited, email, "wrong", "192.0.2.3")).status == 401
    assert (await _try(limited, email, "wrong", "192.0.2.4")).status == 401
    assert (await _try(limited, email, "wrong", "192.0.2.5")).status == 429


async def test_a_client_cannot_pick_its_address_without_a_trusted_proxy(
        aiohttp_client: Any, tmp_path: Path) -> None:
    shop = await start_shop(aiohttp_client, make_settings(tmp_path,
                                                          login_limit_address="2/minute"))
    for i in range(2):
        assert (await _try(shop, "x@shop.test", "wrong", f"10.0.0.{i}")).status == 401
    assert (await _try(shop, "x@shop.test", "wrong", "10.0.0.9")).status == 429


async def test_a_full_queue_of_checks_answers_503_at_once(
        shop: Shop, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Tries from many addresses at once: beyond QUEUE_PER_THREAD waiting checks per
    hashing thread, a try is refused with a 503 rather than queued behind them."""
    monkeypatch.setattr(auth, "QUEUE_PER_THREAD", 0)
    with caplog.at_level(logging.WARNING, logger="switchboard.auth"):
        resp = await _try(shop, shop.seed["email"], shop.seed["password"])
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    assert "busy" in await resp.text() and "password checks busy" in caplog.text
    monkeypatch.setattr(auth, "QUEUE_PER_THREAD", 16)
    assert (await _try(shop, shop.seed["email"], shop.seed["password"])).status == 302


async def test_addresses_in_one_ipv6_64_share_the_count(
        limited: Shop, caplog: pytest.LogCaptureFixture) -> None:
    for i in range(4):  # a fresh address of the same /64 for every try
        resp = await _try(limited, f"nobody{i}@shop.test", "wrong", f"2001:db8:1:2::{i + 1}")
        assert resp.status == 401
    with caplog.at_level(logging.WARNING, logger="switchboard.ratelimit"):
        resp = await _try(limited, "nobody@shop.test", "wrong", "2001:db8:1:2:ffff::9")
    assert resp.status == 429
    refusal = next(r for r in caplog.records if r.getMessage() == "rate limited")
    assert refusal.__dict__["client"] == "2001:db8:1:2:ffff::9"  # the log keeps the address
    # the next /64 is someone else
    other = await _try(limited, limited.seed["email"], limited.seed["password"], "2001:db8:1:3::1")
    assert other.status == 302
