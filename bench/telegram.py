"""Telegram webhook throughput: updates/s through POST /api/v1/telegram/{id}/webhook.

Starts a local fake Bot API (for the getMe check when the bot account is created), then
runs the same load of private-chat updates against (1) a bare aiohttp handler that answers
``{"ok": true}`` without work and (2) Switchboard on a fresh SQLite database, alternating
over rounds, and prints median updates/s, p50/p99 latency and the ratio.

    python bench/telegram.py [--updates 3000] [--concurrency 16] [--rounds 3] [--bot]

Without ``--bot`` the customer bot is off, so this measures the webhook path (parse,
ingest, rules, notifications); with it, every update is also answered (greeting and
menu through the outbox to the fake API), which is what a shop with the bot on pays.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import admin_token, pct, post_load, start, stop, summary  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

TOKEN = "5550001:bench"


def updates(n: int, start_id: int) -> list[bytes]:
    out = []
    for i in range(n):
        user = 10_000 + i % 500
        out.append(json.dumps({"update_id": start_id + i, "message": {
            "message_id": start_id + i, "date": 1_790_000_000,
            "chat": {"id": user, "type": "private", "first_name": f"C{user}"},
            "from": {"id": user, "is_bot": False, "first_name": f"C{user}",
                     "language_code": "vi"},
            "text": f"Đơn hàng #{i} của tôi đâu? / where is my order?"}}).encode())
    return out


async def load(url: str, secret: str, bodies: list[bytes], concurrency: int
               ) -> tuple[float, list[float]]:
    header = {"X-Telegram-Bot-Api-Secret-Token": secret}
    return await post_load(url, [(b, header) for b in bodies], concurrency, ok=(200,))


async def measure(url: str, secret: str, n: int, c: int, label: str, round_no: int
                  ) -> tuple[float, list[float]]:
    base = 1_000_000 * (round_no + 1)
    await load(url, secret, updates(200, base), c)
    elapsed, lat = await load(url, secret, updates(n, base + 1000), c)
    print(f"{label:>11}: {n / elapsed:8.0f} updates/s  {summary(lat)}")
    return n / elapsed, lat


async def run_baseline(n: int, c: int, r: int) -> tuple[float, list[float]]:
    proc, port, _ = start(["bench/baseline_server.py"])
    try:
        return await measure(f"http://127.0.0.1:{port}/api/v1/telegram/1/webhook", "x", n, c,
                             "baseline", r)
    finally:
        stop(proc)


async def run_switchboard(n: int, c: int, r: int, fake_url: str, bot: bool
                          ) -> tuple[float, list[float]]:
    proc, port, log = start(["run.py", "serve"], {
        "SWITCHBOARD_PUBLIC_URL": "https://bench.test",
        "SWITCHBOARD_BOT_CHANNELS": "telegram" if bot else ""})
    try:
        token = await admin_token(log)
        async with aiohttp.ClientSession() as s:
            async with s.post(f"http://127.0.0.1:{port}/api/v1/channels",
                              headers={"Authorization": f"Bearer {token}"},
                              json={"kind": "telegram", "name": "bench", "settings": {
                                  "token": TOKEN, "api_base_url": fake_url,
                                  "mode": "webhook"}}) as resp:
                account: dict[str, Any] = await resp.json()
                assert resp.status == 201, account
        url = f"http://127.0.0.1:{port}/api/v1/telegram/{account['id']}/webhook"
        return await measure(url, account["secret"], n, c, "switchboard", r)
    finally:
        stop(proc)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bot", action="store_true",
                    help="let the customer bot answer every update (greeting and menu)")
    args = ap.parse_args()
    fake = FakeTelegram()
    fake.add_bot(TOKEN)
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    base: list[tuple[float, list[float]]] = []
    ours: list[tuple[float, list[float]]] = []
    try:
        for r in range(args.rounds):  # alternate, so drifting machine load hits both alike
            base.append(await run_baseline(args.updates, args.concurrency, r))
            ours.append(await run_switchboard(args.updates, args.concurrency, r, fake_url,
                                              args.bot))
    finally:
        await runner.cleanup()
    print(f"\nmedians over {args.rounds} rounds, {args.updates} updates, "
          f"concurrency {args.concurrency}")
    mine = "switchboard + bot" if args.bot else "switchboard sqlite FULL"
    for label, runs in (("baseline (bare aiohttp)", base), (mine, ours)):
        rate = statistics.median(x for x, _ in runs)
        p50 = statistics.median(pct(lat, 0.5) for _, lat in runs)
        p99 = statistics.median(pct(lat, 0.99) for _, lat in runs)
        print(f"{label:<24} {rate:7.0f} updates/s  p50 {p50 * 1000:.2f} ms  "
              f"p99 {p99 * 1000:.2f} ms")
    ratio = statistics.median(x for x, _ in ours) / statistics.median(x for x, _ in base)
    print(f"ratio {ratio:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
