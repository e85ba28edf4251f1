"""What the shop roll-ups (:mod:`bot.services.reports.shop_facts`) share: their settings
(the shop's timezone and attribution window), days and weeks, money, and their state rows
(``shop_report_state``: watermarks as :class:`bot.services.reports.marks.Mark`)."""

from __future__ import annotations

import logging
import re
import time
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.models import Model
from tortoise.transactions import in_transaction

from bot.models import ShopReportState
from bot.services.reports import marks
from bot.services.reports.sql import postgres

log = logging.getLogger("switchboard.reports")
# "at": when this process was configured (ms): the last one configured rebuilds
_conf: dict[str, Any] = {"tz": "UTC", "days": 7, "at": int(time.time() * 1000)}


def configure(timezone: str, attribution_days: int) -> None:
    """The shop's timezone and attribution window (the composition root sets them)."""
    _conf.update(tz=timezone, days=attribution_days, at=int(time.time() * 1000))


def shop_timezone() -> str:
    return str(_conf["tz"])


def window() -> timedelta:
    return timedelta(days=int(_conf["days"]))


def local_day(at: datetime) -> date:
    return at.astimezone(ZoneInfo(str(_conf["tz"]))).date()


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


_GROUPED = re.compile(r"^\d{1,3}(,\d{3})+(\.\d*)?$")  # 1,234.50: commas group thousands
_COMMA = re.compile(r"^\d+,\d{1,2}$")  # 12,50 or 12,5: a decimal comma (no dot)


def cents(total: object) -> int:
    """An order's total (a number, or text: ``1234.5``, ``1,234.50``, ``12,50`` with a
    decimal comma) in cents, rounded half-up. 0 when it is no amount, an ambiguous one
    (``1.234,50``, ``1,23,4``), a negative one or one over :data:`MAX_TOTAL` (``1e300``
    would not even fit the column): the order still counts, without
    revenue (a refund is no order), and a log line says so."""
    text = str(total if total is not None else 0).strip()
    if _GROUPED.match(text):
        text = text.replace(",", "")
    elif _COMMA.match(text):
        text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0 or amount > MAX_TOTAL:
        log.warning("order total not counted", extra={"total": text[:40]})
        return 0
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


MAX_TOTAL = Decimal(10) ** 13  # no shop's order; its cents still fit a BIGINT and a quantize


async def get(name: str, default: str = "0") -> str:
    row = await ShopReportState.filter(name=name).first()
    return row.value if row else default


async def put(conn: Any, name: str, value: str) -> None:
    if await ShopReportState.filter(name=name).using_db(conn).update(value=value) == 0:
        await ShopReportState.create(using_db=conn, name=name, value=value)


async def mark(name: str) -> tuple[str | None, marks.Mark]:
    """The stored text of a state row (None: none yet) and the mark it holds."""
    row = await ShopReportState.filter(name=name).first()
    return (row.value if row else None), marks.Mark.parse(row.value if row else None)


async def swap(conn: Any, name: str, old: str | None, new: object) -> None:
    """Compare and set (:func:`bot.services.reports.marks.swap`)."""
    await marks.swap(conn, ShopReportState, name, None if old is None else {"value": old},
                     {"value": str(new)})


def _reader(model: Any, *columns: str) -> marks.Read:
    async def read(after: int, upto: int | None, limit: int) -> list[Any]:
        rows = model.filter(id__gt=after)
        if upto is not None:
            rows = rows.filter(id__lte=upto)
        return list(await rows.order_by("id").limit(limit).values_list(
            "id", "created_at", *columns))
    return read


async def take(name: str, model: Any, size: int, *columns: str
               ) -> tuple[str | None, marks.Mark, marks.Batch]:
    """The next rows of ``model`` after the mark ``name`` (id, created_at, ``columns``)."""
    old, now = await mark(name)
    grace = marks.GRACE if postgres() else timedelta(0)  # SQLite: ids commit in order
    return old, now, await marks.take(now, _reader(model, *columns), size, grace)


async def check_config(tables: tuple[type[Model], ...]) -> bool:
    """Rebuild ``tables`` when the settings changed; False: another process configured later holds
    other settings (leave the roll-ups to it)."""
    want = f"{_conf['tz']}|{_conf['days']}"
    row = await ShopReportState.filter(name="config").first()
    have = row.value if row else None
    if have == want:
        return True
    if int(await get("config_at")) >= int(_conf["at"]):
        log.warning("report roll-ups built with other settings by a newer process: "
                    "not refreshed here")
        return False
    async with in_transaction() as conn:
        await swap(conn, "config", have, want)
        for model in tables:
            await model.all().using_db(conn).delete()
        await ShopReportState.exclude(name="config").using_db(conn).delete()
        await put(conn, "config_at", str(_conf["at"]))
    return True
