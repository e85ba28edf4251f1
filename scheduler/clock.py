"""The clock: APScheduler ticks, our own tables hold the due work.

APScheduler 3.x with a shared job store runs jobs twice when two processes use it, so
it only keeps time here. Each tick calls module-level functions that look for due rows
and claim them one by one with a lease (see ``bot.replies.Outbox.deliver``), which is
safe with several processes and across crashes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("switchboard.clock")
_state: dict[str, Any] = {}


def bind(outbox: Any, bus: Any, publisher: Any = None, drips: Any = None,
         broadcasts: Any = None, listening: Any = None) -> None:
    """Give the tick functions the running app's outbox, event bus, publisher, drip
    runner, broadcast runner and listening jobs."""
    _state.update(outbox=outbox, bus=bus, publisher=publisher, drips=drips,
                  broadcasts=broadcasts, listening=listening)


async def deliver_due_replies() -> None:
    """Retry outbound replies whose next attempt is due (and pick up any a crash left)."""
    outbox = _state.get("outbox")
    if outbox is not None:
        await outbox.deliver_due()


async def wake_snoozed() -> None:
    from bot.services.inbox import wake_snoozed as wake

    await wake(_state.get("bus"))


async def publish_due_posts() -> None:
    """Publish posts whose time has come (and resume any a crash interrupted)."""
    publisher = _state.get("publisher")
    if publisher is not None:
        await publisher.run_due()


async def run_due_drips() -> None:
    """Advance drip enrolments whose next step is due, and broadcasts (and resume
    interrupted ones)."""
    for name in ("drips", "broadcasts"):
        runner = _state.get(name)
        if runner is not None:
            await runner.run_due()


async def run_listening() -> None:
    """Poll due feeds, look for negative spikes and reviews near their deadline, and
    score what a crash left unscored."""
    job = _state.get("listening")
    if job is not None:
        await job()


async def tick() -> None:
    for job in (deliver_due_replies, wake_snoozed):
        try:
            await job()
        except Exception:
            log.exception("clock job failed", extra={"job": job.__name__})


def _guarded(job: Any) -> Any:
    async def run() -> None:
        try:
            await job()
        except Exception:
            log.exception("clock job failed", extra={"job": job.__name__})
    run.__name__ = job.__name__
    return run


@contextlib.asynccontextmanager
async def running(seconds: float) -> AsyncIterator[AsyncIOScheduler]:
    sched = AsyncIOScheduler(timezone="UTC")
    sched.add_job(tick, "interval", seconds=seconds, id="tick", max_instances=1,
                  coalesce=True, misfire_grace_time=max(1, int(seconds * 5)))
    # Publishing is its own job: a long run of due posts never delays customer replies.
    sched.add_job(_guarded(publish_due_posts), "interval", seconds=seconds, id="publish",
                  max_instances=1, coalesce=True, misfire_grace_time=max(1, int(seconds * 5)))
    sched.add_job(_guarded(run_due_drips), "interval", seconds=seconds, id="drips",
                  max_instances=1, coalesce=True, misfire_grace_time=max(1, int(seconds * 5)))
    sched.add_job(_guarded(run_listening), "interval", seconds=max(seconds, 30.0),
                  id="listening", max_instances=1, coalesce=True,
                  misfire_grace_time=max(1, int(seconds * 5)))
    sched.start()
    try:
        yield sched
    finally:
        sched.shutdown(wait=False)
