"""What reacts to inbox events besides the live inbox: rules, the customer bot, and staff
chat notifications, in that order, so that

* a rule that answered a message keeps the bot from answering it too, and
* a notification sees the assignment a rule just made ("unassigned only" chats).

Each step is isolated: one failing never stops the next.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from typing import Any

from bot.core.channel import ChannelAdapter
from bot.core.events import (
    ConversationResolved,
    EventBus,
    HandoffRequested,
    MessageReceived,
    MessageScored,
)
from bot.services.flows.customer import CustomerBot
from bot.services.notify import StaffNotifier
from bot.services.replies import Outbox
from bot.services.rules import RuleEngine
from config import Settings

log = logging.getLogger("switchboard.automation")


class Automation:
    def __init__(self, bus: EventBus, outbox: Outbox, adapters: Mapping[str, ChannelAdapter],
                 settings: Settings) -> None:
        self.notifier = StaffNotifier(adapters)
        self.rules = RuleEngine(outbox, bus, self.notifier, settings.shop_timezone)
        self.bot = CustomerBot(outbox, bus, settings)
        bus.subscribe(MessageReceived, self.on_message)
        bus.subscribe(ConversationResolved, self.on_resolved)
        bus.subscribe(MessageScored, self.on_scored)
        bus.subscribe(HandoffRequested, self.notifier.on_handoff)

    async def on_message(self, event: MessageReceived) -> None:
        answered = False
        if event.new_conversation:
            answered |= await _step("rules", self.rules.run(
                "conversation_created", event.conversation_id, event.message_id))
        answered |= await _step("rules", self.rules.run(
            "message_received", event.conversation_id, event.message_id))
        if not answered:
            await _step("bot", self.bot.on_message(event))
        await _step("notify", self.notifier.on_message(event))

    async def on_scored(self, event: MessageScored) -> None:
        """Rules on the message's sentiment ("negative: label urgent, assign, notify")."""
        await _step("rules", self.rules.run("message_scored", event.conversation_id,
                                            event.message_id, sentiment=event.label))

    async def on_resolved(self, event: ConversationResolved) -> None:
        await _step("rules", self.rules.run("conversation_resolved", event.conversation_id))
        await _step("bot", self.bot.on_resolved(event))


async def _step(name: str, work: Awaitable[Any]) -> bool:
    try:
        return bool(await work)
    except Exception:
        log.exception("automation step failed", extra={"step": name})
        return False



