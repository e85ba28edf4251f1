"""The clock: APScheduler ticks, our own tables hold the due work.

APScheduler 3.x with a shared job store runs jobs twice when two processes use it, so
it only keeps time here. Each tick calls the due work's runners, which look for due rows
and claim them one by one with a lease (see ``bot.services.replies.Outbox.deliver_due``),
which is safe with several processes and across crashes.

The composition root builds one :class:`Clock` with the running app's runners, keeps it
at ``app[CLOCK]`` and runs it with :meth:`Clock.running`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.events import EventBus
from bot.services.inbox import wake_snoozed
from bot.services.replies import Outbox

log = logging.getLogger("switchboard.clock")

Job = Callable[[], Awaitable[None]]


class DueRunner(Protocol):
    """Due work of one kind (posts, drip steps, broadcasts): runs what has fallen due."""

    async def run_due(self) -> int: ...


class Clock:
    """The app's timer and the jobs it runs; every runner but the outbox is optional."""

    def __init__(self, outbox: Outbox, bus: EventBus, publisher: DueRunner | None = None,
                 drips: DueRunner | None = None, broadcasts: DueRunner | None = None,
                 listening: Job | None = None) -> None:
        self.outbox, self.bus = outbox, bus
        self.publisher, self.drips, self.broadcasts = publisher, drips, broadcasts
        self.listening = listening

    async def deliver_due_replies(self) -> None:
        """Retry outbound replies whose next attempt is due (and pick up any a crash left)."""
        await self.outbox.deliver_due()

    async def wake_snoozed(self) -> None:
        await wake_snoozed(self.bus)

    async def publish_due_posts(self) -> None:
        """Publish posts whose time has come (and resume any a crash interrupted)."""
        if self.publisher is not None:
            await self.publisher.run_due()

    async def run_due_drips(self) -> None:
        """Advance drip enrolments whose next step is due, and broadcasts (and resume
        interrupted ones)."""
        for runner in (self.drips, self.broadcasts):
            if runner is not None:
                await runner.run_due()

    async def run_listening(self) -> None:
        """Poll due feeds, look for negative spikes and reviews near their deadline, and
        score what a crash left unscored."""
        if self.listening is not None:
            await self.listening()

    async def tick(self) -> None:
        for job in (self.deliver_due_replies, self.wake_snoozed):
            try:
                await job()
            except Exception:
                log.exception("clock job failed", extra={"job": job.__name__})

    @contextlib.asynccontextmanager
    async def running(self, seconds: float) -> AsyncIterator[AsyncIOScheduler]:
        """Tick every ``seconds`` until the block ends."""
        sched = AsyncIOScheduler(timezone="UTC")
        grace = max(1, int(seconds * 5))
        sched.add_job(self.tick, "interval", seconds=seconds, id="tick", max_instances=1,
                      coalesce=True, misfire_grace_time=grace)
        # Publishing is its own job: a long run of due posts never delays customer replies.
        sched.add_job(_guarded(self.publish_due_posts), "interval", seconds=seconds,
                      id="publish", max_instances=1, coalesce=True, misfire_grace_time=grace)
        sched.add_job(_guarded(self.run_due_drips), "interval", seconds=seconds, id="drips",
                      max_instances=1, coalesce=True, misfire_grace_time=grace)
        sched.add_job(_guarded(self.run_listening), "interval", seconds=max(seconds, 30.0),
                      id="listening", max_instances=1, coalesce=True,
                      misfire_grace_time=grace)
        sched.start()
        try:
            yield sched
        finally:
            sched.shutdown(wait=False)


CLOCK = web.AppKey("clock", Clock)


def _guarded(job: Job) -> Job:
    async def run() -> None:
        try:
            await job()
        except Exception:
            log.exception("clock job failed", extra={"job": job.__name__})
    run.__name__ = job.__name__
    return run
