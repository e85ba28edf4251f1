"""Natural times for chat commands, in the shop's timezone, with clear refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from scheduler.posts.when import WhenError, parse

BKK = ZoneInfo("Asia/Bangkok")
WAW = ZoneInfo("Europe/Warsaw")
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)  # Saturday 15:00 in Bangkok


@pytest.mark.parametrize(("text", "local"), [
    ("tomorrow 9am", "2026-11-22 09:00"),
    ("tomorrow 9:00", "2026-11-22 09:00"),
    ("Tomorrow", "2026-11-22 09:00"),
    ("today 18:30", "2026-11-21 18:30"),
    ("in 2h", "2026-11-21 17:00"),
    ("in 30 minutes", "2026-11-21 15:30"),
    ("in 3 days", "2026-11-24 15:00"),
    ("fri 18:00", "2026-11-27 18:00"),
    ("friday 6pm", "2026-11-27 18:00"),
    ("sat 16:00", "2026-11-21 16:00"),  # later today
    ("sat 10:00", "2026-11-28 10:00"),  # today's has passed: next week
    ("2026-12-01 09:00", "2026-12-01 09:00"),
    ("2026-12-01", "2026-12-01 09:00"),
    ("1 dec 9:00", "2026-12-01 09:00"),
    ("5 jan 12pm", "2027-01-05 12:00"),  # January is next year
])
def test_understood(text: str, local: str) -> None:
    assert parse(text, BKK, NOW).astimezone(BKK).strftime("%Y-%m-%d %H:%M") == local


@pytest.mark.parametrize(("text", "message"), [
    ("31 feb 9:00", "31 Feb is not a date"),
    ("2026-02-30 10:00", "30 Feb is not a date"),
    ("today 9:00", "that time is in the past"),
    ("2026-11-20 10:00", "that time is in the past"),
    ("tomorrow 25:00", "is not a time of day"),
    ("tomorrow 13pm", "13pm does not exist"),
    ("whenever", "I do not understand 'whenever' as a time"),
    ("", "say when"),
])
def test_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(WhenError, match=message):
        parse(text, BKK, NOW)


def test_dst_gap_and_wall_clock() -> None:
    before = datetime(2027, 3, 25, 12, 0, tzinfo=UTC)
    with pytest.raises(WhenError, match="02:30 does not exist on 28 Mar"):
        parse("2027-03-28 02:30", WAW, before)
    summer = parse("2027-03-29 09:00", WAW, before)
    assert summer.astimezone(UTC).hour == 7  # CEST is UTC+2
    winter = parse("2027-03-27 09:00", WAW, before)
    assert winter.astimezone(UTC).hour == 8  # CET is UTC+1
