"""The clock: APScheduler ticks, our own tables hold the due work.

APScheduler 3.x with a shared job store runs jobs twice when two processes use it, so
it only keeps time here. Each job calls its runners, which look for due rows and claim
them one by one with a lease (see ``bot.services.replies.Outbox.deliver_due``), which is
safe with several processes and across crashes.

The clock knows no job: the composition root (``bot/app.py``) builds one :class:`Clock`,
registers each job with :meth:`Clock.every`, keeps it at ``app[CLOCK]`` and runs it with
:meth:`Clock.running`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("switchboard.clock")

Runner = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class ClockJob:
    name: str  # the APScheduler job id
    seconds: float
    runners: tuple[Runner, ...]  # called in turn, each on its own (one failing stops none)


class Clock:
    """The app's timer and the jobs registered with it.

    ``seconds`` is the clock's tick: a job run that falls more than five ticks behind
    (the event loop was blocked) is skipped, and missed runs are coalesced into one."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.jobs: dict[str, ClockJob] = {}
        self.started = False

    def every(self, seconds: float, name: str, *runners: Runner) -> None:
        """Call ``runners`` in turn every ``seconds``, as the job ``name``: never two runs
        of one job at once. Jobs run independently of each other, so a slow one never
        delays another; register before :meth:`running`."""
        if self.started:
            raise RuntimeError(f"clock job {name!r} registered after the clock started")
        if name in self.jobs:
            raise ValueError(f"clock job {name!r} is already registered")
        if not runners:
            raise ValueError(f"clock job {name!r} has no runner")
        self.jobs[name] = ClockJob(name, seconds, runners)

    async def run(self, name: str) -> None:
        """Run the job ``name`` once now (its runners in turn; an error propagates)."""
        for runner in self.jobs[name].runners:
            await runner()

    async def _tick(self, job: ClockJob) -> None:
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
            sched.shutdown(wait=False)
            self.started = False


CLOCK = web.AppKey("clock", Clock)
