"""Raw aggregate queries over the report roll-ups, on SQLite and PostgreSQL alike: one SQL
text with ``?`` placeholders (numbered ``$n`` for asyncpg), days as parameters in each
database's form, and values read back the same on both."""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tortoise import connections

from bot.core.errors import InboxError
from bot.core.i18n import lazy
from bot.services.reports import Figure, Filters, Kind

CENT = Decimal("0.01")


def postgres() -> bool:
    return str(connections.get("default").capabilities.dialect) == "postgres"


def param(value: Any) -> Any:
    """A day as SQLite keeps a date column (ISO text), or as is."""
    if isinstance(value, date) and not postgres():
        return value.isoformat()
    return value


def _numbered(sql: str) -> str:
    if not postgres():
        return sql
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))


async def rows(sql: str, *params: Any) -> list[dict[str, Any]]:
    return list(await connections.get("default").execute_query_dict(
        _numbered(sql), [param(p) for p in params]))


async def execute(conn: Any, sql: str, many: list[list[Any]]) -> None:
    """One statement for each parameter list, on ``conn`` (a transaction's)."""
    if many:
        await conn.execute_many(_numbered(sql), [[param(p) for p in ps] for ps in many])


def day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def num(value: Any) -> int:
    return int(value or 0)


def money(cents: Any) -> Decimal:
    """Integer cents as an amount of money, two decimals."""
    return (Decimal(num(cents)) / 100).quantize(CENT)


def per(cents: Any, count: Any) -> Decimal | None:
    """Cents divided by a count, as money rounded half-up (None: nothing to divide by)."""
    if not num(count):
        return None
    return (Decimal(num(cents)) / num(count) / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def share(part: Any, whole: Any) -> float | None:
    return num(part) / num(whole) if num(whole) else None


_NAME = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,31}$")  # a channel kind, a store, a language


def extra(f: Filters, name: str, allowed: tuple[str, ...] = ()) -> str | None:
    """A report-specific filter's value, lowercased (the roll-ups keep names lowercase); one
    outside ``allowed``, or not a name like a channel kind's or a language's, is a 400 (a
    well-formed name nobody has: no rows)."""
    value = dict(f.extra).get(name)
    if value is None or value == "":
        return None
    value = value.lower()  # stored lowercase (pt-BR is pt-br)
    if allowed and value not in allowed:
        raise InboxError(lazy("%(name)s must be one of %(known)s", name=name,
                              known=", ".join(allowed)), "bad_filter", name)
    if not _NAME.match(value):
        raise InboxError(lazy("%(name)s is not a valid name", name=name), "bad_filter", name)
    return value


def bucket(f: Filters) -> str:
    """The period of a table's rows: days up to 31 days, else weeks (from Monday)."""
    return "day" if f.days <= 31 else "week"


def figures(now: dict[str, Any], before: dict[str, Any],
            *specs: tuple[str, str, Kind]) -> list[Figure]:
    """Headline figures ``(key, title, kind)``, each with the previous period's value."""
    return [Figure(key, title, now[key], kind, before[key]) for key, title, kind in specs]
