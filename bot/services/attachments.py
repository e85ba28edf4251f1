"""The files customers sent, for the conversation page: which messages carry which stored
files, and one file looked up for download (only within its own conversation); and, for
the web chat, the files of one visitor's conversations."""

from __future__ import annotations

from typing import Any

from bot.core.clean import fit_key
from bot.core.errors import NotFound
from bot.core.ingest import ID_LEN
from bot.models import Identity, MessageAttachment


async def of_thread(thread: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The stored files of a thread's messages: message id -> its files, in order."""
    ids = [t["id"] for t in thread if t.get("type") == "message"]
    out: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return out
    for row in await MessageAttachment.filter(message_id__in=ids).order_by("id").values(
            "id", "message_id", "file_name", "content_type", "size"):
        out.setdefault(row["message_id"], []).append(row)
    return out


async def in_conversation(conversation_id: int, attachment_id: int) -> MessageAttachment:
    """The file, if it came with a message of this conversation; else NotFound (a file is
    never reached through another conversation's address)."""
    found = await MessageAttachment.filter(
        id=attachment_id, message__conversation_id=conversation_id).first()
    if found is None:
        raise NotFound("attachment", "attachment_id")
    return found


# --- what a web chat visitor sees of their own files (ChannelContext) -------------------------

_FIELDS = ("id", "message_id", "file_name", "content_type", "size")


async def of_messages(message_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The stored files of these messages: message id -> its files, in order."""
    out: dict[int, list[dict[str, Any]]] = {}
    if message_ids:
        for row in await MessageAttachment.filter(message_id__in=message_ids).order_by(
                "id").values(*_FIELDS):
            out.setdefault(row["message_id"], []).append(row)
    return out


async def of_message(message_id: int) -> list[dict[str, Any]]:
    """The stored files of one message, in order."""
    return (await of_messages([message_id])).get(message_id, [])


async def of_contact(account_id: int, external_id: str, attachment_id: int
                     ) -> dict[str, Any] | None:
    """A file of a message in a conversation of the contact behind ``external_id`` on this
    account (theirs or a reply to them), with its ``sha256``; None for any other file."""
    contact_id = await Identity.filter(channel_account_id=account_id,
                                       external_id=fit_key(external_id, ID_LEN)
                                       ).first().values_list("contact_id", flat=True)
    if contact_id is None:
        return None
    row: dict[str, Any] | None = await MessageAttachment.filter(
        id=attachment_id, message__conversation__contact_id=contact_id,
        message__conversation__channel_account_id=account_id).first().values(
            *_FIELDS, "sha256")
    return row
