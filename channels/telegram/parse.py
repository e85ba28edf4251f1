"""Telegram updates (Bot API JSON) to Switchboard's shapes, and text to Telegram's limits.

No I/O and no python-telegram-bot objects here: the webhook and the poller both hand over
the update as the JSON dict Telegram sent, so one parser serves both.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channels.base import ContactInfo, InboundMessage

TEXT_LIMIT = 4096  # characters of one sendMessage text, after entity parsing
# What we ask Telegram for (getUpdates and setWebhook).
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


@dataclass(frozen=True)
class NewMessage:
    msg: InboundMessage


@dataclass(frozen=True)
class Edited:
    external_id: str
    text: str
    edited_at: datetime | None


@dataclass(frozen=True)
class Ignored:
    reason: str


Parsed = NewMessage | Edited | Ignored


def message_id(chat_id: int | str, msg_id: int | str) -> str:
    """Our external id of a Telegram message: message ids are only unique per chat."""
    return f"{chat_id}:{msg_id}"


def _when(ts: Any) -> datetime | None:
    return datetime.fromtimestamp(int(ts), UTC) if isinstance(ts, int) and ts > 0 else None


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


def parse_update(account_id: int, update: dict[str, Any]) -> Parsed:
    if "edited_message" in update:
        m = update["edited_message"]
        return Edited(message_id(m["chat"]["id"], m["message_id"]),
                      m.get("text") or m.get("caption") or "", _when(m.get("edit_date")))
    m = update.get("message")
    if not isinstance(m, dict):
        return Ignored("not a message")
    chat, user = m.get("chat") or {}, m.get("from")
    if chat.get("type") != "private":
        return Ignored(f"{chat.get('type')} chats are not handled yet")
    if not isinstance(user, dict) or user.get("is_bot"):
        return Ignored("not from a person")
    files = attachments(m)
    text = m.get("text") or m.get("caption") or ""
    if not text and not files:
        return Ignored("no text and no file (e.g. a sticker or a service message)")
    return NewMessage(InboundMessage(
        channel_account_id=account_id, external_id=message_id(chat["id"], m["message_id"]),
        contact=_contact(user), text=text, sent_at=_when(m.get("date")),
        attachments=tuple(files)))


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
