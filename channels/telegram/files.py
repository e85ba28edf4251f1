"""The files a customer's Telegram message carries (photos, documents, voice, video),
fetched with the Bot API's ``getFile`` and kept (:mod:`bot.core.attachments`) before the
message is stored, so staff see them in the thread.

A file whose declared size is over the limit is not downloaded; one that Telegram will
not hand out (``BadRequest``: the Bot API serves at most 20 MB) is noted as unavailable.
Either way the message is kept. A network failure propagates: the update is delivered
again, and the files already kept are found again by their hash."""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from telegram.error import BadRequest

from bot.core import attachments
from bot.core.channel import InboundMessage
from config import Settings

Fetch = Callable[[str], Awaitable[tuple[bytes, str]]]  # file_id -> (bytes, file path)


def _name_and_type(a: dict[str, Any], path: str) -> tuple[str, str]:
    if a.get("type") == "photo":  # Telegram re-encodes every photo as a JPEG
        return "photo.jpg", "image/jpeg"
    base = path.rsplit("/", 1)[-1]
    name = str(a.get("file_name") or base or a.get("type") or "file")
    ctype = str(a.get("mime_type") or mimetypes.guess_type(name)[0]
                or "application/octet-stream")
    return name, ctype


async def keep(settings: Settings, msg: InboundMessage, fetch: Fetch) -> InboundMessage:
    """The message with each file it carries stored and described (its ``sha256``), or
    refused (``too_large``, ``unavailable``)."""
    if not any(isinstance(a, dict) and a.get("file_id") for a in msg.attachments):
        return msg
    out: list[dict[str, Any]] = []
    for a in msg.attachments:
        if not (isinstance(a, dict) and a.get("file_id")):
            out.append(a)
            continue
        declared = a.get("file_size")
        name, ctype = _name_and_type(a, "")
        if isinstance(declared, int) and declared > settings.attachment_max_bytes:
            meta = attachments.describe(name, ctype, declared, str(a.get("type") or "file"))
            out.append({**a, **meta, "refused": attachments.TOO_LARGE,
                        "limit": settings.attachment_max_bytes})
            continue
        try:
            data, path = await fetch(str(a["file_id"]))
        except BadRequest:
            out.append({**a, **attachments.describe(name, ctype, int(declared or 0)),
                        "refused": "unavailable"})
            continue
        name, ctype = _name_and_type(a, path)
        stored = await asyncio.to_thread(attachments.store, settings, data, name, ctype,
                                         str(a.get("type") or "file"))
        out.append({**a, **stored})
    return replace(msg, attachments=tuple(out))
