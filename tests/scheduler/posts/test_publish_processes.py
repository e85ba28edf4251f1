"""Three server processes on one real PostgreSQL publish 300 posts due in the same minute:
the fake Bot API receives each exactly once (claims use FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import Postgres, ServerProcess, start_together
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.slow  # three server processes on PostgreSQL

TOKEN = "4343:multi"
N = 300


async def test_three_processes_publish_each_post_once(tmp_path: Path, postgres: Postgres,
                                                      aiohttp_server: Any) -> None:
    fake = FakeTelegram()
    bot = fake.add_bot(TOKEN)
    api = await aiohttp_server(fake.app())
    env = {"SWITCHBOARD_DATABASE_URL": postgres.create_db(migrated=True),
           "SWITCHBOARD_SECRET_KEY": secrets.token_hex(32),
           "SWITCHBOARD_CHANNEL_REFRESH_SECONDS": "0.5", "SWITCHBOARD_TELEGRAM_POLL_TIMEOUT": "1"}
    servers = [ServerProcess(tmp_path / f"s{i}", **env) for i in range(3)]
    first = servers[0]
    await asyncio.to_thread(first.start)  # seeds the shop (the database came migrated)
    try:
        await asyncio.to_thread(start_together, servers[1:])
        for srv in servers[1:]:
            srv.seed = first.seed
        account = await asyncio.to_thread(first.call, "POST", "/api/v1/channels", {
            "kind": "telegram", "name": "shop",
            "settings": {"token": TOKEN, "api_base_url": str(api.make_url("")).rstrip("/"),
                         "channel": "@shopnews"}})
        # Queued for an hour from now (queueing 300 takes a while on a loaded machine, and
        # the API refuses a time already past), then all made due at the same instant.
        due = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        target = {"channel_account_id": account["id"], "target": "@shopnews"}

        def queue_all() -> None:
            for i in range(N):
                servers[i % 3].call("POST", "/api/v1/posts",
                                    {"text": f"post {i}", "variants": [target], "due_at": due})
        await asyncio.to_thread(queue_all)
        db = await asyncpg.connect(env["SWITCHBOARD_DATABASE_URL"])
        try:
            assert await db.execute("UPDATE posts SET due_at = now() WHERE status = "
                                    "'scheduled'") == f"UPDATE {N}"
        finally:
            await db.close()

        def published() -> int:
            rows = first.call("GET", "/api/v1/posts?status=published&limit=1000")
            return len(rows)
        deadline = time.monotonic() + 120  # generous on a loaded 2-core machine
        while await asyncio.to_thread(published) != N and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        texts = [s["text"] for s in bot.sent if s["chat_id"] == "@shopnews"]
        assert len(texts) == N, f"{len(texts)} publishes for {N} posts"
        assert len(set(texts)) == N  # distinct posts, none twice
        assert await asyncio.to_thread(published) == N
    finally:
        for srv in servers:
            if srv.proc is not None:
                srv.stop()
