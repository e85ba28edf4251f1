"""The files customers sent, for the conversation page: which messages carry which stored
files, and one file looked up for download (only within its own conversation)."""

from __future__ import annotations

from typing import Any

from bot.core.errors import NotFound
from bot.models import MessageAttachment


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
