"""The clock with several processes (scheduler/clock.py): a job registered ``alone`` runs
in one process at a time under the lease ``job:<name>``, and another process takes it
over when the holder stops (at once after a clean stop, after the lease lapsed when it
died); jobs that claim their rows keep running in every process. Two clocks with two
holder ids stand for two processes, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from bot.core.console import database
from bot.core.leases import holder_of
from config import Settings
from scheduler.clock import Clock


@pytest.fixture
async def db(any_db: Settings) -> AsyncIterator[Settings]:
    async with database(any_db):
        yield any_db


@dataclass
class Runs:
    """What each clock's runner saw: (holder, start, end) per run, and overlaps."""

    runs: list[tuple[str, float, float]] = field(default_factory=list)
    active: int = 0
    overlaps: int = 0

    def runner(self, holder: str) -> Callable[[], object]:
        async def run() -> None:
            self.active += 1
            if self.active > 1:
                self.overlaps += 1
            start = time.monotonic()
            try:
                await asyncio.sleep(0.05)  # a run that takes a while, as a feed poll does
            finally:
                self.active -= 1
            self.runs.append((holder, start, time.monotonic()))
        return run

    def by(self, holder: str) -> int:
        return sum(1 for h, _, _ in self.runs if h == holder)


async def until(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not reached before the deadline"
        await asyncio.sleep(0.05)


def clock(holder: str, alone: Runs, everywhere: Runs, lease: float = 1.5) -> Clock:
    c = Clock(0.1, lease_seconds=lease, holder=holder)
    c.every(0.1, "listening", alone.runner(holder), alone=True)
    c.every(0.1, "drips", everywhere.runner(holder))
    return c


async def test_alone_job_runs_in_one_process_at_a_time(db: Settings) -> None:
    alone, everywhere = Runs(), Runs()
    a, b = clock("proc-a", alone, everywhere), clock("proc-b", alone, everywhere)
    async with a.running():
        async with b.running():
            # Both clocks tick; the claiming job runs in both, the alone one in one only.
            await until(lambda: everywhere.by("proc-a") >= 5 and everywhere.by("proc-b") >= 5
                        and len(alone.runs) >= 10)
            first = await holder_of("job:listening")
            assert first in ("proc-a", "proc-b")
            assert alone.overlaps == 0
            assert {h for h, _, _ in alone.runs} == {first}, alone.runs
        # b stopped cleanly: it released its lease (if it held it) and a runs the job.
        seen = len(alone.runs)
        await until(lambda: alone.by("proc-a") >= 3 and len(alone.runs) >= seen + 3)
        assert await holder_of("job:listening") == "proc-a"
    assert alone.overlaps == 0
    assert await holder_of("job:listening") is None  # released on a clean stop


async def test_alone_job_taken_over_when_the_holder_dies(db: Settings) -> None:
    alone, everywhere = Runs(), Runs()
    a = clock("proc-a", alone, everywhere)
    async with a.running() as a_sched:
        await until(lambda: alone.by("proc-a") >= 3)
        b = clock("proc-b", alone, everywhere)
        async with b.running():
            await until(lambda: everywhere.by("proc-b") >= 10)
            assert alone.by("proc-b") == 0  # a holds it: b skips each run
            # a "dies": its clock stops ticking and never releases (as after SIGKILL).
            a_sched.pause()
            a.holding.clear()
            await until(lambda: alone.by("proc-b") >= 3)  # after the lease lapsed
            assert await holder_of("job:listening") == "proc-b"
    assert alone.overlaps == 0


async def test_a_stopped_clock_ends_its_runs_then_releases(db: Settings) -> None:
    """Stopping the clock cancels and awaits an alone job's run in flight (here one that
    takes a while to clean up after its cancel) before it releases the lease: after the
    stop no run goes on, the lease row is gone and no run starts any more."""
    started, active = [0], [0]
    inside = asyncio.Event()

    async def long_run() -> None:
        started[0] += 1
        active[0] += 1
        try:
            inside.set()
            await asyncio.sleep(3600)
        finally:
            try:
                await asyncio.sleep(0.5)  # cleanup after the cancel (closing a session)
            finally:
                active[0] -= 1

    c = Clock(0.1, lease_seconds=0.6, holder="proc-a")
    c.every(0.1, "listening", long_run, alone=True)
    async with c.running():
        await asyncio.wait_for(inside.wait(), 60)
    assert active[0] == 0  # the run ended before the clock's block did
    assert await holder_of("job:listening") is None  # and the lease was released after
    runs = started[0]
    for _ in range(10):  # a few of the stopped clock's ticks and leases: nothing runs
        await asyncio.sleep(0.1)
        assert await holder_of("job:listening") is None
    assert started[0] == runs == 1
