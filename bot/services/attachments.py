"""The files of conversations: which messages carry which stored files, for the
conversation page and the web chat; one file looked up for download (only within its own
conversation, or for a web chat visitor only within their own conversations); and the
files staff attach to a reply (kept, checked, handed to the adapter)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiohttp.web_request import FileField
from jinja2.filters import do_filesizeformat

from bot.core import attachments as files
from bot.core.clean import fit_key
from bot.core.errors import InboxError, NotFound, TooLarge
from bot.core.i18n import lazy
from bot.core.ingest import ID_LEN
from bot.core.outfiles import MAX_REPLY_FILES, OutboundFile
from bot.models import Conversation, Identity, MessageAttachment
from config import Settings


async def of_thread(thread: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The stored files of a thread's messages: message id -> its files, in order."""
    return await of_messages([t["id"] for t in thread if t.get("type") == "message"])


async def in_conversation(conversation_id: int, attachment_id: int) -> MessageAttachment:
    """The file, if it came with a message of this conversation; else NotFound (a file is
    never reached through another conversation's address)."""
    found = await MessageAttachment.filter(
        id=attachment_id, message__conversation_id=conversation_id).first()
    if found is None:
        raise NotFound("attachment", "attachment_id")
    return found


# --- files staff attach to a reply ---------------------------------------------------------

def carries_files(adapter: Any, conversation: Conversation) -> bool:
    """Whether a reply in this conversation can carry files: the channel declares it
    (``supports_media``), and a public thread (comments) never does."""
    return bool(getattr(adapter, "supports_media", False)) and not conversation.is_public


def _keep(settings: Settings, field: FileField) -> dict[str, Any]:
    field.file.seek(0)
    data = field.file.read(settings.attachment_max_bytes + 1)
    if not data:  # described, not kept: refused by the caller
        return files.describe(field.filename, field.content_type, 0)
    return files.store(settings, data, field.filename, field.content_type)


async def keep_uploads(settings: Settings, fields: Sequence[Any]) -> list[dict[str, Any]]:
    """Keep the files of a form (``FileField`` values; an empty file input sends one with
    no name, which is skipped) on disk by their hash, and describe them for
    :meth:`Outbox.send <bot.services.replies.Outbox.send>`. TooLarge (413) for a file over
    ``attachment_max_bytes`` (nothing of it is written), InboxError for too many or an
    empty one."""
    uploads = [f for f in fields if isinstance(f, FileField) and f.filename]
    if len(uploads) > MAX_REPLY_FILES:
        raise InboxError(lazy("A reply may carry at most %(count)d files.",
                              count=MAX_REPLY_FILES), "too_many_files", "files")
    kept = []
    for upload in uploads:
        meta = await asyncio.to_thread(_keep, settings, upload)
        if meta.get("refused"):
            raise TooLarge(lazy("%(name)s is too large: a file may be at most %(limit)s.",
                                name=meta["file_name"],
                                limit=do_filesizeformat(settings.attachment_max_bytes)),
                           "files")
        if not meta["size"]:  # nothing a channel would take
            raise InboxError(lazy("%(name)s is empty.", name=meta["file_name"]), "empty_file",
                             "files")
        kept.append(meta)
    return kept


async def outbound(settings: Settings, message_id: int) -> tuple[OutboundFile, ...]:
    """The files of a stored reply, as its adapter sends them."""
    rows = await MessageAttachment.filter(message_id=message_id).order_by("id").values(
        "id", "file_name", "content_type", "size", "sha256")
    return tuple(OutboundFile(r["id"], r["file_name"], r["content_type"], r["size"],
                              files.path_of(settings, r["sha256"])) for r in rows)


# --- the files of messages, and what a web chat visitor may fetch (ChannelContext) ----------

_FIELDS = ("id", "message_id", "file_name", "content_type", "size")


async def of_messages(message_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The stored files of these messages: message id -> its files, in order."""
    out: dict[int, list[dict[str, Any]]] = {}
    if message_ids:
        for row in await MessageAttachment.filter(message_id__in=list(message_ids)).order_by(
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
