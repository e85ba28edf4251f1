"""The files of conversations: which messages carry which stored files, for the
conversation page and the web chat; one file looked up for download (only within its own
conversation, or for a web chat visitor only within their own conversations); and the
files staff attach to a reply (checked against the shop's and the channel's limits,
kept, handed to the adapter); and the clock's sweep of the kept files no message holds."""

from __future__ import annotations

import asyncio
import logging
import os
import time
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

log = logging.getLogger("switchboard.attachments")
SWEEP_SECONDS = 3600.0  # how often the clock runs sweep()
_CHUNK = 500  # hashes asked in one query
_FEW = 20  # orphans removed whatever their share (see _implausible)


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


def _write(settings: Settings, field: FileField) -> str:
    field.file.seek(0)
    return files.write(settings, field.file.read())


async def keep_uploads(settings: Settings, fields: Sequence[Any], adapter: Any = None
                       ) -> list[dict[str, Any]]:
    """Keep the files of a form (``FileField`` values; an empty file input sends one with
    no name, which is skipped) on disk by their hash, and describe them for
    :meth:`Outbox.send <bot.services.replies.Outbox.send>`. Every file is checked before
    any is written: InboxError for too many or an empty one, TooLarge (413) for one over
    ``attachment_max_bytes`` or over what the conversation's channel (``adapter``) takes
    (:func:`check_sizes`). A reply refused after its files were kept leaves them to
    :func:`sweep` (another reply may be storing the same bytes at that moment)."""
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
    return [{**meta, "sha256": await asyncio.to_thread(_write, settings, upload)}
            for upload, meta in zip(uploads, described, strict=True)]


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


# --- the files no message holds ------------------------------------------------------------

async def sweep(settings: Settings, now: float | None = None) -> int:
    """Remove the kept files no message holds that are older than
    ``attachment_orphan_grace_seconds`` (at ``now``, a POSIX time; default the clock's),
    and the temporary files of writes that never finished; how many files it removed. Run by
    the clock hourly, in one process at a time (it may run in two: each removal stands
    alone).

    A file is named by its hash, so it is held by every ``message_attachments`` row with
    that ``sha256``: staff replies' files, and every stored file of an inbound message
    (e-mail, Telegram, Messenger, Instagram, web chat uploads; ``messages.attachments``
    only names files those rows name, written with them in one transaction). A post's
    images live elsewhere (``<data_dir>/uploads``). The grace covers a file written for
    a row not yet committed; a writer of bytes kept already touches the file
    (:func:`bot.core.attachments.write`), and :func:`_remove` re-checks both before it
    removes one."""
    before = (time.time() if now is None else now) - settings.attachment_orphan_grace_seconds
    old, parts = await asyncio.to_thread(files.scan, settings, before)
    orphans: list[str] = []
    for start in range(0, len(old), _CHUNK):
        chunk = old[start:start + _CHUNK]
        held = {r["sha256"] for r in await MessageAttachment.filter(
            sha256__in=chunk).distinct().values("sha256")}
        orphans += [digest for digest in chunk if digest not in held]
    if await _implausible(len(old), len(orphans)):
        return parts
    removed = 0
    for digest in orphans:
        if await asyncio.shield(_remove(settings, digest, before)):
            removed += 1
    if removed or parts:
        log.info("removed orphan attachment files", extra={
            "count": removed, "unfinished": parts})
    return removed + parts


async def _implausible(old: int, orphans: int) -> bool:
    """Whether removing these orphans looks like the wrong database rather than loose
    files: an empty ``message_attachments`` table while old files are kept, or more than
    half the old files (and more than ``_FEW``) held by no row. Then nothing is removed and
    one warning, with counts only, says why (the files stay until the data is right)."""
    if not orphans:
        return False
    empty = not await MessageAttachment.exists()
    if not empty and (orphans <= _FEW or orphans * 2 <= old):
        return False
    log.warning("attachment sweep skipped: too many old files are held by no message; "
                "is the database the one these files belong to?", extra={
                    "old": old, "orphans": orphans, "empty_table": empty})
    return True


async def _remove(settings: Settings, digest: str, before: float) -> bool:
    """One old file no row held a moment ago: set aside, the rows asked again, removed.
    Shielded by the caller: a sweep cancelled half-way (the clock stops, its lease is
    lost) still puts the file back or removes it, never leaves it aside."""
    aside = await asyncio.to_thread(files.set_aside, settings, digest, before)
    if aside is None:
        return False
    try:
        if not await MessageAttachment.filter(sha256=digest).exists():
            return await asyncio.to_thread(files.remove_aside, aside, before)
    except BaseException:
        files.put_back(aside)
        raise
    await asyncio.to_thread(files.put_back, aside)
    return False
