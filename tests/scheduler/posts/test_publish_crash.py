"""1,000 posts due; the server is killed with SIGKILL while publishing and restarted.

What must hold (and what Switchboard promises): no post reaches the channel twice; every
post marked published reached it exactly once; a post whose call was in flight at the
kill is marked failed with "may or may not have gone out" for a person to check (the Bot
API cannot be asked), and it reached the channel at most once. Nothing is left behind.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.slow  # a server process killed mid-publish

TOKEN = "4444:crash"
N = 1000


async def test_sigkill_while_publishing(tmp_path: Path, aiohttp_server: Any) -> None:
    fake = FakeTelegram()
    fake.latency = 0.05  # a real network's pace, so calls are in flight when it dies
    bot = fake.add_bot(TOKEN)
    api = await aiohttp_server(fake.app())
    srv = ServerProcess(tmp_path / "data", SWITCHBOARD_POST_LEASE_SECONDS="3",
                        SWITCHBOARD_TELEGRAM_POLL_TIMEOUT="1")
    await asyncio.to_thread(srv.start)
    try:
        account = await asyncio.to_thread(srv.call, "POST", "/api/v1/channels", {
            "kind": "telegram", "name": "shop",
            "settings": {"token": TOKEN, "api_base_url": str(api.make_url("")).rstrip("/")}})
        target = {"channel_account_id": account["id"], "target": "@shopnews"}
        due = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()

        def queue_all() -> None:
            for i in range(N):
                srv.call("POST", "/api/v1/posts",
                         {"text": f"post {i}", "variants": [target], "due_at": due})
        await asyncio.to_thread(queue_all)

        def sent() -> list[str]:
            return [s["text"] for s in bot.sent if s["chat_id"] == "@shopnews"]
        for _ in range(600):  # kill it in the middle of the run
            if len(sent()) >= 150:
                break
            await asyncio.sleep(0.05)
        assert 0 < len(sent()) < N, "the kill should land while publishing"
        srv.kill()
        at_kill = len(sent())
        await asyncio.to_thread(srv.start)

        def settled() -> list[dict[str, Any]]:
            rows = srv.call("GET", "/api/v1/posts?limit=1000")
            return list(rows) if all(r["status"] in ("published", "failed")
                                     for r in rows) else []
        rows: list[dict[str, Any]] = []
        for _ in range(240):
            rows = await asyncio.to_thread(settled)
            if rows:
                break
            await asyncio.sleep(0.5)
        assert rows, "every post is published or failed for a person to check"
        counts = Counter(sent())
        assert max(counts.values()) == 1, "no post went out twice"
        published = {r["text"] for r in rows if r["status"] == "published"}
        unknown = {r["text"] for r in rows if r["status"] == "failed"}
        assert len(rows) == N and len(published) + len(unknown) == N
        assert all(counts[t] == 1 for t in published)
        assert all("may or may not have gone out" in r["error"]
                   for r in rows if r["status"] == "failed")
        assert len(unknown) <= 8, "only the calls in flight at the kill are in doubt"
        print(f"\nkilled after {at_kill} publishes; {len(published)} published, "
              f"{len(unknown)} in doubt ({sum(counts[t] for t in unknown)} of them had "
              f"gone out)")
    finally:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.stop()
