"""Issue 20's scenario for the transactional outbox, on a real PostgreSQL with two server
processes: a keyword rule answers every message; process A is killed with SIGKILL in the
middle of a burst of 300 inbound messages on the API channel; the whole burst is then
delivered again through process B (the sender's retry: redeliveries are deduplicated).
Every acknowledged message must have exactly one auto-reply: none lost with A, none sent
twice by A's leftovers and B."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from channels.signing import sign
from tests.conftest import Postgres, ServerProcess

pytestmark = pytest.mark.slow  # two server processes on PostgreSQL

N, CONTACTS, KILL_AFTER = 300, 60, 120
RULE = {"name": "Price", "event": "message_received", "conditions": {"keywords": ["price"]},
        "actions": [{"type": "reply", "template": "Prices: shop.example/catalogue"}]}


async def _post(session: aiohttp.ClientSession, srv: ServerProcess, i: int) -> bool:
    """Deliver message ``i`` to ``srv``'s API channel; True if acknowledged (2xx)."""
    body = json.dumps({"external_id": f"burst-{i}", "text": f"price of item {i}?",
                       "contact": {"external_id": f"c-{i % CONTACTS}", "name": f"C {i}"}}
                      ).encode()
    try:
        async with session.post(
                f"{srv.url}/api/v1/inbound/{srv.seed['api_account']}", data=body,
                headers={"X-Switchboard-Signature": sign(srv.seed["secret"], body),
                         "Content-Type": "application/json"}) as resp:
            await resp.read()
            return resp.status in (200, 202)
    except (TimeoutError, aiohttp.ClientError):
        return False


async def test_sigkill_mid_burst_and_redelivery_leave_one_reply_each(
        tmp_path: Path, postgres: Postgres) -> None:
    url = postgres.create_db()  # empty: the first process migrates it at start
    env = {"SWITCHBOARD_DATABASE_URL": url, "SWITCHBOARD_SECRET_KEY": secrets.token_hex(32),
           # A's held followups go to B once their lease lapses
           "SWITCHBOARD_FOLLOWUP_LEASE_SECONDS": "3", "SWITCHBOARD_CLOCK_SECONDS": "0.5"}
    a, b = ServerProcess(tmp_path / "a", **env), ServerProcess(tmp_path / "b", **env)
    await asyncio.to_thread(a.start)  # migrates and seeds the shop
    try:
        await asyncio.to_thread(b.start)
        b.seed = a.seed
        await asyncio.to_thread(a.call, "POST", "/api/v1/rules", RULE)

        acked: set[int] = set()
        killed = asyncio.Event()
        pending = iter(range(N))
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async def sender() -> None:
                for i in pending:
                    if killed.is_set():
                        return
                    if await _post(session, a, i):
                        acked.add(i)
                        if len(acked) >= KILL_AFTER and not killed.is_set():
                            killed.set()
                            a.kill()  # SIGKILL: no shutdown, work in flight is cut
            await asyncio.gather(*(sender() for _ in range(16)))
            assert killed.is_set(), "A was not killed mid-burst"
            # The sender's retry: the whole burst again, through B.
            for start in range(0, N, 16):
                oks = await asyncio.gather(*(_post(session, b, i)
                                             for i in range(start, min(start + 16, N))))
                assert all(oks), "B did not acknowledge a redelivery"
        acked |= set(range(N))

        conn = await asyncpg.connect(url)
        try:
            async def replies() -> dict[str, int]:
                rows = await conn.fetch(
                    "SELECT m.external_id, count(r.id) AS n FROM messages m LEFT JOIN "
                    "messages r ON r.reply_to_id = m.id AND r.direction = 'out' AND "
                    "r.origin = 'rule' WHERE m.direction = 'in' GROUP BY m.external_id")
                return {str(r["external_id"]): int(r["n"]) for r in rows}

            deadline = asyncio.get_running_loop().time() + 90
            while True:
                counts = await replies()
                done = len(counts) == N and all(counts.values()) and not await conn.fetchval(
                    "SELECT count(*) FROM followups WHERE attempts < 5")
                if done or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.5)
        finally:
            await conn.close()
        missing = sorted(i for i in acked if counts.get(f"burst-{i}", 0) == 0)
        twice = sorted(i for i in acked if counts.get(f"burst-{i}", 0) > 1)
        assert len(counts) == N
        assert not missing, f"{len(missing)} acknowledged messages got no auto-reply: " \
                            f"{missing[:20]}"
        assert not twice, f"{len(twice)} messages got the auto-reply twice: {twice[:20]}"
    finally:
        for srv in (a, b):
            if srv.proc is not None and srv.proc.poll() is None:
                srv.stop()
