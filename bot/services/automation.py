"""What reacts to inbox events besides the live inbox: rules, the customer bot, and staff
chat notifications, in that order, run from the transactional outbox
(:mod:`bot.services.followups`, which holds the ordering guarantee), so that

* a rule that answered a message keeps the bot from answering it too, and
* a notification sees the assignment a rule just made ("unassigned only" chats).

Each step is isolated: one failing never stops the next. A failed rules, bot or
notification step fails the row, which is retried; listening's step never does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.core.channel import ChannelAdapter
from bot.core.events import (
    ConversationResolved,
    EventBus,
    HandoffRequested,
    MessageReceived,
)
from bot.services.flows.customer import CustomerBot
from bot.services.followups import Owed
from bot.services.notify import StaffNotifier
from bot.services.replies import Outbox
from bot.services.rules import RuleEngine
from config import Settings

log = logging.getLogger("switchboard.automation")


class Automation:
    """The followups' handlers (:mod:`bot.services.followups`): each runs from a durable
    row, at least once, so each action is keyed by the row (``fu:<id>``) and safe to run
    twice. Steps are isolated (one failing never stops the next); if one failed, the row
    fails after the others ran, and is retried (the steps that ran are no-ops then)."""

    def __init__(self, bus: EventBus, outbox: Outbox, adapters: Mapping[str, ChannelAdapter],
                 settings: Settings) -> None:
        self.notifier = StaffNotifier(adapters)
        self.rules = RuleEngine(outbox, bus, self.notifier, settings.shop_timezone)
        self.bot = CustomerBot(outbox, bus, settings)
        # listening's turn on a new message (set by the composition root): last, after
        # the customer was answered
        self.listen: Callable[[MessageReceived], Awaitable[Any]] | None = None

    def handlers(self) -> dict[str, Callable[[Owed], Awaitable[None]]]:
        return {"received": self.on_received, "resolved": self.on_resolved,
                "handoff": self.on_handoff, "scored": self.on_scored}

    async def on_received(self, row: Owed) -> None:
        """Rules first; the bot only if no rule answered; then staff chats; then
        listening (best effort: a failure is logged, and the row still completes, since
        the listening sweep scores a message this step missed)."""
        p = row.payload
        event = MessageReceived(int(row.message_id or 0), row.conversation_id,
                                str(p.get("kind", "")), bool(p.get("new_conversation")),
                                int(p.get("account_id") or 0))
        key, failed = f"fu:{row.id}", list[str]()
        answered = False
        if event.new_conversation:
            answered |= await _step("rules", self.rules.run(
                "conversation_created", event.conversation_id, event.message_id, key=key,
                row=row.id),
                failed)
        answered |= await _step("rules", self.rules.run(
            "message_received", event.conversation_id, event.message_id, key=key, row=row.id),
            failed)
        if not answered:
            await _step("bot", self.bot.on_message(event, key=key), failed)
        await _step("notify", self.notifier.on_message(event, key=key), failed)
        if self.listen is not None:  # never fails the row: the listening sweep scores
            await _step("listening", self.listen(event), [])  # what this step missed
        _raise(failed)

    async def on_scored(self, row: Owed) -> None:
        """Rules on the message's sentiment ("negative: label urgent, assign, notify")."""
        failed: list[str] = []
        await _step("rules", self.rules.run(
            "message_scored", row.conversation_id, row.message_id,
            sentiment=str(row.payload.get("label", "")), key=f"fu:{row.id}", row=row.id),
            failed)
        _raise(failed)

    async def on_resolved(self, row: Owed) -> None:
        failed: list[str] = []
        key = f"fu:{row.id}"
        await _step("rules", self.rules.run("conversation_resolved", row.conversation_id,
                                            key=key, row=row.id), failed)
        await _step("bot", self.bot.on_resolved(ConversationResolved(row.conversation_id),
                                                key=key), failed)
        _raise(failed)

    async def on_handoff(self, row: Owed) -> None:
        await self.notifier.on_handoff(HandoffRequested(row.conversation_id),
                                       key=f"fu:{row.id}")


class StepsFailed(Exception):
    """Some steps of a followup failed (logged each); the row is retried."""


def _raise(failed: list[str]) -> None:
    if failed:
        raise StepsFailed(", ".join(failed) + " failed")


async def _step(name: str, work: Awaitable[Any], failed: list[str]) -> bool:
    try:
        return bool(await work)
    except Exception:
        log.exception("automation step failed", extra={"step": name})
        failed.append(name)
        return False



