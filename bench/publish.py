"""Publishing lateness: 10,000 posts due within one minute, published to the fake Bot API.

The baseline, in the same run, is a bare asyncio scheduler that sends the same messages
to the same fake at their due times (no database, no claims): the lateness any scheduler
pays on this machine. Switchboard runs as a real server (SQLite, the default) with the
posts inserted straight into its tables; lateness is when the fake received a post minus
when it was due.

    python bench/publish.py [--posts 10000] [--window 60] [--synchronous FULL|NORMAL]

Target (issue 4): p99 lateness <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import admin_token, pct, start, stop  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

TOKEN = "6060:bench"


def report(label: str, lateness: list[float], elapsed: float, n: int) -> float:
    p50, p99 = pct(lateness, 0.5), pct(lateness, 0.99)
    print(f"{label:<11} {n} posts  lateness p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms"
          f"  max {max(lateness) * 1000:7.1f} ms  {n / elapsed:6.0f} posts/s")
    return p99


async def baseline(fake_url: str, dues: list[float]) -> tuple[list[float], float]:
    """Send each message at its due time with a bare asyncio scheduler."""
    lateness: list[float] = []
    gate = asyncio.Semaphore(8)
    async with aiohttp.ClientSession() as http:
        async def one(i: int, due: float) -> None:
            await asyncio.sleep(max(0.0, due - time.time()))
            async with gate, http.post(f"{fake_url}/bot{TOKEN}/sendMessage",
                                       json={"chat_id": "@base", "text": f"b{i}"}) as r:
                await r.read()
            lateness.append(time.time() - due)
        t0 = time.time()
        await asyncio.gather(*(one(i, d) for i, d in enumerate(dues)))
    return lateness, time.time() - t0


def insert_posts(db: Path, account_id: int, dues: list[float]) -> None:
    conn = sqlite3.connect(db, timeout=30)
    now = str(datetime.now(UTC))
    with conn:
        for i, due in enumerate(dues):
            cur = conn.execute(
                "INSERT INTO posts (text, media, status, due_at, attempts, error, created_at, "
                "updated_at) VALUES (?, '[]', 'scheduled', ?, 0, '', ?, ?)",
                (f"bench post {i}", str(datetime.fromtimestamp(due, UTC)), now, now))
            conn.execute(
                "INSERT INTO post_variants (post_id, channel_account_id, network, target, "
                "state, error, attempts) VALUES (?, ?, 'telegram', '@bench', 'waiting', '', 0)",
                (cur.lastrowid, account_id))
    conn.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=10_000)
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    args = ap.parse_args()
    fake = FakeTelegram()
    bot = fake.add_bot(TOKEN)
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    n, window = args.posts, args.window
    try:
        t0 = time.time() + 3
        dues = [t0 + window * i / n for i in range(n)]
        base_lat, base_elapsed = await baseline(fake_url, dues)

        proc, port, log = start(["run.py", "serve"],
                                {"SWITCHBOARD_SQLITE_SYNCHRONOUS": args.synchronous})
        try:
            token = await admin_token(log)
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/channels", method="POST",
                data=json.dumps({"kind": "telegram", "name": "bench", "settings": {
                    "token": TOKEN, "api_base_url": fake_url}}).encode(),
                headers={"Authorization": f"Bearer {token}",
                         "Content-Type": "application/json"})
            # The fake runs on this loop: call the server from a thread.
            body = await asyncio.to_thread(lambda: urllib.request.urlopen(req).read())
            account = json.loads(body)
            db = log.parent / "data" / "switchboard.sqlite3"
            t0 = time.time() + 15  # time to insert before the first is due
            dues = [t0 + window * i / n for i in range(n)]
            await asyncio.to_thread(insert_posts, db, account["id"], dues)
            deadline = dues[-1] + 120
            while time.time() < deadline:
                if sum(1 for s in bot.sent if s["chat_id"] == "@bench") >= n:
                    break
                await asyncio.sleep(0.5)
            got = {s["text"]: s["received_at"] for s in bot.sent if s["chat_id"] == "@bench"}
        finally:
            stop(proc)
    finally:
        await runner.cleanup()
    lateness = [got[f"bench post {i}"] - due for i, due in enumerate(dues)
                if f"bench post {i}" in got]
    print(f"\n{n} posts due within {window:.0f} s, against the fake Bot API")
    base_p99 = report("baseline", base_lat, base_elapsed, n)
    if len(lateness) < n:
        print(f"switchboard: only {len(lateness)} of {n} published in time")
        return
    ours_p99 = report("switchboard", lateness, max(got.values()) - dues[0], n)
    print(f"p99 lateness {ours_p99:.3f} s (target <= 1 s: "
          f"{'met' if ours_p99 <= 1.0 else 'NOT met'}); ratio to baseline p99 "
          f"{ours_p99 / max(base_p99, 1e-6):.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
