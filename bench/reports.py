"""Reports speed (issue 21): every registered report, 30 and 365 days, SQLite and PostgreSQL.

For each database: seed a year of a busy shop (bench/reports_seed.py, cached by
bench/reports_db.py), open it as the server does, build the roll-ups, then time each report
of :data:`bot.services.reports.REPORTS` (filled by ``bot.services.reports.catalog``) for
the 30 and the 365 days ending today, ``--rounds`` times, interleaved (each round runs every
report x range, and the naive computations, in a shuffled order). Prints p50 and p99 per
report and range, and the ratio to a naive computation over the raw rows measured in the
same run, then PASS/FAIL against the goals: every report <= 300 ms p99, the dashboard <=
100 ms p99. The exit code is 0 whatever the figures (a bench); the last line sums it up.

What a module of ``bot/services/reports/`` may expose for this bench (found with pkgutil,
by name; nothing else is imported by name):

- ``def configure(settings: Settings) -> None``: called once per database, after it is
  opened and before anything else (office hours, timezone, SLA targets, ...).
- ``async def refresh(limit: int | None = None) -> int``: brings its roll-ups up to date
  with the rows written since the last call and returns how many items it processed; the
  bench calls it (no argument) until it returns 0 and prints how long that took.
- ``async def build_for_bench() -> object``: builds the dashboard as its page does (for
  the role that sees the most tiles); timed as "dashboard" with the 100 ms goal.

The naive computations (below, ``NAIVE``) read messages, conversations and shop_events
directly, for the same headline figures as the inbox overview, the response times and the
funnel reports. Their figures are compared with the reports' (value and previous period,
both ranges) and any difference prints MISMATCH. The naive definitions, in UTC days:
opened = conversations created in the range; resolved = resolved_at in the range; messages
in/out = messages created in the range; first response = first outbound not written by
the bot or a rule, after the first inbound, in conversations created in the range
(median: statistics.median; p90: nearest rank); resolution time = resolved_at - created_at
of conversations resolved in the range; funnel = shop events in the range by kind,
revenue = sum of order totals, average order value = revenue / orders.

    python bench/reports.py [--scale 1] [--seed 7] [--rounds 30] [--naive-rounds 5]
                            [--db sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import inspect
import json
import math
import pkgutil
import random
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct  # noqa: E402
from bench.reports_db import CACHE, Cluster, drop, prepare  # noqa: E402
from bot.services.reports import Filters, Report  # noqa: E402

GOAL_REPORT_MS = 300.0
GOAL_DASHBOARD_MS = 100.0
RANGES = (30, 365)

# --- the naive way ---------------------------------------------------------------------------


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


def _dt(v: Any) -> datetime:
    return v if isinstance(v, datetime) else datetime.fromisoformat(str(v))


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _p90(xs: list[float]) -> float | None:
    return sorted(xs)[max(0, math.ceil(0.9 * len(xs)) - 1)] if xs else None


async def naive_overview(f: Filters, tz: ZoneInfo) -> dict[str, Any]:
    lo, hi = _bounds(f, tz)
    opened = await _rows("SELECT COUNT(*) AS n FROM conversations "
                         "WHERE created_at >= ? AND created_at < ?", lo, hi)
    resolved = await _rows("SELECT COUNT(*) AS n FROM conversations "
                           "WHERE resolved_at >= ? AND resolved_at < ?", lo, hi)
    msgs = {r["direction"]: r["n"] for r in await _rows(
        "SELECT direction, COUNT(*) AS n FROM messages WHERE created_at >= ? "
        "AND created_at < ? GROUP BY direction", lo, hi)}
    return {"opened": opened[0]["n"], "resolved": resolved[0]["n"],
            "messages_in": msgs.get("in", 0), "messages_out": msgs.get("out", 0)}


async def naive_response(f: Filters, tz: ZoneInfo) -> dict[str, Any]:
    lo, hi = _bounds(f, tz)
    rows = await _rows("SELECT m.conversation_id AS c, m.direction AS d, m.origin AS o, "
                       "m.created_at AS t FROM messages m JOIN conversations c ON "
                       "c.id = m.conversation_id WHERE c.created_at >= ? AND c.created_at < ? "
                       "ORDER BY m.conversation_id, m.id", lo, hi)
    first: dict[int, datetime] = {}
    frt: dict[int, float] = {}
    for r in rows:
        c = r["c"]
        if r["d"] == "in" and c not in first:
            first[c] = _dt(r["t"])
        elif r["d"] == "out" and r["o"] not in ("bot", "rule") and c in first \
                and c not in frt:
            frt[c] = (_dt(r["t"]) - first[c]).total_seconds()
    res = [(_dt(r["r"]) - _dt(r["s"])).total_seconds() for r in await _rows(
        "SELECT created_at AS s, resolved_at AS r FROM conversations "
        "WHERE resolved_at >= ? AND resolved_at < ?", lo, hi)]
    times = list(frt.values())
    return {"frt_median": _median(times), "frt_p90": _p90(times),
            "resolution_median": _median(res), "resolution_p90": _p90(res)}


async def naive_funnel(f: Filters, tz: ZoneInfo) -> dict[str, Any]:
    lo, hi = _bounds(f, tz)
    counts = {"signup": 0, "checkout_started": 0, "order_placed": 0}
    revenue = 0.0
    for r in await _rows("SELECT kind, payload FROM shop_events "
                         "WHERE occurred_at >= ? AND occurred_at < ?", lo, hi):
        if r["kind"] in counts:
            counts[r["kind"]] += 1
        if r["kind"] == "order_placed":
            payload = r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"])
            revenue += float(str(payload.get("total") or 0).replace(",", ""))
    orders = counts["order_placed"]
    return {"signups": counts["signup"], "checkouts": counts["checkout_started"],
            "orders": orders, "revenue": round(revenue, 2),
            "aov": round(revenue / orders, 2) if orders else None}


@dataclass(frozen=True)
class Naive:
    """A naive computation, the report keys it may stand for (the first registered one
    is used) and, per naive figure, the report figure keys it may be called."""

    fn: Callable[[Filters, ZoneInfo], Awaitable[dict[str, Any]]]
    reports: tuple[str, ...]
    figures: dict[str, tuple[str, ...]]


NAIVE = [
    Naive(naive_overview, ("inbox_overview", "overview", "inbox", "conversations"), {
        "opened": ("opened", "conversations_opened", "conversations"),
        "resolved": ("resolved", "conversations_resolved"),
        "messages_in": ("messages_in", "inbound", "in"),
        "messages_out": ("messages_out", "outbound", "out")}),
    Naive(naive_response, ("response_times", "inbox_response", "response", "times"), {
        "frt_median": ("frt_median", "first_response_median", "first_response"),
        "frt_p90": ("frt_p90", "first_response_p90"),
        "resolution_median": ("resolution_median", "resolution_time_median",
                              "resolution"),
        "resolution_p90": ("resolution_p90", "resolution_time_p90")}),
    Naive(naive_funnel, ("funnel", "shop_funnel", "funnel_revenue", "revenue"), {
        "signups": ("signups", "signup"), "checkouts": ("checkouts", "checkout_started",
                                                        "checkout"),
        "orders": ("orders", "order_placed"), "revenue": ("revenue",),
        "aov": ("aov", "average_order_value")}),
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
        fig = next((keys[k] for k in candidates if k in keys), None)
        if fig is None:
            print(f"  MISMATCH {report.key}: no figure for naive {name!r} (looked for "
                  f"{candidates}; the report has {sorted(keys)}): add its key to NAIVE")
            bad += 1
            continue
        for what, mine, theirs in (("value", got[name], fig.value),
                                   ("previous", prev[name], fig.previous)):
            if what == "previous" and theirs is None:
                continue  # the report does not compare this figure
            if not same(mine, theirs, fig.kind):
                print(f"  MISMATCH {report.key} {report.filters.days}d {fig.key} {what}: "
                      f"report {theirs!r}, naive {mine!r}")
                bad += 1
    return bad


# --- discovery and timing --------------------------------------------------------------------

def service_modules() -> list[ModuleType]:
    import bot.services.reports as pkg
    import bot.services.reports.catalog  # noqa: F401  (fills REPORTS)
    return [importlib.import_module(m.name)
            for m in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + ".")]


async def refresh_all(modules: list[ModuleType], kind: str) -> None:
    total = time.perf_counter()
    for mod in modules:
        fn = getattr(mod, "refresh", None)
        if fn is None:
            continue
        if not inspect.iscoroutinefunction(fn):
            print(f"[{kind}] refresh {mod.__name__}: NOT CALLED, it is not an async def")
            continue
        t0, items, calls = time.perf_counter(), 0, 0
        while True:
            done = await fn()
            calls += 1
            items += done
            if done == 0:
                break
            if calls >= 100_000:
                print(f"[{kind}] refresh {mod.__name__}: GAVE UP, still not 0 after "
                      f"{calls:,} calls")
                break
        print(f"[{kind}] refresh {mod.__name__}: {items:,} items in {calls} calls, "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    print(f"[{kind}] roll-ups built in {time.perf_counter() - total:.1f} s", flush=True)


Task = tuple[str, str, Callable[[], Awaitable[Any]]]


async def measure(kind: str, modules: list[ModuleType], tz: ZoneInfo, rounds: int,
                  naive_rounds: int, seed: int
                  ) -> tuple[list[str], list[tuple[str, bool]], int]:
    from bot.services.reports import REPORTS
    today = datetime.now(tz).date()
    ranges = {f"{d}d": Filters(start=today - timedelta(days=d - 1), end=today)
              for d in RANGES}
    tasks: list[Task] = []
    naive_tasks: list[Task] = []
    for key, spec in sorted(REPORTS.items()):
        for label, f in ranges.items():
            tasks.append((key, label, functools.partial(spec.build, f)))
    for mod in modules:
        fn = getattr(mod, "build_for_bench", None)
        if fn is not None and not inspect.iscoroutinefunction(fn):
            print(f"[{kind}] {mod.__name__}.build_for_bench: NOT TIMED, not an async def")
        elif fn is not None:
            tasks.append((f"dashboard ({mod.__name__.rsplit('.', 1)[1]})", "-", fn))
    mismatches = 0
    for nv in NAIVE:
        found = next((k for k in nv.reports if k in REPORTS), None)
        if found is None:
            print(f"  MISMATCH: no registered report for {nv.fn.__name__} (looked for "
                  f"{nv.reports}; registered {sorted(REPORTS)}): add its key to NAIVE")
            mismatches += 1
            continue
        for label, f in ranges.items():
            naive_tasks.append((found, label, functools.partial(nv.fn, f, tz)))
            try:  # the check, before the clock runs
                report = await REPORTS[found].build(f)
                mismatches += check(nv, report, await nv.fn(f, tz),
                                    await nv.fn(f.previous(), tz))
            except Exception as e:  # noqa: BLE001  (a bench reports it and goes on)
                print(f"  MISMATCH {found} {label}: could not compare: {type(e).__name__}: {e}")
                mismatches += 1
    times: dict[tuple[str, str], list[float]] = {}
    naive: dict[tuple[str, str], list[float]] = {}
    errors: dict[tuple[str, str, bool], str] = {}
    rnd = random.Random(seed)
    for r in range(rounds + 1):  # round 0 warms up, untimed
        batch = [(t, times) for t in tasks]
        if 0 < r <= naive_rounds:
            batch += [(t, naive) for t in naive_tasks]
        rnd.shuffle(batch)
        for (name, label, fn), into in batch:
            if (name, label, into is naive) in errors:
                continue
            t0 = time.perf_counter()
            try:
                await fn()
            except Exception as e:  # noqa: BLE001  (a bench reports it and goes on)
                errors[(name, label, into is naive)] = f"{type(e).__name__}: {e}"
                continue
            if r:
                into.setdefault((name, label), []).append(time.perf_counter() - t0)
    lines = [f"[{kind}] {'report':<34} {'range':>5} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'naive p50':>10} {'naive/rep':>9}  goal"]
    verdicts: list[tuple[str, bool]] = []
    for name, label, _ in tasks:
        goal = GOAL_DASHBOARD_MS if label == "-" else GOAL_REPORT_MS
        if (name, label, False) in errors:
            lines.append(f"[{kind}] {name:<34} {label:>5}  ERROR "
                         f"{errors[(name, label, False)]}  FAIL")
            verdicts.append((f"{kind} {name} {label}", False))
            continue
        v = times[(name, label)]
        p50, p99 = pct(v, 0.5) * 1000, pct(v, 0.99) * 1000
        base = naive.get((name, label))
        ratio = f"{pct(base, 0.5) * 1000:10.1f} {pct(base, 0.5) * 1000 / p50:8.1f}x" if base \
            else f"{'-':>10} {'-':>9}"
        ok = "PASS" if p99 <= goal else "FAIL"
        lines.append(f"[{kind}] {name:<34} {label:>5} {p50:8.1f} {p99:8.1f} {ratio}  "
                     f"<= {goal:.0f} ms {ok}")
        verdicts.append((f"{kind} {name} {label}", ok == "PASS"))
    for (name, label, is_naive), err in errors.items():
        if is_naive:
            lines.append(f"[{kind}] naive {name} {label} ERROR {err}")
    lines.append(f"[{kind}] rounds {rounds}, naive rounds {naive_rounds}")
    return lines, verdicts, mismatches


async def bench_db(kind: str, args: argparse.Namespace, cluster: Cluster
                   ) -> tuple[list[str], list[tuple[str, bool]], int]:
    from bot.core.db import close_db, open_db
    data = CACHE / "runs" / uuid.uuid4().hex[:8]
    settings = await prepare(kind, args.scale, args.seed, data, cluster)
    ctx = await open_db(settings)
    try:
        modules = service_modules()
        for mod in modules:
            configure = getattr(mod, "configure", None)
            if callable(configure):
                configure(settings)
        await refresh_all(modules, kind)
        return await measure(kind, modules, ZoneInfo(settings.shop_timezone), args.rounds,
                             args.naive_rounds, args.seed)
    finally:
        await close_db(ctx)
        await drop(settings, cluster)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--naive-rounds", type=int, default=5)
    ap.add_argument("--db", default="sqlite,postgres")
    args = ap.parse_args()

    async def run() -> None:
        cluster = Cluster()
        out: list[str] = []
        verdicts: list[tuple[str, bool]] = []
        mismatches = 0
        try:
            for kind in args.db.split(","):
                lines, ok, bad = await bench_db(kind, args, cluster)
                out += lines
                verdicts += ok
                mismatches += bad
        finally:
            cluster.stop()
        print("\n".join(out))
        failed = [name for name, ok in verdicts if not ok]
        print(f"SUMMARY reports bench (scale {args.scale:g}, {args.db}): "
              f"{len(verdicts) - len(failed)}/{len(verdicts)} PASS, {mismatches} MISMATCH"
              + (f"; failing: {', '.join(failed)}" if failed else "")
              + (" => ALL GOALS MET" if verdicts and not failed and not mismatches
                 else " => GOALS NOT MET"))
    asyncio.run(run())


if __name__ == "__main__":
    main()
