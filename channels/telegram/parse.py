"""Telegram updates (Bot API JSON) to Switchboard's shapes, and text to Telegram's limits.

No I/O and no python-telegram-bot objects here: the webhook and the poller both hand over
the update as the JSON dict Telegram sent, so one parser serves both.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.core.channel import ContactInfo, InboundMessage, StaffInput
from bot.core.clean import from_epoch

TEXT_LIMIT = 4096  # characters of one sendMessage text, after entity parsing
# What we ask Telegram for (getUpdates and setWebhook).
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


@dataclass(frozen=True)
class NewMessage:
    msg: InboundMessage
    # A reply in a supergroup thread that may belong to a post's comments: use this thread
    # key if that thread is known (Telegram gives a thread id to every reply chain).
    maybe_thread: str | None = None


@dataclass(frozen=True)
class Pressed:
    """A button under one of our messages was pressed (must be answered to stop the
    spinner). ``msg`` is None when it is not for the inbox (e.g. in a group)."""

    callback_id: str
    msg: InboundMessage | None


@dataclass(frozen=True)
class Staff:
    input: StaffInput
    callback_id: str = ""  # a pressed button's query, to be answered


@dataclass(frozen=True)
class Edited:
    external_id: str
    text: str
    edited_at: datetime | None


@dataclass(frozen=True)
class Ignored:
    reason: str


Parsed = NewMessage | Edited | Ignored | Pressed | Staff
GROUPS = ("group", "supergroup")


def message_id(chat_id: int | str, msg_id: int | str) -> str:
    """Our external id of a Telegram message: message ids are only unique per chat."""
    return f"{chat_id}:{msg_id}"


def _when(ts: Any) -> datetime | None:
    if not isinstance(ts, int) or isinstance(ts, bool) or ts <= 0:
        return None
    return from_epoch(ts)


def attachments(m: dict[str, Any]) -> list[dict[str, Any]]:
    """File metadata of a message; the file itself is fetched with getFile when needed."""
    out: list[dict[str, Any]] = []
    if m.get("photo"):
        best = max(m["photo"], key=lambda p: p.get("file_size") or p.get("width", 0))
        out.append({"type": "photo", "file_id": best["file_id"],
                    "file_size": best.get("file_size"), "width": best.get("width"),
                    "height": best.get("height")})
    for kind in ("document", "video", "audio", "voice", "animation", "video_note"):
        f = m.get(kind)
        if isinstance(f, dict) and f.get("file_id"):
            out.append({"type": kind, "file_id": f["file_id"],
                        "file_name": f.get("file_name"), "mime_type": f.get("mime_type"),
                        "file_size": f.get("file_size")})
    return out


def _contact(user: dict[str, Any]) -> ContactInfo:
    name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p)
    locale = user.get("language_code")
    return ContactInfo(external_id=str(user["id"]), name=name or user.get("username"),
                       locale=str(locale)[:16] if locale else None)


def command_of(text: str) -> str | None:
    """``"/assign@ShopBot 3"`` -> ``"assign"``; None when the text is not a command."""
    if not text.startswith("/"):
        return None
    return text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else None


def parse_update(account_id: int, update: dict[str, Any], staff_chat_id: str = "",
                 staff_commands: frozenset[str] = frozenset()) -> Parsed:
    """One update to what it means for us.

    Args:
        staff_chat_id: The chat where staff get notifications; everything said there is
            staff input, never a customer message.
        staff_commands: Commands that are staff input wherever they are written.
    """
    if "callback_query" in update:
        return _pressed(account_id, update["callback_query"])
    if "edited_message" in update:
        m = update["edited_message"]
        return Edited(message_id(m["chat"]["id"], m["message_id"]),
                      m.get("text") or m.get("caption") or "", _when(m.get("edit_date")))
    m = update.get("message")
    if not isinstance(m, dict):
        return Ignored("not a message")
    chat, user = m.get("chat") or {}, m.get("from")
    if not isinstance(user, dict) or user.get("is_bot"):
        return Ignored("not from a person")
    text = m.get("text") or m.get("caption") or ""
    chat_id = str(chat.get("id"))
    if (staff_chat_id and chat_id == staff_chat_id) or command_of(text) in staff_commands:
        reply_to = m.get("reply_to_message") or {}
        return Staff(StaffInput(
            account_id=account_id, chat_id=chat_id, user_external_id=str(user["id"]),
            user_name=_contact(user).name or "", text=text,
            in_staff_chat=bool(staff_chat_id) and chat_id == staff_chat_id,
            reply_to_external_id=str(reply_to["message_id"]) if reply_to else None,
            external_id=message_id(chat_id, m["message_id"]),
            language=_contact(user).locale))
    files = attachments(m)
    if not text and not files:
        return Ignored("no text and no file (e.g. a sticker or a service message)")
    msg = InboundMessage(
        channel_account_id=account_id, external_id=message_id(chat["id"], m["message_id"]),
        contact=_contact(user), text=text, sent_at=_when(m.get("date")),
        attachments=tuple(files))
    if chat.get("type") == "private":
        return NewMessage(msg)
    if chat.get("type") not in GROUPS:
        return Ignored(f"{chat.get('type')} chats are not an inbox source")
    if m.get("is_automatic_forward") or m.get("sender_chat"):
        return Ignored("a channel post copied into its discussion group, or sent on behalf "
                       "of a chat")
    return _comment(msg, chat, m)


def _comment(msg: InboundMessage, chat: dict[str, Any], m: dict[str, Any]) -> NewMessage:
    """A member's message in a group: a public comment on the group's conversation, or on
    its own conversation per forum topic or per channel post (discussion group)."""
    chat_id = chat["id"]
    group = ContactInfo(external_id=str(chat_id), name=chat.get("title") or "Telegram group")
    thread_id = m.get("message_thread_id")
    reply_to = m.get("reply_to_message") or {}
    thread = maybe = None
    if thread_id and m.get("is_topic_message"):
        thread = f"{chat_id}/topic/{thread_id}"
    elif thread_id and reply_to.get("is_automatic_forward"):
        thread = f"{chat_id}/post/{thread_id}"  # a comment on a channel post
    elif thread_id:
        maybe = f"{chat_id}/post/{thread_id}"  # a reply to a comment, or any reply chain
    return NewMessage(replace(msg, contact=group, author=msg.contact, thread_id=thread),
                      maybe_thread=maybe)


def _pressed(account_id: int, q: dict[str, Any]) -> Pressed:
    m, user, data = q.get("message") or {}, q.get("from") or {}, str(q.get("data") or "")
    chat = m.get("chat") or {}
    if chat.get("type") != "private" or not data or not user.get("id"):
        return Pressed(str(q.get("id")), None)
    label = data
    for row in (m.get("reply_markup") or {}).get("inline_keyboard") or []:
        for button in row:
            if button.get("callback_data") == data:
                label = button.get("text") or data
    return Pressed(str(q["id"]), InboundMessage(
        channel_account_id=account_id, external_id=f"cb:{q['id']}", contact=_contact(user),
        text=label, payload=data[:64]))


def _units(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2  # Telegram counts UTF-16 code units


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split into pieces of at most ``limit`` UTF-16 units, at a paragraph, line or word
    break when there is one in the second half of the piece."""
    pieces: list[str] = []
    rest = text
    while _units(rest) > limit:
        cut = len(rest)
        while _units(rest[:cut]) > limit:  # characters that fit (astral ones count twice)
            cut = max(1, min(cut - 1, cut * limit // max(1, _units(rest[:cut]))))
        window = rest[:cut]
        for sep in ("\n\n", "\n", " "):
            at = window.rfind(sep)
            if at >= cut // 2:
                cut = at + len(sep)
                break
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n")
    if rest.strip() or not pieces:
        pieces.append(rest)
    return [p for p in pieces if p]


def to_html(text: str) -> str:
    """Staff write plain text; sent with parse_mode=HTML, so escape what HTML would eat."""
    return html.escape(text, quote=False)
