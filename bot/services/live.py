"""Live updates for staff: every logged-in inbox page holds a websocket here.

The hub listens on the event bus and tells each socket *what* changed (a conversation id
and a kind); pages then fetch the server-rendered fragment, so message text is only ever
rendered by autoescaped templates, never spliced into HTML in the browser.

Every process's hub hears every change (its handlers run ``everywhere``): a staff member's
page gets the update whichever process holds its socket and whichever took the message.

Staff pages also talk back, with one kind of frame: ``{"type": "typing", "conversation_id":
N}`` while someone writes a reply or a note there (``"stop": true`` once it is sent). The
hub relays it as :class:`StaffTyping` to the other staff (never to the typer's own pages),
whose conversation page shows "<name> is replying…" until a stop, the typer's socket
closing, or a few seconds without a ping. Pings are counted per staff member (the
``limits`` library, :class:`~bot.core.ratelimit.Limiter`): a flood is dropped, not relayed.
A new conversation's update says so (``"new": true``) and a hand-off sends one
(``{"type": "handoff"}``): the pages that opted in show a browser notification.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, web

from bot.core.auth import Perm, has_perm
from bot.core.clean import MAX_ID
from bot.core.events import (
    ConversationChanged,
    EventBus,
    HandoffRequested,
    LiveUpdate,
    MessageReceived,
    MessageStored,
    RelayResumed,
    StaffTyping,
)
from bot.core.ratelimit import Limiter
from bot.models import Conversation, User

TYPING_LIMIT = "2/second;40/minute"  # a staff member's typing pings (pages send one per 2.5 s)
FRAME_MAX = 200  # characters: a typing frame is about 60


@dataclass(frozen=True)
class Member:
    """Who holds a staff socket."""

    user_id: int
    name: str  # the display name: the user's name, else their e-mail
    can_write: bool  # may reply and write notes (so may say they are typing)


class StaffHub:
    def __init__(self, bus: EventBus) -> None:
        self.sockets: set[web.WebSocketResponse] = set()
        self.members: dict[web.WebSocketResponse, Member] = {}
        self.typing_in: dict[web.WebSocketResponse, int] = {}  # a socket's last ping, not stopped
        self.typing_limit = Limiter("staff-typing", TYPING_LIMIT)
        self.bus = bus
        bus.subscribe(MessageReceived, self._on_received, when=self._watched, everywhere=True)
        bus.subscribe(MessageStored, self._on_stored, when=self._watched, everywhere=True)
        bus.subscribe(ConversationChanged, self._on_changed, when=self._watched,
                      everywhere=True)
        bus.subscribe(LiveUpdate, self._on_live, when=self._watched, everywhere=True)
        bus.subscribe(StaffTyping, self._on_typing, when=self._watched, everywhere=True)
        bus.subscribe(HandoffRequested, self._on_handoff)  # where the bot handed off: to all
        bus.subscribe(RelayResumed, self._on_resumed, when=self._watched)

    def _watched(self, _: object) -> bool:
        return bool(self.sockets)  # no staff page open: nothing to tell

    async def _on_received(self, ev: MessageReceived) -> None:
        await self.send({"type": "message", "conversation_id": ev.conversation_id,
                         "message_id": ev.message_id, "channel": ev.channel_kind,
                         "new": ev.new_conversation})

    async def _on_stored(self, ev: MessageStored) -> None:
        await self.send({"type": "message", "conversation_id": ev.conversation_id,
                         "message_id": ev.message_id})

    async def _on_changed(self, ev: ConversationChanged) -> None:
        await self.send({"type": "conversation", "conversation_id": ev.conversation_id,
                         "what": ev.what})

    async def _on_live(self, ev: LiveUpdate) -> None:
        await self.send(ev.payload)

    async def _on_handoff(self, ev: HandoffRequested) -> None:
        await self.broadcast({"type": "handoff", "conversation_id": ev.conversation_id})

    async def _on_typing(self, ev: StaffTyping) -> None:
        await self.send({"type": "typing", "conversation_id": ev.conversation_id,
                         "user_id": ev.user_id, "name": ev.name, "stop": ev.stop},
                        skip_user=ev.user_id)

    def join(self, ws: web.WebSocketResponse, user: User) -> None:
        """A staff page's socket opened (its user may read conversations)."""
        self.sockets.add(ws)
        self.members[ws] = Member(user.id, user.name or user.email,
                                  has_perm(user, Perm.INBOX_WRITE))

    def leave(self, ws: web.WebSocketResponse) -> None:
        """The socket closed: if its page was typing somewhere, that stops now."""
        self.sockets.discard(ws)
        member, cid = self.members.pop(ws, None), self.typing_in.pop(ws, None)
        if member is not None and cid is not None:
            self.bus.publish(StaffTyping(cid, member.user_id, member.name, stop=True))

    async def heard(self, ws: web.WebSocketResponse, data: str) -> None:
        """A frame from a staff page. Only a typing ping (or its stop) from someone who may
        reply counts; anything else, and a ping past the limit, is dropped unanswered."""
        member = self.members.get(ws)
        frame = _typing_frame(data)
        if member is None or not member.can_write or frame is None:
            return
        cid, stop = frame
        if stop:  # only after a ping this socket sent (so a stop needs no limit of its own)
            if self.typing_in.get(ws) != cid:
                return
            del self.typing_in[ws]
        else:
            if self.typing_limit.hit(str(member.user_id)) is not None:
                return
            if not await Conversation.exists(id=cid):
                return
            self.typing_in[ws] = cid
        self.bus.publish(StaffTyping(cid, member.user_id, member.name, stop))

    async def _on_resumed(self, _: RelayResumed) -> None:
        # updates from other processes were missed: the pages reconnect and refetch
        await self.close_all(WSCloseCode.SERVICE_RESTART, b"catch up")

    async def broadcast(self, payload: dict[str, Any]) -> None:
        """Send a small payload (ids, a title: it travels in a notification, at most a few
        KB) to every staff socket of every process. Returns at once: the sends run as
        the bus's tasks."""
        self.bus.publish(LiveUpdate(payload))

    async def send(self, payload: dict[str, Any], skip_user: int | None = None) -> None:
        """Send to this process's staff sockets (but not to ``skip_user``'s)."""
        if not self.sockets:
            return
        data = json.dumps(payload)
        skipped = {ws for ws, m in self.members.items() if m.user_id == skip_user}
        await asyncio.gather(*(ws.send_str(data) for ws in list(self.sockets)
                               if not ws.closed and ws not in skipped),
                             return_exceptions=True)

    async def close_all(self, code: int = WSCloseCode.GOING_AWAY,
                        message: bytes = b"server shutdown") -> None:
        for ws in list(self.sockets):
            await ws.close(code=code, message=message)


def _typing_frame(data: str) -> tuple[int, bool] | None:
    """``(conversation id, stop)`` of a typing frame, or None for anything else."""
    if len(data) > FRAME_MAX:
        return None
    try:
        frame = json.loads(data)
    except ValueError:
        return None
    if not isinstance(frame, dict) or frame.get("type") != "typing":
        return None
    cid, stop = frame.get("conversation_id"), frame.get("stop", False)
    if type(cid) is not int or not 0 < cid <= MAX_ID or not isinstance(stop, bool):
        return None
    return cid, stop


HUB: web.AppKey[StaffHub] = web.AppKey("hub")
