"""Files in the web chat: the files staff attached to a reply (and any the visitor sent),
as the widget shows them, an image inline and anything else as a download link; served
at ``/chat/files/<id>?account=<id>`` only to the visitor whose conversation holds them
(their signed cookie), with the same headers as the staff's file route (nothing a
browser would run)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from bot.core import attachments
from bot.core.clean import db_id
from bot.core.errors import NotFound
from bot.core.outfiles import OutboundFile
from bot.services.attachments import for_contact
from config import Settings


def items(account_id: int, files: Iterable[dict[str, Any] | OutboundFile]
          ) -> list[dict[str, Any]]:
    """The files of a message as the widget gets them: name, type, size, address."""
    out = []
    for f in files:
        row = f if isinstance(f, dict) else {"id": f.id, "file_name": f.file_name,
                                             "content_type": f.content_type, "size": f.size}
        ctype = row["content_type"]
        out.append({"id": row["id"], "name": row["file_name"], "type": ctype,
                    "size": row["size"], "image": ctype in attachments.INLINE_IMAGES,
                    "url": f"/chat/files/{row['id']}?account={account_id}"})
    return out


async def serve(request: web.Request, settings: Settings, account_id: int,
                visitor: str | None) -> web.StreamResponse:
    """One file of the visitor's own conversations; 404 for anyone else's."""
    file_id = db_id(request.match_info["aid"])
    if visitor is None:
        raise web.HTTPForbidden(text="open /chat first: no visitor cookie")
    try:
        if file_id is None:
            raise NotFound("attachment")
        found = await for_contact(account_id, visitor, file_id)
        path = attachments.path_of(settings, found.sha256)
    except (NotFound, ValueError):
        raise web.HTTPNotFound(text="no such file") from None
    if not path.is_file():
        raise web.HTTPNotFound(text="this file is no longer kept")
    return attachments.file_response(path, found.file_name, found.content_type)
