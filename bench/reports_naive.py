"""The naive way, for bench/reports.py: the headline figures of the inbox overview, the
response times, the funnel and the revenue reports computed straight from the raw rows
(messages, conversations, shop_events), with the reports' own definitions (see the
docstrings of ``bot/services/reports/inbox_facts.py``, ``inbox_query.py`` and
``shop_facts.py``), so that the figures must be equal:

- inbox: a conversation is in a range when it was opened (``created_at``) on one of its
  days (shop timezone); resolved = its status is resolved now; messages in/out = all the
  messages of those conversations; first response time = the first outbound message not
  written by the bot or a rule, minus opened; resolution time = resolved_at minus opened;
  median and p90 are nearest rank (the value at rank ceil(p x n / 100)). With no office
  hours (the bench's settings) business seconds equal calendar seconds, so both are
  compared with the same naive value.
- funnel: contacts who entered (their first shop event) in the range, how many of them
  reached a checkout (checkout started or updated, or an order) and an order by the end of
  the range; the rates between them.
- revenue: the orders placed in the range, their count, revenue (the payloads' totals,
  exact to the cent) and average order value (rounded half-up).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from bot.services.reports import Filters, Report

CENT = Decimal("0.01")


def _q(sql: str) -> str:
    """SQLite's ? placeholders as PostgreSQL's $n when the connection is asyncpg's."""
    from tortoise import connections
    if "asyncpg" not in type(connections.get("default")).__module__:
        return sql
    parts = sql.split("?")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


async def _rows(sql: str, *params: Any) -> list[dict[str, Any]]:
    from tortoise import connections
    return list(await connections.get("default").execute_query_dict(_q(sql), list(params)))


def _bounds(f: Filters, tz: ZoneInfo) -> tuple[datetime, datetime]:
    def at(d: date) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)
    return at(f.start), at(f.end + timedelta(days=1))


def _epoch(v: Any) -> int:
    at = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
    return int(at.timestamp())


