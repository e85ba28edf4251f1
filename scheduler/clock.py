"""The clock: APScheduler ticks, our own tables hold the due work.

APScheduler 3.x with a shared job store runs jobs twice when two processes use it, so
it only keeps time here, in every process. With several processes on one database, the
jobs split in two kinds:

* **Every process** runs the jobs whose runners claim due rows one by one with
  :func:`bot.core.due.claim` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL): the outbox's
  ``deliver_due``, publishing due posts, drip steps, broadcasts. The claims already
  split the work between processes (each row runs once), and more processes drain a
  burst faster (drips with 3 processes beat 1).
* **One process at a time** runs a job registered with ``alone=True``: one that polls
  remote accounts or sweeps whole tables without claiming rows (listening: feeds, review
  warnings, spikes, the sentiment sweep; waking snoozed conversations). Before each run
  the process takes the lease ``job:<name>`` (:mod:`bot.core.leases`); a process that
  does not get it skips the run. The holder keeps the lease between runs (renewing it
  each run) and it is renewed during a long run; if that renewal fails the run is
  cancelled. If the holder dies, another process runs the job once the lease lapsed,
  within ``loop_lease_seconds`` and a second: a refused tick waits for the lease's
  ``until`` when it comes before the job's next tick (a job that ticks less often than
  its lease lapses between runs anyway; it is taken at the next tick). A clock that
  stops cancels and awaits its runs in flight, then releases its leases.

The clock knows no job: the composition root (``bot/app.py``) builds one :class:`Clock`,
registers each job with :meth:`Clock.every`, keeps it at ``app[CLOCK]`` and runs it with
:meth:`Clock.running`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.leases import HOLDER, Holding, cancel_and_wait

log = logging.getLogger("switchboard.clock")

Runner = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class ClockJob:
    name: str  # the APScheduler job id
    seconds: float
    runners: tuple[Runner, ...]  # called in turn, each on its own (one failing stops none)
    alone: bool = False  # one process at a time, under the lease job:<name>


class Clock:
    """The app's timer and the jobs registered with it.

    ``seconds`` is the clock's tick: a job run that falls more than five ticks behind
    (the event loop was blocked) is skipped, and missed runs are coalesced into one."""

    def __init__(self, seconds: float, lease_seconds: float = 30.0,
                 holder: str = HOLDER) -> None:
        self.seconds, self.lease_seconds, self.holder = seconds, lease_seconds, holder
        self.jobs: dict[str, ClockJob] = {}
        self.holding: dict[str, Holding] = {}  # the leases of alone jobs
        self._ticks: set[asyncio.Task[Any]] = set()  # ticks in flight
        self._runs: set[asyncio.Task[None]] = set()  # their jobs' runners
        self._stopping = False
        self.started = False

    def every(self, seconds: float, name: str, *runners: Runner, alone: bool = False) -> None:
        """Call ``runners`` in turn every ``seconds``, as the job ``name``: never two runs
        of one job at once. Jobs run independently of each other, so a slow one never
        delays another; register before :meth:`running`. ``alone``: the job runs in one
        process at a time (see the module's docstring for which jobs need it)."""
        if self.started:
            raise RuntimeError(f"clock job {name!r} registered after the clock started")
        if name in self.jobs:
            raise ValueError(f"clock job {name!r} is already registered")
        if not runners:
            raise ValueError(f"clock job {name!r} has no runner")
        self.jobs[name] = ClockJob(name, seconds, runners, alone)

    async def run(self, name: str) -> None:
        """Run the job ``name`` once now (its runners in turn; an error propagates)."""
        for runner in self.jobs[name].runners:
            await runner()

    async def _tick(self, job: ClockJob) -> None:
        if self._stopping:
            return  # submitted just before the clock paused
        me = asyncio.current_task()
        if me is not None:
            self._ticks.add(me)
        try:
            await self._tick_once(job)
        except asyncio.CancelledError:
            if not self._stopping:
                raise  # the clock stops: its own cancel ends the run quietly
        finally:
            if me is not None:
                self._ticks.discard(me)

    async def _tick_once(self, job: ClockJob) -> None:
        task = None
        try:
            if not job.alone:
                task = self._start(job)
                await asyncio.wait({task})
                return
            held = self.holding.setdefault(
                job.name, Holding(f"job:{job.name}", self.lease_seconds, self.holder))
            try:
                got = await held.take()
                if not got:  # another process runs it
                    if job.seconds > self.lease_seconds:
                        return  # its lease lapses between its runs anyway: the next tick
                    # A live holder renews on each tick, before its lease lapses: one that
                    # lapses before our next tick means the holder died; take it then.
                    wait = await held.retry_in()
                    if wait >= job.seconds:
                        return
                    await asyncio.sleep(wait)
                    got = await held.take()
            except Exception as exc:
                log.warning("clock job lease not taken", extra={
                    "job": job.name, "error": type(exc).__name__})
                return
            if not got:
                return
            task = self._start(job)
            await held.keep(task)
        finally:
            if task is not None:
                await cancel_and_wait(task)

    def _start(self, job: ClockJob) -> asyncio.Task[None]:
        """The job's runners, in a task the clock awaits when it stops."""
        task = asyncio.get_running_loop().create_task(self._run_runners(job))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return task

    async def _run_runners(self, job: ClockJob) -> None:
        for runner in job.runners:
            try:
                await runner()
            except Exception:
                log.exception("clock job failed", extra={
                    "job": job.name, "runner": getattr(runner, "__qualname__", repr(runner))})

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[AsyncIOScheduler]:
        """Run every registered job on its interval until the block ends."""
        sched = AsyncIOScheduler(timezone="UTC")
        grace = max(1, int(self.seconds * 5))
        for job in self.jobs.values():
            sched.add_job(self._tick, "interval", args=[job], seconds=job.seconds,
                          id=job.name, max_instances=1, coalesce=True,
                          misfire_grace_time=grace)
        sched.start()
        self.started = True
        try:
            yield sched
        finally:
            # Runs in flight end before the leases are released: a run renewing its lease
            # after the release would put the row back, blocking the job elsewhere for a
            # whole lease, and would go on while the database closes. (APScheduler's
            # shutdown cancels its running jobs without awaiting them.)
            sched.pause()  # no new run
            self._stopping = True
            ticks = list(self._ticks)
            for tick in ticks:
                tick.cancel()
            await asyncio.gather(*(cancel_and_wait(t) for t in ticks))
            runs = list(self._runs)  # a tick's own wait for its runners was cut short
            await asyncio.gather(*(cancel_and_wait(t) for t in runs))
            sched.shutdown(wait=False)
            self.started, self._stopping = False, False
            holding, self.holding = list(self.holding.values()), {}
            await asyncio.gather(*(h.release() for h in holding if h.deadline))


CLOCK = web.AppKey("clock", Clock)
