"""Chat commands staff and marketers type to the bot (``/inbox``, ``/assign 12`` …).

Channels hand over a :class:`~channels.base.StaffInput`; :class:`Desk` checks that the
writer is a linked, active staff user allowed to run the command, runs it, and returns the
answer to post back. Anyone else gets a clear refusal, and the attempt is logged.
Commands are registered in :data:`COMMANDS` (name -> handler, roles, help), so later
features (publishing's ``/post``, ``/queue`` …) add theirs without touching the channels.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.core import metrics
from bot.core.channel import StaffAnswer, StaffInput
from bot.core.clean import db_id
from bot.core.errors import InboxError
from bot.models import Role, User

log = logging.getLogger("switchboard.commands")


@dataclass(frozen=True)
class Ctx:
    """What a command handler gets: who, where, the arguments, and the app's services."""

    user: User
    input: StaffInput
    args: list[str]
    desk: Desk


Handler = Callable[[Ctx], Awaitable[str | StaffAnswer]]


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


class Desk:
    """Runs staff input from chat apps against the inbox."""

    def __init__(self, services: dict[str, Any]) -> None:
        self.services = services  # outbox, bus, … (filled by the app)

    @staticmethod
    def names() -> frozenset[str]:
        return frozenset(COMMANDS)

    async def handle(self, inp: StaffInput) -> str | StaffAnswer | None:
        parsed = split_command(inp.text)
        is_reply = inp.in_staff_chat and inp.reply_to_external_id is not None
        # A step of an exchange with the bot: a button of one, or a private message the
        # channel found to belong to one.
        in_flow = parsed is None and (inp.payload is not None or not inp.in_staff_chat)
        if parsed is None and not is_reply and not in_flow:
            return None  # staff chatting among themselves
        user = await linked_user(inp.user_external_id)
        if user is None:
            return refuse(inp, "not linked to a staff user")
        try:
            if in_flow:
                return await flows.answer(self, user, inp)
            if parsed is None:
                return await staff.reply_to_notification(self, user, inp)
            name, args = parsed
            cmd = COMMANDS.get(name)
            if cmd is None:
                return "Unknown command. " + help_text(user) if inp.in_staff_chat else None
            if user.role not in cmd.roles:
                return refuse(inp, f"role {user.role} may not use /{name}", user)
            return await cmd.handler(Ctx(user, inp, args, self))
        except InboxError as exc:  # e.g. no such conversation, an empty reply
            return f"⚠️ {exc}"


def help_text(user: User) -> str:
    lines = [c.usage for c in COMMANDS.values() if user.role in c.roles]
    return "You can use: " + ", ".join(lines) if lines else "No commands for your role."


async def linked_user(telegram_user_id: str) -> User | None:
    user_id = db_id(telegram_user_id)
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
        return f"⛔ Sorry, your role ({user.role}) cannot do that."
    return (f"⛔ Sorry, only the shop's staff can do that. Your Telegram id is "
            f"{inp.user_external_id}: if you work here, ask an admin to link it to your "
            f"Switchboard user.")


from bot.commands import staff  # noqa: E402, F401  (register their commands)
from scheduler.posts import commands as posts  # noqa: E402, F401
from scheduler.posts import flows  # noqa: E402, F401