def _rank(xs: list[int], p: int) -> int | None:
    """Nearest rank: the value at rank ceil(p x n / 100) of the sorted values."""
    return sorted(xs)[(len(xs) * p + 99) // 100 - 1] if xs else None


async def naive_overview(f: Filters, tz: ZoneInfo) -> dict[str, Any]:
    lo, hi = _bounds(f, tz)
    conv = (await _rows("SELECT COUNT(*) AS n, SUM(CASE WHEN status = 'resolved' AND "
                        "resolved_at IS NOT NULL THEN 1 ELSE 0 END) AS r FROM conversations "
                        "WHERE created_at >= ? AND created_at < ?", lo, hi))[0]
    msgs = {r["direction"]: int(r["n"]) for r in await _rows(
        "SELECT m.direction AS direction, COUNT(*) AS n FROM messages m JOIN conversations c "
        "ON c.id = m.conversation_id WHERE c.created_at >= ? AND c.created_at < ? "
        "GROUP BY m.direction", lo, hi)}
    return {"opened": int(conv["n"]), "resolved": int(conv["r"] or 0),
            "messages_in": msgs.get("in", 0), "messages_out": msgs.get("out", 0)}


async def naive_response(f: Filters, tz: ZoneInfo) -> dict[str, Any]:
    lo, hi = _bounds(f, tz)
    opened: dict[int, int] = {}
    res: list[int] = []
    for r in await _rows("SELECT id, status, created_at, resolved_at FROM conversations "
                         "WHERE created_at >= ? AND created_at < ?", lo, hi):
        opened[r["id"]] = _epoch(r["created_at"])
        if r["status"] == "resolved" and r["resolved_at"] is not None:
            res.append(_epoch(r["resolved_at"]) - opened[r["id"]])
    first: dict[int, int] = {}
    for r in await _rows("SELECT m.conversation_id AS c, m.created_at AS t FROM messages m "
                         "JOIN conversations c ON c.id = m.conversation_id WHERE "
                         "c.created_at >= ? AND c.created_at < ? AND m.direction = 'out' "
                         "AND m.origin NOT IN ('bot', 'rule')", lo, hi):
        t = _epoch(r["t"])
        first[r["c"]] = min(t, first.get(r["c"], t))
    frt = [t - opened[c] for c, t in first.items()]
    return {"frt_median": _rank(frt, 50), "frt_p90": _rank(frt, 90),
            "res_median": _rank(res, 50), "res_p90": _rank(res, 90)}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


async def naive_funnel(f: Filters, tz: ZoneInfo) -> dict[str, Any]:
    first: dict[int, tuple[datetime, int]] = {}
    checkout: dict[int, date] = {}
    ordered: dict[int, date] = {}
    for r in await _rows("SELECT id, contact_id, kind, occurred_at FROM shop_events"):
        at = r["occurred_at"]
        at = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        c, day = r["contact_id"], at.astimezone(tz).date()
        if c not in first or (at, r["id"]) < first[c]:
            first[c] = (at, r["id"])
        if r["kind"] in ("checkout_started", "checkout_updated", "order_placed"):
            checkout[c] = min(day, checkout.get(c, day))
        if r["kind"] == "order_placed":
            ordered[c] = min(day, ordered.get(c, day))
    entered = [c for c, (at, _) in first.items() if f.start <= at.astimezone(tz).date() <= f.end]
    n_checkout = sum(1 for c in entered if c in checkout and checkout[c] <= f.end)
    n_ordered = sum(1 for c in entered if c in ordered and ordered[c] <= f.end)
    return {"entered": len(entered), "checkout": n_checkout, "ordered": n_ordered,
            "conversion": _share(n_ordered, len(entered)),
            "checkout_rate": _share(n_checkout, len(entered)),
            "order_rate": _share(n_ordered, n_checkout)}


def _cents(total: object) -> int:
    try:
        amount = Decimal(str(total if total is not None else 0).replace(",", ""))
    except InvalidOperation:
        return 0
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def naive_revenue(f: Filters, tz: ZoneInfo) -> dict[str, Any]:
    lo, hi = _bounds(f, tz)
    cents = orders = 0
    for r in await _rows("SELECT payload FROM shop_events WHERE kind = 'order_placed' AND "
                         "occurred_at >= ? AND occurred_at < ?", lo, hi):
        payload = r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"])
        cents += _cents(payload.get("total"))
        orders += 1
    aov = (Decimal(cents) / orders / 100).quantize(CENT, rounding=ROUND_HALF_UP) \
        if orders else None
    return {"orders": orders, "revenue": (Decimal(cents) / 100).quantize(CENT), "aov": aov}


@dataclass(frozen=True)
class Naive:
    """A naive computation, the report keys it may stand for (the first registered one is
    used) and, per naive figure, the report figures that must equal it (every one of them
    the report has; at least one)."""

    fn: Callable[[Filters, ZoneInfo], Awaitable[dict[str, Any]]]
    reports: tuple[str, ...]
    figures: dict[str, tuple[str, ...]]


NAIVE = [
    Naive(naive_overview, ("inbox-overview",), {
        k: (k,) for k in ("opened", "resolved", "messages_in", "messages_out")}),
    Naive(naive_response, ("response-times",), {
        "frt_median": ("frt_cal_median", "frt_biz_median"),
        "frt_p90": ("frt_cal_p90", "frt_biz_p90"),
        "res_median": ("res_cal_median", "res_biz_median"),
        "res_p90": ("res_cal_p90", "res_biz_p90")}),
    Naive(naive_funnel, ("funnel",), {
        k: (k,) for k in ("entered", "checkout", "ordered", "conversion", "checkout_rate",
                          "order_rate")}),
    Naive(naive_revenue, ("revenue",), {k: (k,) for k in ("orders", "revenue", "aov")}),
]


def same(a: Any, b: Any, kind: str) -> bool:
    """Equal as a reader sees it: seconds to the second, money to the cent."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, int | float | Decimal) and isinstance(b, int | float | Decimal):
        x, y = float(a), float(b)
        tolerance = {"seconds": 0.5, "money": 0.005}.get(kind, 1e-9 * max(1.0, abs(x)))
        return abs(x - y) <= tolerance + 1e-9
    return bool(a == b)


def check(naive: Naive, report: Report, got: dict[str, Any], prev: dict[str, Any]) -> int:
    """Print MISMATCH for every figure that differs; return how many did."""
    bad = 0
    keys = {fig.key: fig for fig in report.figures}
    for name, candidates in naive.figures.items():
        found = [keys[k] for k in candidates if k in keys]
        if not found:
            print(f"  MISMATCH {report.key}: no figure for naive {name!r} (looked for "
                  f"{candidates}; the report has {sorted(keys)}): update NAIVE")
            bad += 1
        for fig in found:
            for what, mine, theirs in (("value", got[name], fig.value),
                                       ("previous", prev[name], fig.previous)):
                if what == "previous" and theirs is None and mine is not None:
                    continue  # the report does not compare this figure
                if not same(mine, theirs, fig.kind):
                    print(f"  MISMATCH {report.key} {report.filters.days}d {fig.key} {what}: "
                          f"report {theirs!r}, naive {mine!r}")
                    bad += 1
    return bad
