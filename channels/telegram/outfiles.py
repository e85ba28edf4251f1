"""Files staff attach to a reply, sent to a Telegram chat: a picture with ``sendPhoto``,
anything else (and a picture over the photo limit) with ``sendDocument``, each uploaded
as multipart form data, one message a file, after the reply's text.

Each file is one part of the reply (:class:`bot.core.outfiles.SentParts`): a retry after
a failure or a crash sends only the files that did not go out yet.
"""

from __future__ import annotations

import asyncio
from typing import Any

from telegram import Bot, InputFile
from telegram.error import TelegramError

from bot.core.channel import OutboundMessage
from bot.core.outfiles import OutboundFile
from channels.telegram.client import failure
from channels.telegram.parse import message_id

PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # Bot API: sendPhoto takes at most 10 MB


async def send_file(bot: Bot, chat_id: str, f: OutboundFile, extra: dict[str, Any]) -> str:
    """Upload one file to the chat; the sent message's external id."""
    data = InputFile(await asyncio.to_thread(f.read), filename=f.file_name)
    try:
        if f.content_type in PHOTO_TYPES and f.size <= PHOTO_MAX_BYTES:
            sent = await bot.send_photo(chat_id, data, **extra)
        else:
            sent = await bot.send_document(chat_id, data, **extra)
    except TelegramError as exc:
        raise failure(exc) from exc
    return message_id(chat_id, sent.message_id)


async def send_files(bot: Bot, chat_id: str, message: OutboundMessage,
                     extra: dict[str, Any]) -> str | None:
    """Every file of the reply not sent before; the last one's external id."""
    last = None
    for f in message.files:
        async def one(f: OutboundFile = f) -> str:
            return await send_file(bot, chat_id, f, extra)
        last = await message.parts.once(f.part, one)
    return last
