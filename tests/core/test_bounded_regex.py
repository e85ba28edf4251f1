"""A message's rule regexes run off the event loop, all within one regex_timeout_ms: many
slow patterns cannot hold the loop up, nor take (number of rules x timeout)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from bot.core import bounded


async def test_many_slow_patterns_take_one_budget_off_the_loop(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A message's patterns share one time budget, and run in a thread. Checked by what
    each pattern was given, not by wall-clock time (the machine may be busy): every
    pattern's allowance ends at the same deadline, the one budget after the first began."""
    saved = bounded.LIMITS.regex_timeout
    bounded.LIMITS.regex_timeout = 0.2
    caplog.set_level(logging.WARNING, "switchboard.templates")
    slow = [rf"^(a|aa)+{i}$" for i in range(20)]  # each alone would use the whole budget
    text = "a" * 80 + "b"
    calls: list[tuple[float, float, int]] = []  # (when, allowance, thread)
    real = bounded.search

    def recorded(pattern: str, subject: str, timeout: float) -> bool:
        calls.append((time.monotonic(), timeout, threading.get_ident()))
        return real(pattern, subject, timeout)
    monkeypatch.setattr(bounded, "search", recorded)
    try:
        started = time.monotonic()
        found = await bounded.search_all_async([*slow, "b$", "^a"], text)
    finally:
        bounded.LIMITS.regex_timeout = saved
    assert len(calls) == len(slow) + 2
    assert all(thread != threading.get_ident() for _, _, thread in calls)  # off the loop
    deadline = calls[0][0] + calls[0][1]
    assert started <= calls[0][0] and calls[0][1] <= 0.2 + 1e-9
    for when, allowance, _ in calls[1:]:  # the time left of the one budget, never more
        assert when + allowance <= deadline + 1e-6 or allowance == pytest.approx(1e-6)
    assert not found & set(slow)
    assert len([r for r in caplog.records if "ran out of time" in r.message]) >= 1


async def test_fast_patterns_match_as_before() -> None:
    assert await bounded.search_all_async([r"(?i)^thanks?[.!]*$", "x", "!"], "Thanks!") == \
        {r"(?i)^thanks?[.!]*$", "!"}
    assert await bounded.search_all_async([], "text") == set()
