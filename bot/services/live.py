"""Live updates for staff: every logged-in inbox page holds a websocket here.

The hub listens on the event bus and tells each socket *what* changed (a conversation id
and a kind); pages then fetch the server-rendered fragment, so message text is only ever
rendered by autoescaped templates, never spliced into HTML in the browser.

Every process's hub hears every change (its handlers run ``everywhere``): a staff member's
page gets the update whichever process holds its socket and whichever took the message.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSCloseCode, web

from bot.core.events import (
    ConversationChanged,
    EventBus,
    LiveUpdate,
    MessageReceived,
    MessageStored,
    RelayResumed,
)


class StaffHub:
    def __init__(self, bus: EventBus) -> None:
        self.sockets: set[web.WebSocketResponse] = set()
        self.bus = bus
        bus.subscribe(MessageReceived, self._on_received, when=self._watched, everywhere=True)
        bus.subscribe(MessageStored, self._on_stored, when=self._watched, everywhere=True)
        bus.subscribe(ConversationChanged, self._on_changed, when=self._watched,
                      everywhere=True)
        bus.subscribe(LiveUpdate, self._on_live, when=self._watched, everywhere=True)
        bus.subscribe(RelayResumed, self._on_resumed, when=self._watched)

    def _watched(self, _: object) -> bool:
        return bool(self.sockets)  # no staff page open: nothing to tell

    async def _on_received(self, ev: MessageReceived) -> None:
        await self.send({"type": "message", "conversation_id": ev.conversation_id,
                         "message_id": ev.message_id, "channel": ev.channel_kind})

    async def _on_stored(self, ev: MessageStored) -> None:
        await self.send({"type": "message", "conversation_id": ev.conversation_id,
                         "message_id": ev.message_id})

    async def _on_changed(self, ev: ConversationChanged) -> None:
        await self.send({"type": "conversation", "conversation_id": ev.conversation_id,
                         "what": ev.what})

    async def _on_live(self, ev: LiveUpdate) -> None:
        await self.send(ev.payload)

    async def _on_resumed(self, _: RelayResumed) -> None:
        # updates from other processes were missed: the pages reconnect and refetch
        await self.close_all(WSCloseCode.SERVICE_RESTART, b"catch up")

    async def broadcast(self, payload: dict[str, Any]) -> None:
        """Send a small payload (ids, a title: it travels in a notification, at most a few
        KB) to every staff socket of every process. Returns at once: the sends run as
        the bus's tasks."""
        self.bus.publish(LiveUpdate(payload))

    async def send(self, payload: dict[str, Any]) -> None:
        """Send to this process's staff sockets."""
        if not self.sockets:
            return
        data = json.dumps(payload)
        await asyncio.gather(*(ws.send_str(data) for ws in list(self.sockets)
                               if not ws.closed), return_exceptions=True)

    async def close_all(self, code: int = WSCloseCode.GOING_AWAY,
                        message: bytes = b"server shutdown") -> None:
        for ws in list(self.sockets):
            await ws.close(code=code, message=message)


HUB: web.AppKey[StaffHub] = web.AppKey("hub")
