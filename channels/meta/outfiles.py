"""Files staff attach to a Messenger or Instagram reply: each one uploaded with the Send
API as multipart form data (``recipient``, ``message`` with an attachment of its type and
no URL, the bytes as ``filedata``), one message a file, after the reply's text.

Each file is one part of the reply (:class:`bot.core.outfiles.SentParts`): a retry after
a failure or a crash sends only the files that did not go out yet.
"""

from __future__ import annotations

import asyncio

from bot.core.channel import OutboundMessage
from bot.core.outfiles import OutboundFile
from channels.meta.graph import Graph

IMAGE_MAX_BYTES = 8 * 1024 * 1024  # Meta's limit for an image; larger ones go as files


def attachment_type(f: OutboundFile) -> str:
    """The Send API's type for the file: image, audio, video or file."""
    major = f.content_type.split("/", 1)[0]
    if f.is_image and f.size <= IMAGE_MAX_BYTES:
        return "image"
    return major if major in ("audio", "video") else "file"


async def send_files(graph: Graph, node: str, message: OutboundMessage) -> str | None:
    """Every file of the reply not sent before; the last one's message id. Raises the
    Graph client's errors (the adapter maps them)."""
    last = None
    for f in message.files:
        async def one(f: OutboundFile = f) -> str:
            data = await asyncio.to_thread(f.read)
            out = await graph.upload(
                node, ("filedata", data, f.file_name, f.content_type),
                recipient={"id": message.contact_external_id}, messaging_type="RESPONSE",
                message={"attachment": {"type": attachment_type(f),
                                        "payload": {"is_reusable": False}}})
            return str(out.get("message_id") or "")
        last = await message.parts.once(f.part, one)
    return last
