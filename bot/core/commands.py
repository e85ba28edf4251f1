"""The chat-command framework: commands staff and marketers type to the bot (``/inbox``,
``/assign 12``, ``/post …``).

Channels hand over a :class:`~bot.core.channel.StaffInput`; :class:`Desk` checks that the
writer is a linked, active staff user allowed to run the command, runs it, and returns the
answer to post back, in the staff user's language (their setting, else the chat app's
language for them, else English: :func:`bot.core.i18n.choose`). Anyone else gets a clear
refusal, and the attempt is logged.
Commands are registered in :data:`COMMANDS` (name -> handler, roles, help) with
:func:`command`, by each feature's own commands module (``bot.commands`` for the inbox,
``scheduler.posts.commands`` for publishing); the composition root imports them. What the
desk does with a reply to a notification and with a step of a staff exchange (the
interactive ``/post``) is handed to it by the composition root, not imported here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from bot.core import i18n, metrics
from bot.core.auth import role_label
from bot.core.channel import ChannelAdapter, StaffAnswer, StaffInput
from bot.core.clean import MAX_BIG, db_id
from bot.core.errors import InboxError
from bot.core.events import EventBus
from bot.core.i18n import _
from bot.models import Role, User
from config import Settings

log = logging.getLogger("switchboard.commands")
Answer = str | StaffAnswer


@dataclass(frozen=True)
class Ctx:
    """What a command handler gets: who, where, the arguments, and the desk (its seams)."""

    user: User
    input: StaffInput
    args: list[str]
    desk: Desk


Handler = Callable[[Ctx], Awaitable[Answer]]
# (desk, user, input) -> the answer: a reply to a notification, a step of an exchange.
InputHandler = Callable[["Desk", User, StaffInput], Awaitable[Answer | None]]


@dataclass(frozen=True)
class Command:
    handler: Handler
    roles: frozenset[Role]
    usage: str


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, *roles: Role) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = Command(fn, frozenset(roles), usage)
        return fn
    return register


def split_command(text: str) -> tuple[str, list[str]] | None:
    """``"/assign@ShopBot 12 me"`` -> ``("assign", ["12", "me"])``; None if no command."""
    if not text.startswith("/") or len(text) < 2:
        return None
    head, *args = text[1:].split()
    return head.split("@", 1)[0].lower(), args


class Outbox(Protocol):
    """What commands need of the outbox (``bot.services.replies.Outbox``)."""

    async def send(self, conversation_id: int, text: str, sender: User | None, *,
                   origin: str = "", source_ref: str | None = None) -> object: ...


class Desk:
    """Runs staff input from chat apps.

    Args:
        settings: The shop's settings (timezone, whether posts need approval …).
        bus: The event bus commands publish on.
        reply: Answers a staff member's reply to a notification (the inbox's).
        flow: Answers a step of a staff member's exchange with the bot (publishing's).
    """

    def __init__(self, settings: Settings, bus: EventBus, *,
                 reply: InputHandler | None = None, flow: InputHandler | None = None) -> None:
        self.settings, self.bus = settings, bus
        self.reply, self.flow = reply, flow
        self.adapters: Mapping[str, ChannelAdapter] = {}
        self._outbox: Outbox | None = None

    def attach(self, outbox: Outbox, adapters: Mapping[str, ChannelAdapter]) -> None:
        """What exists only once the channels are up: set by the composition root."""
        self._outbox, self.adapters = outbox, adapters

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            raise RuntimeError("the desk has no outbox yet (Desk.attach is called at start)")
        return self._outbox

    @staticmethod
    def names() -> frozenset[str]:
        return frozenset(COMMANDS)

    async def handle(self, inp: StaffInput) -> Answer | None:
        user = await linked_user(inp.user_external_id)
        token = i18n.current.set(i18n.choose(user.language if user else None, inp.language))
        try:
            return await self._handle(inp, user)
        finally:
            i18n.current.reset(token)

    async def _handle(self, inp: StaffInput, user: User | None) -> Answer | None:
        parsed = split_command(inp.text)
        is_reply = inp.in_staff_chat and inp.reply_to_external_id is not None
        # A step of an exchange with the bot: a button of one, or a private message the
        # channel found to belong to one.
        in_flow = parsed is None and (inp.payload is not None or not inp.in_staff_chat)
        if parsed is None and not is_reply and not in_flow:
            return None  # staff chatting among themselves
        if user is None:
            return refuse(inp, "not linked to a staff user")
        try:
            if in_flow:
                return await self.flow(self, user, inp) if self.flow else None
            if parsed is None:
                return await self.reply(self, user, inp) if self.reply else None
            name, args = parsed
            cmd = COMMANDS.get(name)
            if cmd is None:
                return _("Unknown command. %(help)s", help=help_text(user)) \
                    if inp.in_staff_chat else None
            if user.role not in cmd.roles:
                return refuse(inp, f"role {user.role} may not use /{name}", user)
            return await cmd.handler(Ctx(user, inp, args, self))
        except InboxError as exc:  # a domain error: no such conversation, a post's limit
            return f"⚠️ {exc}"  # a lazy message: in the staff member's language


def help_text(user: User) -> str:
    lines = [c.usage for c in COMMANDS.values() if user.role in c.roles]
    if not lines:
        return _("No commands for your role.")
    return _("You can use: %(commands)s", commands=", ".join(lines))


async def linked_user(telegram_user_id: str) -> User | None:
    user_id = db_id(telegram_user_id, MAX_BIG)
    if user_id is None:
        return None
    return await User.filter(telegram_user_id=user_id, is_active=True).first()


def refuse(inp: StaffInput, why: str, user: User | None = None) -> str:
    """Log the attempt and say why, with what the person needs to do."""
    log.warning("staff command refused", extra={
        "reason": why, "telegram_user_id": inp.user_external_id, "user_name": inp.user_name,
        "chat_id": inp.chat_id, "text": inp.text[:80], "account": inp.account_id})
    metrics.STAFF_REFUSED.inc()
    if user is not None:
        return "⛔ " + _("Sorry, your role (%(role)s) cannot do that.",
                        role=role_label(user.role))
    return "⛔ " + _("Sorry, only the shop's staff can do that. Your Telegram id is %(id)s: "
                    "if you work here, ask an admin to link it to your Switchboard user.",
                    id=inp.user_external_id)

