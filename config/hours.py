"""Office hours: ``"mon-fri 09:00-18:00, sat 10:00-14:00"`` in the shop's timezone.

An empty spec means always open. A range may run past midnight (``fri 22:00-02:00``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class HoursError(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    day: int  # 0 = Monday
    start: time
    end: time  # may be <= start: runs into the next day


@dataclass(frozen=True)
class OfficeHours:
    windows: tuple[Window, ...]
    tz: ZoneInfo

    @property
    def always_open(self) -> bool:
        return not self.windows

    def _spans(self, around: datetime) -> list[tuple[datetime, datetime]]:
        """Open intervals from the day before ``around`` to a week after, local time."""
        local = around.astimezone(self.tz)
        base = local.replace(hour=0, minute=0, second=0, microsecond=0)
        spans = []
        for offset in range(-1, 8):
            day = base + timedelta(days=offset)
            for w in self.windows:
                if w.day != day.weekday():
                    continue
                start = datetime.combine(day.date(), w.start, self.tz)
                end = datetime.combine(day.date(), w.end, self.tz)
                if end <= start:
                    end += timedelta(days=1)
                spans.append((start, end))
        return sorted(spans)

    def is_open(self, at: datetime) -> bool:
        return self.always_open or any(s <= at < e for s, e in self._spans(at))

    def next_open(self, at: datetime) -> datetime:
        """When staff are next in (``at`` itself if open now), in the shop's timezone."""
        if self.is_open(at):
            return at.astimezone(self.tz)
        return next(s for s, _ in self._spans(at) if s > at)


def _clock(value: str, spec: str) -> time:
    try:
        hh, mm = value.split(":")
        if hh == "24" and mm == "00":
            return time(0, 0)
        return time(int(hh), int(mm))
    except ValueError:
        raise HoursError(f"{value!r} in {spec!r} is not a time like 09:00") from None


def parse(spec: str, timezone: str = "UTC") -> OfficeHours:
    """Parse an office-hours spec; raise HoursError with a clear message."""
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError(f"unknown timezone {timezone!r} (use an IANA name like "
                         "Asia/Bangkok)") from None
    windows: list[Window] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        try:
            days, span = part.split()
            start, end = span.split("-")
        except ValueError:
            raise HoursError(f"{part!r} is not like 'mon-fri 09:00-18:00'") from None
        first, _, last = days.lower().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise HoursError(f"{days!r} is not a day or a range like mon-fri")
        a, b = DAYS.index(first), DAYS.index(last or first)
        day_list = range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)]
        t0, t1 = _clock(start, part), _clock(end, part)
        if t0 == t1:
            raise HoursError(f"{part!r} opens and closes at the same time")
        windows += [Window(d, t0, t1) for d in day_list]
    return OfficeHours(tuple(windows), tz)
