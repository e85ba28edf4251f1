"""Crash safety and graceful shutdown against a real server process."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from channels.signing import sign
from tests.conftest import ServerProcess

pytestmark = pytest.mark.slow  # a server process killed mid-burst


async def _send(session: aiohttp.ClientSession, srv: ServerProcess, i: int
                ) -> tuple[int, int | None]:
    body = json.dumps({"external_id": f"burst-{i}", "contact": {"external_id": f"c{i % 37}"},
                       "text": f"message {i}"}).encode()
    try:
        async with session.post(
                f"{srv.url}/api/v1/inbound/{srv.seed['api_account']}", data=body,
                headers={"X-Switchboard-Signature": sign(srv.seed["secret"], body),
                         "Content-Type": "application/json"}) as resp:
            data = await resp.json()
            return resp.status, data.get("id")
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return 0, None


async def test_sigkill_mid_burst_loses_nothing_acknowledged(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data").start()
    total, acked = 600, {}
    sem = asyncio.Semaphore(16)
    killed = asyncio.Event()

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        async with sem:
            if killed.is_set():
                return
            status, mid = await _send(session, srv, i)
            if 200 <= status < 300:
                acked[i] = mid
            if len(acked) >= 150 and not killed.is_set():
                killed.set()
                srv.kill()  # SIGKILL, mid-burst, with requests in flight

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(*(one(session, i) for i in range(total)))
    assert killed.is_set() and srv.proc is not None
    assert srv.proc.returncode == -signal.SIGKILL
    assert 150 <= len(acked) < total

    srv.start()  # same data dir, same port
    try:
        async with aiohttp.ClientSession() as session:
            results = await asyncio.gather(*(_send(session, srv, i) for i in range(total)))
        for i, (status, mid) in enumerate(results):
            assert status in (200, 202), (i, status)
            if i in acked:
                # Acknowledged before the crash: already stored, same id, not stored again.
                assert status == 200 and mid == acked[i], i
        db = sqlite3.connect(srv.data_dir / "switchboard.sqlite3")
        rows = db.execute("SELECT external_id, COUNT(*) FROM messages GROUP BY external_id"
                          ).fetchall()
        db.close()
        assert len(rows) == total and all(n == 1 for _, n in rows)
    finally:
        srv.stop()


async def test_graceful_shutdown_closes_websockets_and_finishes(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data").start()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(f"{srv.url}/chat?account={srv.seed['webchat']}") as page:
            assert page.status == 200
        ws = await session.ws_connect(f"{srv.url}/chat/ws?account={srv.seed['webchat']}")
        assert (await ws.receive_json())["type"] == "hello"
        # A request in flight when SIGTERM arrives (its body half sent) still completes.
        body = json.dumps({"external_id": "in-flight", "contact": {"external_id": "late"},
                           "text": "sent during shutdown"}).encode()
        half = asyncio.Event()
        go_on = asyncio.Event()

        async def slow_body() -> AsyncIterator[bytes]:
            yield body[:20]
            half.set()
            await go_on.wait()
            yield body[20:]

        async def post() -> int:
            async with session.post(
                    f"{srv.url}/api/v1/inbound/{srv.seed['api_account']}", data=slow_body(),
                    headers={"X-Switchboard-Signature": sign(srv.seed["secret"], body),
                             "Content-Type": "application/json"}) as resp:
                return resp.status

        pending = asyncio.ensure_future(post())
        await half.wait()
        await asyncio.sleep(0.3)
        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGTERM)
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert msg.data == aiohttp.WSCloseCode.GOING_AWAY
        go_on.set()
        status = await pending
    assert await asyncio.to_thread(srv.proc.wait, 30) == 0
    srv.stop()
    assert status == 202
    db = sqlite3.connect(srv.data_dir / "switchboard.sqlite3")
    assert db.execute("SELECT COUNT(*) FROM messages WHERE external_id='in-flight'"
                      ).fetchone() == (1,)
    db.close()
    assert "Traceback" not in srv.output
