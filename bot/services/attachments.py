"""The files of conversations: which messages carry which stored files, for the
conversation page and the web chat; one file looked up for download (only within its own
conversation, or for a web chat visitor only within their own conversations); and the
files staff attach to a reply (checked against the shop's and the channel's limits,
kept, removed again if the reply is refused, handed to the adapter)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from aiohttp.web_request import FileField

from bot.core import attachments as files
from bot.core.clean import fit_key
from bot.core.errors import InboxError, NotFound, TooLarge
from bot.core.i18n import lazy
from bot.core.ingest import ID_LEN
from bot.core.l10n import format_size
from bot.core.outfiles import MAX_REPLY_FILES, NO_FILE_LIMITS, FileLimits, OutboundFile
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


def limits_of(adapter: Any) -> FileLimits:
    """The sizes of files the channel takes (its adapter's ``file_limits``)."""
    limits = getattr(adapter, "file_limits", NO_FILE_LIMITS)
    return limits if isinstance(limits, FileLimits) else NO_FILE_LIMITS


def check_sizes(settings: Settings, described: Sequence[dict[str, Any]], adapter: Any
                ) -> None:
    """TooLarge (413, naming the file and the limit) when a reply's files are more than
    the shop keeps (``attachment_max_bytes`` a file) or the conversation's channel takes
    (its :class:`~bot.core.outfiles.FileLimits`): refused before anything is kept."""
    limits, channel = limits_of(adapter), str(getattr(adapter, "display_name", ""))
    for f in described:
        if f["size"] > settings.attachment_max_bytes:
            raise TooLarge(lazy("%(name)s is too large: a file may be at most %(limit)s.",
                                name=f["file_name"],
                                limit=format_size(settings.attachment_max_bytes)), "files")
        if limits.per_file is not None and f["size"] > limits.per_file:
            raise TooLarge(lazy("%(name)s is too large for %(channel)s: it takes files of "
                                "at most %(limit)s.", name=f["file_name"], channel=channel,
                                limit=format_size(limits.per_file)), "files")
    total = sum(f["size"] for f in described)
    if limits.total is not None and total > limits.total:
        raise TooLarge(lazy("%(names)s come to %(size)s together: %(channel)s takes at most "
                            "%(limit)s of files in one reply.",
                            names=", ".join(f["file_name"] for f in described),
                            size=format_size(total), channel=channel,
                            limit=format_size(limits.total)), "files")


def _size(field: FileField) -> int:
    field.file.seek(0, os.SEEK_END)
    return int(field.file.tell())


def _write(settings: Settings, field: FileField) -> tuple[str, bool]:
    field.file.seek(0)
    return files.write(settings, field.file.read())


async def keep_uploads(settings: Settings, fields: Sequence[Any], adapter: Any = None
                       ) -> list[dict[str, Any]]:
    """Keep the files of a form (``FileField`` values; an empty file input sends one with
    no name, which is skipped) on disk by their hash, and describe them for
    :meth:`Outbox.send <bot.services.replies.Outbox.send>`. Every file is checked before
    any is written: InboxError for too many or an empty one, TooLarge (413) for one over
    ``attachment_max_bytes`` or over what the conversation's channel (``adapter``) takes
    (:func:`check_sizes`). Each description says whether this call ``created`` the file,
    for :func:`discard_unused` when the reply is refused after all."""
    uploads = [f for f in fields if isinstance(f, FileField) and f.filename]
    if len(uploads) > MAX_REPLY_FILES:
        raise InboxError(lazy("A reply may carry at most %(count)d files.",
                              count=MAX_REPLY_FILES), "too_many_files", "files")
    described = [files.describe(f.filename, f.content_type, await asyncio.to_thread(_size, f))
                 for f in uploads]
    for meta in described:
        if not meta["size"]:  # nothing a channel would take
            raise InboxError(lazy("%(name)s is empty.", name=meta["file_name"]), "empty_file",
                             "files")
    check_sizes(settings, described, adapter)
    kept: list[dict[str, Any]] = []
    try:
        for upload, meta in zip(uploads, described, strict=True):
            digest, created = await asyncio.to_thread(_write, settings, upload)
            kept.append({**meta, "sha256": digest, "created": created})
    except BaseException:  # a write failed (a full disk): none of them is kept
        await discard_unused(settings, kept)
        raise
    return kept


async def discard_unused(settings: Settings, kept: Sequence[dict[str, Any]]) -> None:
    """Remove the files :func:`keep_uploads` wrote for a reply that was then refused: each
    one it ``created`` that no stored message references (a file is named by its hash, so
    the same bytes may belong to another message too; those stay)."""
    for meta in kept:
        digest = meta.get("sha256")
        if meta.get("created") and isinstance(digest, str) and not (
                await MessageAttachment.filter(sha256=digest).exists()):
            await asyncio.to_thread(files.path_of(settings, digest).unlink, missing_ok=True)


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
