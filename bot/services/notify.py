"""Notifications in the staff chat (a Telegram group the shop's staff are in).

Each channel account whose adapter can post to a chat (:class:`PostsToChat`) may name a
staff chat in its settings: ``staff_chat_id`` and ``staff_notify`` (``all``, ``unassigned``,
``needs_human`` or ``off``). Every posted notification is remembered, so a staff member who
replies to it answers that conversation (see :mod:`bot.commands.staff`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tortoise.exceptions import IntegrityError

from bot.core.cache import Ttl
from bot.core.channel import ChannelAdapter, ChannelError, PostsToChat
from bot.core.events import HandoffRequested, MessageReceived
from bot.core.vault import SealError
from bot.models import ChannelAccount, Conversation, Direction, Message, StaffNotification
from bot.services.flows.texts import BOT
from bot.services.replies import account_info

log = logging.getLogger("switchboard.notify")
MODES = ("all", "unassigned", "needs_human", "off")
PREVIEW = 300


# (account, adapter, chat, mode) of every staff chat; read for each new conversation.
_targets: Ttl[list[tuple[ChannelAccount, PostsToChat, str, str]]] = Ttl()


class StaffNotifier:
    def __init__(self, adapters: Mapping[str, ChannelAdapter]) -> None:
        self.adapters = adapters

    async def _targets(self) -> list[tuple[ChannelAccount, PostsToChat, str, str]]:
        return await _targets.get(None, self._load_targets)

    async def _load_targets(self) -> list[tuple[ChannelAccount, PostsToChat, str, str]]:
        out: list[tuple[ChannelAccount, PostsToChat, str, str]] = []
        for account in await ChannelAccount.filter(enabled=True).order_by("id"):
            adapter = self.adapters.get(account.kind)
            chat = str((account.settings or {}).get("staff_chat_id") or "").strip()
            mode = str((account.settings or {}).get("staff_notify") or "all")
            if chat and mode != "off" and isinstance(adapter, PostsToChat):
                out.append((account, adapter, chat, mode))
        return out

    async def on_message(self, event: MessageReceived, key: str | None = None) -> None:
        """A new conversation: tell staff chats that want all, or unassigned ones."""
        if event.new_conversation:
            await self._send("new", event.conversation_id, {"all", "unassigned"},
                             message_id=event.message_id, key=key and f"{key}:new")

    async def on_handoff(self, event: HandoffRequested, key: str | None = None) -> None:
        await self._send("handoff", event.conversation_id, {"all", "unassigned", "needs_human"},
                         key=key and f"{key}:handoff")

    async def notify(self, conversation_id: int, text: str, key: str | None = None) -> int:
        """A rule's notification: to every staff chat that is not off."""
        return await self._send("rule", conversation_id, set(MODES), text, key=key)

    async def announce(self, text: str) -> int:
        """Post a note that is about no conversation (a missed post) to every staff chat."""
        sent = 0
        for account, adapter, chat, _ in await self._targets():
            try:
                await adapter.post_to_chat(account_info(account), chat, text)
                sent += 1
            except ChannelError as exc:
                log.warning("staff note not sent", extra={"account": account.id,
                                                          "error": str(exc)})
            except SealError:  # this account's secret is unreadable: skip it, not the rest
                log.warning("staff note not sent: account secret cannot be opened",
                            extra={"account": account.id})
        return sent

    async def _send(self, reason: str, conversation_id: int, modes: set[str],
                    text: str | None = None, message_id: int | None = None,
                    key: str | None = None) -> int:
        """Post to each target chat. With ``key`` (a followup's action), once per key and
        chat: the key is recorded (unique per account and chat) before the post, so a
        second run of the same key posts nothing. A crash between that record and the
        post loses that one notification (at most once: a notification twice in a staff
        chat is what this prevents)."""
        targets = [t for t in await self._targets() if t[3] in modes]
        if not targets:
            return 0
        conv = await Conversation.filter(id=conversation_id).prefetch_related(
            "contact", "channel_account").first()
        if conv is None:
            return 0
        if reason != "rule" and conv.assignee_id is not None:  # type: ignore[attr-defined]
            targets = [t for t in targets if t[3] != "unassigned"]
        # What the customer said: this message, else their latest (not the bot's answer).
        said = Message.filter(conversation_id=conv.id, direction=Direction.INBOUND)
        if message_id is not None:
            said = said.filter(id=message_id)
        last = await said.order_by("-id").prefetch_related("author").first()
        who = (last.author.name if last is not None and last.author else None) \
            or conv.contact.name or conv.contact.email or f"Visitor #{conv.contact.id}"
        body = text if text is not None else (last.text if last else "")
        adapter_name = getattr(self.adapters.get(conv.channel_kind), "display_name",
                               conv.channel_kind)
        note = BOT.env.get_template("staff.j2").module.notification(  # type: ignore[attr-defined]
            reason, conv.id, f"{adapter_name} · {conv.channel_account.name}", who,
            body[:PREVIEW] + ("…" if len(body) > PREVIEW else ""))
        sent = 0
        for account, adapter, chat, _ in targets:
            mark = None
            if key is not None:
                try:  # the key, claimed for this chat (the unique key enforces it)
                    mark = await StaffNotification.create(
                        channel_account_id=account.id, chat_id=chat,
                        external_id=f"~{key}"[:64], conversation_id=conv.id)
                except IntegrityError:
                    continue  # told already
            try:
                ref = await adapter.post_to_chat(account_info(account), chat, str(note).strip())
            except ChannelError as exc:
                if mark is not None:
                    await mark.delete()
                log.warning("staff notification not sent", extra={
                    "account": account.id, "conversation_id": conv.id, "error": str(exc)})
                continue
            except SealError:  # this account's secret is unreadable: skip it, not the rest
                if mark is not None:
                    await mark.delete()
                log.warning("staff notification not sent: account secret cannot be opened",
                            extra={"account": account.id, "conversation_id": conv.id})
                continue
            await StaffNotification.create(channel_account_id=account.id, chat_id=chat,
                                           external_id=ref, conversation_id=conv.id)
            sent += 1
        return sent


def check_settings(settings: dict[str, Any]) -> str | None:
    """The problem with an account's staff-chat settings, or None."""
    mode = settings.get("staff_notify")
    if mode is not None and mode not in MODES:
        return f"settings.staff_notify must be one of {', '.join(MODES)}, not {mode!r}"
    chat = settings.get("staff_chat_id")
    digits = str(chat).lstrip("-")
    if chat not in (None, "") and not (digits.isascii() and digits.isdigit()) \
            and not str(chat).startswith("@"):
        return "settings.staff_chat_id must be a chat id like -1001234567890"
    return None
