"""Ingest throughput: signed inbound messages over real HTTP at a fixed concurrency.

Runs the same load against (1) a bare aiohttp handler that answers 202 without work and
(2) Switchboard on a fresh SQLite database (per durability mode), all started the same way
(a subprocess of this Python), alternating over several rounds, and prints median msgs/s,
p50/p99 acknowledgement latency and the throughput ratio. Target: >= 0.6.

    python bench/ingest.py [--messages 3000] [--concurrency 16] [--rounds 3]

``--outbox`` instead measures what the transactional outbox costs on the ingest path:
Switchboard without the followup row in the ingest transaction (``bench/outbox_server.py
--no-followups``, the baseline) and with it (as shipped: the row, and the worker that
claims, runs and deletes it), alternating over the rounds, on SQLite and, with
``--postgres``, on a throwaway PostgreSQL cluster (Debian's, as the tests start it).

    python bench/ingest.py --outbox [--postgres] [--messages 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import api_account, pct, post_load, start, stop, summary  # noqa: E402
from channels.signing import sign  # noqa: E402


async def load(port: int, account: str, bodies: list[tuple[bytes, str]],
               concurrency: int) -> tuple[float, list[float]]:
    return await post_load(f"http://127.0.0.1:{port}/api/v1/inbound/{account}",
                           [(b, {"X-Switchboard-Signature": sig}) for b, sig in bodies],
                           concurrency)


def bodies(secret: str, n: int, prefix: str) -> list[tuple[bytes, str]]:
    out = []
    for i in range(n):
        raw = json.dumps({"external_id": f"{prefix}-{i}",
                          "contact": {"external_id": f"cust-{i % 500}", "name": f"C {i % 500}"},
                          "text": f"Hello, where is order #{i}? Cảm ơn / ขอบคุณ / Dziękuję"}
                         ).encode()
        out.append((raw, sign(secret, raw)))
    return out


async def measure(port: int, account: str, secret: str, n: int, c: int, label: str
                  ) -> tuple[float, list[float]]:
    await load(port, account, bodies(secret, 200, f"warm-{label}"), c)
    elapsed, lat = await load(port, account, bodies(secret, n, label), c)
    rate = n / elapsed
    print(f"{label:>11}: {rate:8.0f} msgs/s  {summary(lat)}")
    return rate, lat


def run_baseline(n: int, c: int) -> tuple[float, list[float]]:
    proc, port, _ = start(["bench/baseline_server.py"])
    try:
        return asyncio.run(measure(port, "1", "x", n, c, "baseline"))
    finally:
        stop(proc)


def run_switchboard(n: int, c: int, synchronous: str) -> tuple[float, list[float]]:
    proc, port, log = start(["run.py", "serve"], {"SWITCHBOARD_SQLITE_SYNCHRONOUS": synchronous})
    try:
        account, secret = api_account(log)
        return asyncio.run(measure(port, account, secret, n, c, f"sqlite-{synchronous}"))
    finally:
        stop(proc)


def run_outbox(n: int, c: int, followups: bool, db: str, env: dict[str, str]
               ) -> tuple[float, list[float]]:
    args = ["bench/outbox_server.py"] + ([] if followups else ["--no-followups"])
    proc, port, log = start(args, env)
    try:
        account, secret = api_account(log)
        label = f"{db}-{'outbox' if followups else 'none'}"
        return asyncio.run(measure(port, account, secret, n, c, label))
    finally:
        stop(proc)


def outbox(args: argparse.Namespace) -> None:
    """The followup row's cost, with and without it, interleaved, per database."""
    pg = None
    if args.postgres:
        from tests.conftest import Postgres

        pg = Postgres()
        pg.start()
    try:
        dbs = ["sqlite"] + (["postgres"] if pg else [])
        runs: dict[tuple[str, bool], list[tuple[float, list[float]]]] = {
            (d, f): [] for d in dbs for f in (False, True)}
        for r in range(args.rounds):
            for db in dbs:
                # alternate which side goes first, so a drift in load hits both alike
                for followups in ((False, True) if r % 2 == 0 else (True, False)):
                    env = {"SWITCHBOARD_SQLITE_SYNCHRONOUS": "FULL"}
                    if db == "postgres" and pg is not None:
                        env["SWITCHBOARD_DATABASE_URL"] = pg.create_db()
                    runs[(db, followups)].append(
                        run_outbox(args.messages, args.concurrency, followups, db, env))
    finally:
        if pg is not None:
            pg.stop()
    print(f"\nmedians over {args.rounds} rounds, {args.messages} messages, "
          f"concurrency {args.concurrency}")
    for db in dbs:
        med = {}
        for followups in (False, True):
            rs = runs[(db, followups)]
            med[followups] = rate = statistics.median(r for r, _ in rs)
            p50 = statistics.median(pct(lat, 0.5) for _, lat in rs)
            p99 = statistics.median(pct(lat, 0.99) for _, lat in rs)
            print(f"{db:<8} {'with followups' if followups else 'without (baseline)':<19}: "
                  f"{rate:7.0f} msgs/s  p50 {p50 * 1000:.2f} ms  p99 {p99 * 1000:.2f} ms")
        print(f"{db:<8} ratio with/without: {med[True] / med[False]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--synchronous", default="FULL,NORMAL",
                    help="SQLite synchronous modes to measure, comma separated")
    ap.add_argument("--outbox", action="store_true",
                    help="measure ingest without and with the followup row instead")
    ap.add_argument("--postgres", action="store_true",
                    help="with --outbox: also on a throwaway PostgreSQL cluster")
    args = ap.parse_args()
    if args.outbox:
        outbox(args)
        return
    modes = [m.strip().upper() for m in args.synchronous.split(",") if m.strip()]
    base: list[tuple[float, list[float]]] = []
    ours: dict[str, list[tuple[float, list[float]]]] = {m: [] for m in modes}
    # Alternate the runs so drifting machine load hits both sides alike; report medians.
    for _ in range(args.rounds):
        base.append(run_baseline(args.messages, args.concurrency))
        for mode in modes:
            ours[mode].append(run_switchboard(args.messages, args.concurrency, mode))
    b_rate = statistics.median(r for r, _ in base)
    b_p50 = statistics.median(pct(lat, 0.5) for _, lat in base)
    b_p99 = statistics.median(pct(lat, 0.99) for _, lat in base)
    print(f"\nmedians over {args.rounds} rounds, {args.messages} messages, "
          f"concurrency {args.concurrency}")
    print(f"baseline (bare aiohttp 202): {b_rate:7.0f} msgs/s  p50 {b_p50 * 1000:.2f} ms  "
          f"p99 {b_p99 * 1000:.2f} ms")
    for mode, runs in ours.items():
        rate = statistics.median(r for r, _ in runs)
        p50 = statistics.median(pct(lat, 0.5) for _, lat in runs)
        p99 = statistics.median(pct(lat, 0.99) for _, lat in runs)
        print(f"switchboard sqlite {mode:<6}:   {rate:7.0f} msgs/s  p50 {p50 * 1000:.2f} ms  "
              f"p99 {p99 * 1000:.2f} ms  ratio {rate / b_rate:.2f} (target >= 0.6)")


if __name__ == "__main__":
    main()
