"""Times as marketers type them, in the shop's timezone: "tomorrow 9am", "in 2h",
"fri 18:00", "2026-12-01 09:00", "1 dec 9:00". Bad input gets an answer a person
understands ("31 Feb is not a date", "that time is in the past"), never a guess."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.core import l10n
from bot.core.i18n import lazy

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_IN = re.compile(r"^in\s+(\d+)\s*(s|secs?|seconds?|m|min|mins|minutes?|h|hrs?|hours?|d|days?|"
                 r"w|weeks?)$")
_CLOCK = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ t](.+))?$")
_DAY_MONTH = re.compile(r"^(\d{1,2})\s+([a-z]{3})[a-z]*\.?(?:\s+(\d{4}))?(?:\s+(.+))?$")
DEFAULT_TIME = time(9, 0)


class WhenError(ValueError):
    """A time that cannot be read; its message is a lazy text (translated where shown)."""


def _clock(text: str) -> time:
    m = _CLOCK.match(text.strip())
    if not m:
        raise WhenError(lazy("%(text)s is not a time; try 9:00, 18:30 or 9am", text=repr(text)))
    hour, minute, half = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if half:
        if not 1 <= hour <= 12:
            raise WhenError(lazy("%(text)s is not a time: %(clock)s does not exist",
                                 text=repr(text), clock=str(hour) + half))
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise WhenError(lazy("%(text)s is not a time of day", text=repr(text)))
    return time(hour, minute)


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        name = MONTHS[month - 1].capitalize() if 1 <= month <= 12 else f"month {month}"
        raise WhenError(lazy("%(day)s %(month)s is not a date", day=day, month=name)) from None


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """``day`` at ``at`` on the shop's wall clock; refuse a time the clocks skip."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=tz)
    back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != naive:
        raise WhenError(lazy("%(time)s does not exist on %(day)s (the clocks go forward)",
                             time=at.strftime("%H:%M"), day=l10n.format_date(day, "d MMM")))
    return aware


def parse(text: str, tz: ZoneInfo, now: datetime | None = None) -> datetime:
    """The moment ``text`` means, as an aware datetime; raise WhenError otherwise."""
    now = (now or datetime.now(UTC)).astimezone(tz)
    raw = " ".join(text.lower().split())
    if not raw:
        raise WhenError(lazy("say when, e.g. tomorrow 9:00, in 2h, fri 18:00 or "
                             "2026-12-01 09:00"))
    when = _parse(raw, tz, now)
    if when <= now:
        raise WhenError(lazy("that time is in the past"))
    return when


def _parse(raw: str, tz: ZoneInfo, now: datetime) -> datetime:
    if m := _IN.match(raw):
        n, unit = int(m.group(1)), m.group(2)[0]
        step = {"s": timedelta(seconds=1), "m": timedelta(minutes=1),
                "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}[unit]
        return (now + n * step).astimezone(tz)
    head, _, rest = raw.partition(" ")
    if head in ("today", "tomorrow"):
        day = now.date() + timedelta(days=1 if head == "tomorrow" else 0)
        return _local(day, _clock(rest) if rest else DEFAULT_TIME, tz)
    if head[:3] in DAYS and (len(head) <= 3 or head.startswith(tuple(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
             "sunday")))):
        at = _clock(rest) if rest else DEFAULT_TIME
        ahead = (DAYS.index(head[:3]) - now.weekday()) % 7
        candidate = _local(now.date() + timedelta(days=ahead), at, tz)
        return candidate if candidate > now else _local(
            now.date() + timedelta(days=ahead + 7), at, tz)
    if m := _ISO.match(raw):
        day = _date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return _local(day, _clock(m.group(4)) if m.group(4) else DEFAULT_TIME, tz)
    if m := _DAY_MONTH.match(raw):
        if m.group(2) not in MONTHS:
            raise WhenError(lazy("%(text)s is not a month", text=repr(m.group(2))))
        month = MONTHS.index(m.group(2)) + 1
        year = int(m.group(3)) if m.group(3) else now.year
        day = _date(year, month, int(m.group(1)))
        at = _clock(m.group(4)) if m.group(4) else DEFAULT_TIME
        when = _local(day, at, tz)
        if when <= now and not m.group(3):  # "1 jan" in December means next year
            when = _local(_date(year + 1, month, int(m.group(1))), at, tz)
        return when
    raise WhenError(lazy("I do not understand %(text)s as a time; try tomorrow 9:00, in 2h, "
                         "fri 18:00 or 2026-12-01 09:00", text=repr(raw)))
