"""Inbox list speed over 100,000 seeded conversations: server time per page.

Seeds a fresh SQLite shop (migrations, then bulk rows: contacts, identities,
conversations across channels and statuses, labels), starts the server, and reads the
``Server-Timing`` header of the open inbox filtered by channel, through the JSON API and the
staff page. The baseline is ``/healthz`` (one trivial query) measured the same way in the same
run. Target: <= 100 ms per page.

    python bench/inbox_list.py [--conversations 100000] [--requests 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, free_port, pct, wait_port  # noqa: E402

KINDS = ["webchat", "api", "telegram", "email"]
STATUSES = ["open"] * 3 + ["pending"] + ["snoozed"] + ["resolved"] * 5


def cli(data: Path, *args: str) -> str:
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data), "SWITCHBOARD_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout


def seed(data: Path, n: int) -> None:
    cli(data, "migrate")
    db = sqlite3.connect(data / "switchboard.sqlite3")
    now = datetime.now(UTC)
    ts = lambda d: str(d)  # noqa: E731  (the ORM's SQLite format)
    rnd = random.Random(7)
    db.executemany("INSERT INTO channel_accounts (id, kind, name, secret, callback_url, "
                   "settings, enabled, created_at) VALUES (?, ?, ?, 'x', '', '{}', 1, ?)",
                   [(i + 1, k, k, ts(now)) for i, k in enumerate(KINDS)])
    db.executemany("INSERT INTO contacts (id, name, email, attributes, tags, created_at, "
                   "updated_at) VALUES (?, ?, ?, '{}', '[]', ?, ?)",
                   [(i, f"Customer {i}", f"c{i}@shop.test", ts(now), ts(now))
                    for i in range(1, n + 1)])
    convs, idents = [], []
    for i in range(1, n + 1):
        acct = rnd.randrange(len(KINDS))
        when = now - timedelta(minutes=rnd.randrange(60 * 24 * 365))
        status = rnd.choice(STATUSES)
        idents.append((i, acct + 1, f"ext-{i}", ts(now)))
        convs.append((i, acct + 1, KINDS[acct], i, status, rnd.randrange(3), ts(when),
                      f"Question {i} about an order", ts(when),
                      ts(when) if status == "resolved" else None))
    db.executemany("INSERT INTO identities (contact_id, channel_account_id, external_id, "
                   "created_at) VALUES (?, ?, ?, ?)", idents)
    db.executemany("INSERT INTO conversations (id, channel_account_id, channel_kind, "
                   "contact_id, status, unread_count, last_message_at, last_message_preview, "
                   "created_at, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", convs)
    db.executemany("INSERT INTO labels (id, name, color) VALUES (?, ?, '#999')",
                   [(1, "vip"), (2, "refund"), (3, "shipping")])
    db.executemany("INSERT INTO conversation_labels (conversations_id, label_id) VALUES (?, ?)",
                   [(i, rnd.randrange(1, 4)) for i in range(1, n + 1, 7)])
    db.commit()
    db.execute("ANALYZE")
    db.close()


async def timings(url: str, headers: dict[str, str], n: int,
                  session: aiohttp.ClientSession) -> list[float]:
    out = []
    for _ in range(n):
        async with session.get(url, headers=headers) as resp:
            await resp.read()
            assert resp.status == 200, (url, resp.status)
            m = re.search(r"dur=([\d.]+)", resp.headers["Server-Timing"])
            out.append(float(m.group(1)))  # type: ignore[union-attr]
    return out


async def measure(port: int, token: str, requests: int) -> None:
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {token}"}
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        await timings(f"{base}/healthz", {}, 5, s)  # warm up
        health = await timings(f"{base}/healthz", {}, requests, s)
        api = await timings(f"{base}/api/v1/conversations?status=open&channel=api", auth,
                            requests, s)
        api_p50 = await timings(f"{base}/api/v1/conversations?status=open&channel=api&page=50",
                                auth, requests // 2, s)
        async with s.get(f"{base}/login") as r:
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', await r.text()).group(1)  # type: ignore[union-attr]
        async with s.post(f"{base}/login", data={"email": "bench@shop.test",
                                                 "password": "bench-password",
                                                 "csrf_token": csrf}) as r:
            assert r.status == 200
        page = await timings(f"{base}/inbox?status=open&channel=api", {}, requests, s)
    def row(name: str, v: list[float]) -> str:
        return (f"{name:<44} p50 {pct(v, 0.5):7.2f} ms  p95 {pct(v, 0.95):7.2f} ms  "
                f"x{pct(v, 0.5) / max(pct(health, 0.5), 1e-3):6.1f} baseline  "
                f"target<=100ms: {'ok' if pct(v, 0.95) <= 100 else 'MISSED'}")
    print(f"{'baseline /healthz':<44} p50 {pct(health, 0.5):7.2f} ms  "
          f"p95 {pct(health, 0.95):7.2f} ms")
    print(row("API open, channel=api, page 1", api))
    print(row("API open, channel=api, page 50", api_p50))
    print(row("staff page /inbox open, channel=api", page))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=60)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="sb-bench-list-")) / "data"
    t0 = time.time()
    seed(data, args.conversations)
    token = cli(data, "user", "add", "--email", "bench@shop.test", "--role", "admin",
                "--password", "bench-password").strip().splitlines()[-1]
    print(f"seeded {args.conversations} conversations in {time.time() - t0:.1f} s")
    port = free_port()
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data), "SWITCHBOARD_PORT": str(port),
           "SWITCHBOARD_LOG_LEVEL": "WARNING", "SWITCHBOARD_SENTIMENT_ENABLED": "false"}
    proc = subprocess.Popen([sys.executable, "run.py", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        asyncio.run(measure(port, token, args.requests))
    finally:
        proc.terminate()
        proc.wait(20)


if __name__ == "__main__":
    main()
