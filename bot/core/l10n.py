"""Dates, times, numbers, percentages, money, durations and file sizes in the current locale
(:data:`bot.core.i18n.current`) with Babel; times in the shop's timezone
(``settings.shop_timezone``, given to :func:`configure` at start-up).

The same helpers are the templates' filters: ``{{ m.created_at|dt }}``, ``|date``,
``|time``, ``|number``, ``|percent``, ``{{ cents / 100|money("EUR") }}``, ``|duration``
(a number of seconds or a timedelta, "3 hours"), ``|size`` (bytes, "2.5 MB")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale, dates, numbers, units
from babel.core import get_global

from bot.core.i18n import current

_zone: dt.tzinfo = dt.UTC


def configure(shop_timezone: str) -> None:
    """Show times in ``shop_timezone`` (an IANA name, checked by the settings)."""
    global _zone
    _zone = ZoneInfo(shop_timezone)


def zone() -> dt.tzinfo:
    return _zone


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # stored in UTC


def format_datetime(value: dt.datetime | None, format: str = "short") -> str:
    if value is None:
        return ""
    return dates.format_datetime(_aware(value), format, tzinfo=_zone, locale=current.get())


def format_moment(value: dt.datetime, zone: dt.tzinfo | None = None) -> str:
    """A moment with its weekday, to the minute, in ``zone`` (the shop's by default), as
    the locale joins a date and a time: "Fri, Mar 6, 9:00 AM", "Thứ 6, 6 thg 3 09:00"."""
    at, locale = _aware(value), current.get()
    day = dates.format_skeleton("MMMEd", at, tzinfo=zone or _zone, locale=locale)
    clock = dates.format_time(at, "short", tzinfo=zone or _zone, locale=locale)
    joined = str(dates.get_datetime_format("short", locale=locale))  # "{1}, {0}" in English
    return joined.replace("{1}", day).replace("{0}", clock)


def format_date(value: dt.date | dt.datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = _aware(value).astimezone(_zone).date()
    return dates.format_date(value, format, locale=current.get())


def format_time(value: dt.datetime | dt.time | None, format: str = "short") -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return dates.format_time(_aware(value), format, tzinfo=_zone, locale=current.get())
    return dates.format_time(value, format, locale=current.get())


def format_number(value: float | Decimal | None, pattern: str | None = None) -> str:
    """``value`` with the locale's separators (``pattern``: CLDR's, e.g. "#,##0.00")."""
    if value is None:
        return ""
    return numbers.format_decimal(value, format=pattern, locale=current.get())


def format_percent(value: float | Decimal | None, pattern: str | None = None) -> str:
    """``0.25`` as "25%" (the locale's sign and spacing)."""
    if value is None:
        return ""
    return numbers.format_percent(value, format=pattern, locale=current.get())


def format_money(value: float | Decimal | None, currency: str = "USD") -> str:
    if value is None:
        return ""
    return numbers.format_currency(value, currency, locale=current.get())


def format_duration(value: dt.timedelta | float | None, add_direction: bool = False) -> str:
    """A duration in words ("3 hours", "in 3 hours" with ``add_direction``)."""
    if value is None:
        return ""
    if not isinstance(value, dt.timedelta):
        value = dt.timedelta(seconds=value)
    return dates.format_timedelta(value, threshold=1, add_direction=add_direction,
                                  locale=current.get())


_SIZE_UNITS = ("digital-byte", "digital-kilobyte", "digital-megabyte", "digital-gigabyte")


def format_size(value: int | None) -> str:
    """A number of bytes in the largest unit it fills, to one decimal, as the locale
    writes it: "900 byte", "2.5 kB", "18 MB", "18,5 МБ" (a kilobyte is 1000 bytes, as
    CLDR's units and the channels' documented limits count)."""
    if value is None:
        return ""
    amount, unit = float(value), 0
    while round(amount, 1) >= 1000 and unit < len(_SIZE_UNITS) - 1:
        amount, unit = amount / 1000, unit + 1
    return units.format_unit(amount, _SIZE_UNITS[unit], length="short", format="#,##0.#",
                             locale=current.get())


def first_week_day() -> int:
    """The day a week starts on where the current locale is spoken (0 is Monday, as in
    Python's ``calendar``): CLDR's for the locale's likely country (Sunday in Thai, Khmer
    and US English, Monday in Vietnamese, Polish and Russian)."""
    locale = Locale.parse(current.get())
    likely = get_global("likely_subtags").get(str(locale))
    return int(Locale.parse(likely).first_week_day if likely else locale.first_week_day)


def day_names(width: Literal["abbreviated", "narrow", "short", "wide"] = "abbreviated",
              ) -> list[str]:
    """The names of the days, Monday first (Python's weekday numbers), as a column or row
    heading says them in the current locale: "Mon", "Thứ 2", "จันทร์"."""
    names = dates.get_day_names(width, context="stand-alone", locale=current.get())
    return [str(names[day]) for day in range(7)]


def install_filters(env: jinja2.Environment) -> None:
    env.filters.update(dt=format_datetime, date=format_date, time=format_time,
                       number=format_number, percent=format_percent, money=format_money,
                       duration=format_duration, size=format_size)
    env.globals["shop_zone"] = lambda: str(_zone)  # "(Asia/Ho_Chi_Minh)" beside a time input
