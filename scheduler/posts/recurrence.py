"""Recurring posts: daily, weekly on given days, or monthly on a day, at a wall-clock
time in the shop's timezone, so 09:00 stays 09:00 across a DST change."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Recurrence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    freq: Literal["daily", "weekly", "monthly"]
    time: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = Field(
        None, description="weekly: which days")
    day: Annotated[int, Field(ge=1, le=31)] | None = Field(
        None, description="monthly: day of the month (the last day in shorter months)")

    @model_validator(mode="after")
    def _complete(self) -> Recurrence:
        if self.freq == "weekly" and not self.days:
            raise ValueError("a weekly post needs days, e.g. [\"mon\", \"thu\"]")
        if self.freq == "monthly" and self.day is None:
            raise ValueError("a monthly post needs a day of the month")
        return self


def _at(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """``day`` at ``clock`` in ``tz``; a time the clocks skip moves on by the gap."""
    # For a skipped time zoneinfo applies the offset from before the change, which lands
    # the gap's length later on the wall clock (02:30 -> 03:30): that is what we want.
    return datetime.combine(day, clock, tz).astimezone(UTC).astimezone(tz)


def _matches(rule: Recurrence, day: date) -> bool:
    if rule.freq == "daily":
        return True
    if rule.freq == "weekly":
        return DAYS[day.weekday()] in (rule.days or [])
    last = calendar.monthrange(day.year, day.month)[1]
    return day.day == min(rule.day or 1, last)


def next_after(rule: Recurrence, after: datetime, tz: ZoneInfo) -> datetime:
    """The first occurrence strictly after ``after``."""
    clock = time.fromisoformat(rule.time)
    day = after.astimezone(tz).date()
    for _ in range(400):
        if _matches(rule, day):
            when = _at(day, clock, tz)
            if when > after:
                return when
        day += timedelta(days=1)
    raise ValueError("no occurrence within a year")  # unreachable for valid rules
