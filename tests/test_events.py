"""The event bus: each interested handler runs in its own task; a handler's ``when`` test
keeps it (and its task) out when an event does not concern it."""

from __future__ import annotations

from bot.events import ConversationChanged, EventBus


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
