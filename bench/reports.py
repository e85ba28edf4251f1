"""Reports speed (issue 21): every registered report, 30 and 365 days, SQLite and PostgreSQL.

For each database: seed a year of a busy shop (bench/reports_seed.py, cached by
bench/reports_db.py), open it as the server does, build the roll-ups, then time each report
of :data:`bot.services.reports.REPORTS` (filled by ``bot.services.reports.catalog``) for
the 30 and the 365 days ending today, ``--rounds`` times, interleaved (each round runs every
report x range, and the naive computations, in a shuffled order). Prints p50 and p99 per
report and range, and the ratio to a naive computation over the raw rows measured in the
same run, then PASS/FAIL against the goals: every report <= 300 ms p99, the dashboard <=
100 ms p99. The exit code is 0 whatever the figures (a bench); the last line sums it up.

What a module of ``bot/services/reports/`` may expose for this bench (every module there
is imported with pkgutil and these names are looked up; nothing is imported by name):

- ``configure(...)``: called once per database, after it is opened and before anything
  else, its parameters filled from the Settings by name: ``settings`` gets the Settings,
  any other name the Settings field of that name or, failing that, ``shop_<name>`` (so
  ``configure(settings)`` and ``configure(timezone, attribution_days)`` both work).
- ``async def refresh(limit: int | None = None) -> int``: brings its roll-ups up to date
  with the rows written since the last call (from the raw rows: the bench seeds with raw
  INSERTs, as a shop upgraded to the reports has them) and returns how many items it
  processed; the bench calls it with no argument until it returns 0, and prints how long
  building the roll-ups took.
- the dashboard: ``async def build_for_bench() -> object`` if the module has one, else
  ``async def build_dashboard(user, settings)`` called with the seeded admin (every tile);
  timed as "dashboard (<module>)" against the 100 ms goal.

The naive computations (bench/reports_naive.py, whose docstring gives their definitions)
read messages, conversations and shop_events directly, for the headline figures of the
inbox overview, response times, funnel and revenue reports. Their figures are compared
with the reports' (value and previous period, both ranges, before the timing) and any
difference prints MISMATCH.

``--only`` times only the reports named (their keys, comma-separated) and/or the dashboard
(``dashboard``), with their naive computations and checks; the roll-ups are built all the
same (a report or the dashboard may read them).

    python bench/reports.py [--scale 1] [--seed 7] [--rounds 30] [--naive-rounds 5]
                            [--db sqlite,postgres] [--only dashboard,inbox_overview]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import inspect
import pkgutil
import random
import shutil
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct  # noqa: E402
from bench.reports_db import CACHE, Cluster, drop, prepare  # noqa: E402
from bench.reports_naive import NAIVE, check  # noqa: E402
from bot.services.reports import Filters  # noqa: E402
from config import Settings  # noqa: E402

GOAL_REPORT_MS = 300.0
GOAL_DASHBOARD_MS = 100.0
RANGES = (30, 365)

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


def configure(mod: ModuleType, settings: Settings) -> None:
    fn = getattr(mod, "configure", None)
    if not callable(fn):
        return
    args: dict[str, Any] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if name == "settings":
            args[name] = settings
        elif hasattr(settings, name) or hasattr(settings, f"shop_{name}"):
            args[name] = getattr(settings, name if hasattr(settings, name) else f"shop_{name}")
        elif param.default is inspect.Parameter.empty:
            print(f"  {mod.__name__}.configure: NOT CALLED, no setting for {name!r}")
            return
    fn(**args)


async def dashboard_of(mod: ModuleType, settings: Settings
                       ) -> Callable[[], Awaitable[Any]] | None:
    fn = getattr(mod, "build_for_bench", None)
    if fn is not None:
        if inspect.iscoroutinefunction(fn):
            return fn  # type: ignore[no-any-return]
        print(f"  {mod.__name__}.build_for_bench: NOT TIMED, not an async def")
        return None
    fn = getattr(mod, "build_dashboard", None)
    if fn is None or not inspect.iscoroutinefunction(fn):
        return None
    from bot.models import User
    admin = await User.filter(role="admin").order_by("id").first()
    if admin is None:
        print(f"  {mod.__name__}.build_dashboard: NOT TIMED, no admin in the database")
        return None
    return functools.partial(fn, admin, settings)


def wanted(only: str) -> Callable[[str], bool]:
    """Whether ``--only`` keeps a report key (or ``dashboard``): all of them when empty."""
    names = {n.strip() for n in only.split(",") if n.strip()}
    return lambda key: not names or key in names


async def measure(kind: str, modules: list[ModuleType], settings: Settings, rounds: int,
                  naive_rounds: int, seed: int, only: str = ""
                  ) -> tuple[list[str], list[tuple[str, bool]], int]:
    from bot.services.reports import REPORTS
    keep = wanted(only)
    tz = ZoneInfo(settings.shop_timezone)
    today = datetime.now(tz).date()
    ranges = {f"{d}d": Filters(start=today - timedelta(days=d - 1), end=today)
              for d in RANGES}
    tasks: list[Task] = []
    naive_tasks: list[Task] = []
    for key, spec in sorted(REPORTS.items()):
        if not keep(key):
            continue
        for label, f in ranges.items():
            tasks.append((key, label, functools.partial(spec.build, f)))
    for mod in modules if keep("dashboard") else []:
        fn = await dashboard_of(mod, settings)
        if fn is not None:
            tasks.append((f"dashboard ({mod.__name__.rsplit('.', 1)[1]})", "-", fn))
    mismatches = 0
    for nv in NAIVE:
        found = next((k for k in nv.reports if k in REPORTS), None)
        if (found is None and only) or (found is not None and not keep(found)):
            continue
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
            configure(mod, settings)
        await refresh_all(modules, kind)
        return await measure(kind, modules, settings, args.rounds, args.naive_rounds,
                             args.seed, args.only)
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
    ap.add_argument("--only", default="", help="report keys and/or 'dashboard', "
                    "comma-separated (default: every report and the dashboard)")
    args = ap.parse_args()
    service_modules()  # fills REPORTS
    from bot.services.reports import REPORTS
    unknown = {n.strip() for n in args.only.split(",") if n.strip()} - {*REPORTS,
                                                                         "dashboard"}
    if unknown:
        ap.error(f"--only: unknown {', '.join(sorted(unknown))} (known: dashboard, "
                 f"{', '.join(sorted(REPORTS))})")
    args.rounds = max(1, args.rounds)

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
        print(f"SUMMARY reports bench (scale {args.scale:g}, {args.db}"
              + (f", only {args.only}" if args.only else "") + "): "
              f"{len(verdicts) - len(failed)}/{len(verdicts)} PASS, {mismatches} MISMATCH"
              + (f"; failing: {', '.join(failed)}" if failed else "")
              + (" => ALL GOALS MET" if verdicts and not failed and not mismatches
                 else " => GOALS NOT MET"))
    asyncio.run(run())


if __name__ == "__main__":
    main()
