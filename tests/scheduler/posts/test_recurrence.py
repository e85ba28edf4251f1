"""Recurring posts keep their wall-clock time across DST, and a published recurring post
schedules its next occurrence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from scheduler.posts.recurrence import Recurrence, next_after

WAW = ZoneInfo("Europe/Warsaw")


def test_daily_keeps_local_time_across_the_autumn_change() -> None:
    rule = Recurrence(freq="daily", time="09:00")
    sat = datetime(2026, 10, 24, 7, 0, tzinfo=UTC)  # Sat 09:00 CEST (UTC+2)
    sun = next_after(rule, sat, WAW)
    mon = next_after(rule, sun, WAW)
    assert [d.astimezone(WAW).strftime("%a %H:%M") for d in (sun, mon)] == [
        "Sun 09:00", "Mon 09:00"]
    assert (sun.astimezone(UTC).hour, mon.astimezone(UTC).hour) == (8, 8)  # CET is UTC+1
    assert mon - sun == timedelta(hours=24) and sun - sat == timedelta(hours=25)


def test_weekly_monthly_and_the_spring_gap() -> None:
    weekly = Recurrence(freq="weekly", time="18:00", days=["mon", "thu"])
    start = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # a Saturday
    first = next_after(weekly, start, WAW)
    second = next_after(weekly, first, WAW)
    assert [d.astimezone(WAW).strftime("%a %d %H:%M") for d in (first, second)] == [
        "Mon 23 18:00", "Thu 26 18:00"]
    monthly = Recurrence(freq="monthly", time="10:00", day=31)
    nov = next_after(monthly, start, WAW)
    assert nov.astimezone(WAW).strftime("%d %b %H:%M") == "30 Nov 10:00"  # last day
    assert next_after(monthly, nov, WAW).astimezone(WAW).strftime("%d %b") == "31 Dec"
    gap = Recurrence(freq="daily", time="02:30")
    spring = next_after(gap, datetime(2027, 3, 27, 12, 0, tzinfo=UTC), WAW)
    assert spring.astimezone(WAW).strftime("%d %H:%M") == "28 03:30"  # 02:30 is skipped
    with pytest.raises(ValidationError, match="needs days"):
        Recurrence(freq="weekly", time="09:00")
