"""Named leases (bot/core/leases.py) on SQLite and on PostgreSQL: one holder at a time,
taken over after expiry, released on request; concurrent takers (tasks, and on
PostgreSQL separate processes with their own connections) get exactly one holder."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core import leases
from bot.core.console import database
from bot.core.leases import RETRY, Holding, acquire, holder_of, lapses_in, release
from config import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def db(any_db: Settings) -> AsyncIterator[Settings]:
    async with database(any_db):
        yield any_db


async def wait_until(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached before the deadline")


async def test_one_holder_renew_release(db: Settings) -> None:  # renewed by acquire
    assert await acquire("loop:telegram:1", "a", 60)
    assert await holder_of("loop:telegram:1") == "a"
    assert not await acquire("loop:telegram:1", "b", 60)  # live: refused
    assert await acquire("loop:telegram:1", "a", 60)  # its own: renewed
    assert not await acquire("loop:telegram:1", "b", 60)  # not b's to renew
    assert await acquire("loop:telegram:2", "b", 60)  # another name: independent
    assert not await release("loop:telegram:1", "b")  # not b's to release
    assert await holder_of("loop:telegram:1") == "a"
    assert await release("loop:telegram:1", "a")
    assert await holder_of("loop:telegram:1") is None
    assert await lapses_in("loop:telegram:1") is None  # released: gone
    assert await acquire("loop:telegram:1", "b", 60)  # free at once after a release


async def test_taken_over_after_expiry(db: Settings) -> None:
    assert await acquire("job:listening", "a", 0.5)
    assert not await acquire("job:listening", "b", 0.5)

    async def b_gets_it() -> bool:
        return await acquire("job:listening", "b", 60)
    await wait_until(b_gets_it)
    assert await holder_of("job:listening") == "b"
    assert not await acquire("job:listening", "a", 60)


async def test_a_refused_taker_retries_just_after_the_lease_lapses(db: Settings) -> None:
    """A dead holder's lease is taken within its ttl and RETRY: the waiting process reads
    the lease's ``until`` instead of polling at its own pace."""
    assert await acquire("loop:imap:3", "dead", 2.0)  # its holder dies now
    waiting = Holding("loop:imap:3", 600.0, holder="b")  # b's own lease is long
    assert not await waiting.take()
    wait = await waiting.retry_in()
    assert 0 < wait <= 2.0 + RETRY  # not a third of b's 600 s
    await asyncio.sleep(wait)
    assert await waiting.take()  # lapsed by then


async def test_concurrent_acquires_one_holder(db: Settings) -> None:
    for round_ in range(5):
        name = f"race:{round_}"
        got = await asyncio.gather(*(acquire(name, f"h{i}", 60) for i in range(20)))
        assert sum(got) == 1, got
        winner = f"h{got.index(True)}"
        assert await holder_of(name) == winner


async def test_holding_cancels_the_work_when_taken_over(db: Settings) -> None:
    held = Holding("loop:email:7", 0.6, holder="a")
    assert await held.take() and held.live()
    work = asyncio.get_running_loop().create_task(asyncio.sleep(3600))
    keeper = asyncio.get_running_loop().create_task(held.keep(work))
    await asyncio.sleep(0.3)
    assert not work.done()  # renewed every third of the lease: still ours
    # Another holder takes it (as after a lapse): the next renewal finds it and the work
    # is cancelled at once.
    await release("loop:email:7", "a")
    assert await acquire("loop:email:7", "b", 60)
    assert await asyncio.wait_for(keeper, 30) is False
    assert work.cancelled() and not held.live()


async def test_holding_stops_at_its_deadline_without_renewal(db: Settings) -> None:
    """A holder whose renewals do not get through (database gone, or the process was
    frozen) stops its work at its own deadline: before another process could take the
    lease over."""
    held = Holding("loop:email:8", 0.6, holder="a")
    assert await held.take()

    async def stuck() -> bool:
        await asyncio.sleep(3600)
        return True
    held.take = stuck  # type: ignore[method-assign]
    work = asyncio.get_running_loop().create_task(asyncio.sleep(3600))
    assert await asyncio.wait_for(held.keep(work), 30) is False
    assert work.cancelled()
    # The database still holds it for a's (at most its ttl); b only gets it after.
    async def b_gets_it() -> bool:
        return await acquire("loop:email:8", "b", 60)
    await wait_until(b_gets_it)


RACER = """
import asyncio, json, os, sys, time
from bot.core.console import database
from bot.core.leases import acquire
from config import load_settings

async def main():
    settings = load_settings(os.environ, sentiment_enabled=False)
    async with database(settings):
        print("ready", flush=True)
        start = float(sys.stdin.readline())
        while time.time() < start:
            await asyncio.sleep(0.001)
        got = await acquire("race:processes", sys.argv[1], 60)
        print(json.dumps(got), flush=True)

asyncio.run(main())
"""


@pytest.mark.slow
async def test_separate_processes_one_holder(db: Settings) -> None:
    """Processes with their own connections race for one lease (on SQLite too: two
    processes started on one file by mistake must not both hold a loop)."""
    env = {"SWITCHBOARD_DATABASE_URL": db.database_url,
           "SWITCHBOARD_DATA_DIR": str(db.data_dir), "SWITCHBOARD_LOG_LEVEL": "WARNING",
           "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, "-c", RACER, f"p{i}"], cwd=ROOT, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for i in range(4)]
    try:
        for p in procs:
            assert p.stdout is not None
            line = await asyncio.to_thread(p.stdout.readline)
            assert line.strip() == "ready", line
        start = time.time() + 0.5
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(f"{start}\n")
            p.stdin.flush()
        got = []
        for p in procs:
            assert p.stdout is not None
            got.append(json.loads(await asyncio.to_thread(p.stdout.readline)))
        assert sum(got) == 1, got
        assert await holder_of("race:processes") == f"p{got.index(True)}"
    finally:
        for p in procs:
            p.kill()
            p.wait()
            for pipe in (p.stdin, p.stdout):
                if pipe is not None:
                    pipe.close()
    assert leases.HOLDER.count(":") == 2  # host:pid:random
