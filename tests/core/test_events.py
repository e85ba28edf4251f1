"""The event bus: each interested handler runs in its own task; a handler's ``when`` test
keeps it (and its task) out when an event does not concern it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.core.events import ConversationChanged, EventBus


async def test_when_decides_per_event_and_a_failing_handler_harms_no_other() -> None:
    bus = EventBus()
    seen: list[tuple[str, int]] = []

    async def everything(ev: ConversationChanged) -> None:
        seen.append(("all", ev.conversation_id))

    async def only_odd(ev: ConversationChanged) -> None:
        seen.append(("odd", ev.conversation_id))

    async def broken(ev: ConversationChanged) -> None:
        raise RuntimeError("boom")

    bus.subscribe(ConversationChanged, broken)
    bus.subscribe(ConversationChanged, everything)
    bus.subscribe(ConversationChanged, only_odd, when=lambda ev: ev.conversation_id % 2 == 1)
    bus.publish(ConversationChanged(1, "status"))
    bus.publish(ConversationChanged(2, "status"))
    assert len(bus._tasks) == 5  # 3 for the first event, 2 for the second
    await bus.drain()
    assert sorted(seen) == [("all", 1), ("all", 2), ("odd", 1)]


async def test_drain_cancels_handlers_still_running_after_its_timeout(
        caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    finished: list[int] = []
    stopped: list[int] = []

    async def quick(ev: ConversationChanged) -> None:
        finished.append(ev.conversation_id)

    async def stuck(ev: ConversationChanged) -> None:
        try:
            await asyncio.sleep(3600)  # e.g. waiting for a model that is still busy
        except asyncio.CancelledError:
            stopped.append(ev.conversation_id)
            raise

    bus.subscribe(ConversationChanged, quick)
    bus.subscribe(ConversationChanged, stuck)
    bus.publish(ConversationChanged(7, "message"))
    with caplog.at_level(logging.WARNING, "switchboard.events"):
        await asyncio.wait_for(bus.drain(timeout=0.2), 5)
    assert finished == [7] and stopped == [7]  # the stuck one was cancelled, and ended
    assert not bus._tasks
    assert [r.message for r in caplog.records] == [
        "event handlers still running at shutdown were cancelled"]
    assert caplog.records[0].handlers == 1  # type: ignore[attr-defined]
