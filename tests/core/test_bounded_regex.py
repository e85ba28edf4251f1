"""A message's rule regexes run off the event loop, all within one regex_timeout_ms: many
slow patterns cannot hold the loop up, nor take (number of rules x timeout)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.core import bounded


async def test_many_slow_patterns_take_one_budget_off_the_loop(
        caplog: pytest.LogCaptureFixture) -> None:
    saved = bounded.LIMITS.regex_timeout
    bounded.LIMITS.regex_timeout = 0.2
    caplog.set_level(logging.WARNING, "switchboard.templates")
    slow = [rf"^(a|aa)+{i}$" for i in range(20)]  # each alone would use the whole budget
    text = "a" * 80 + "b"
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1
    task = asyncio.create_task(ticker())
    try:
        started = time.monotonic()
        found = await bounded.search_all_async([*slow, "b$", "^a"], text)
        took = time.monotonic() - started
    finally:
        task.cancel()
        bounded.LIMITS.regex_timeout = saved
    assert took < 0.6, took  # one budget, not 20 of them (4 s)
    assert ticks >= 8, ticks  # the loop kept running meanwhile
    assert not found & set(slow)
    assert len([r for r in caplog.records if "ran out of time" in r.message]) >= 1


async def test_fast_patterns_match_as_before() -> None:
    assert await bounded.search_all_async([r"(?i)^thanks?[.!]*$", "x", "!"], "Thanks!") == \
        {r"(?i)^thanks?[.!]*$", "!"}
    assert await bounded.search_all_async([], "text") == set()
