"""Files customers send (a photo, an e-mail attachment), kept on disk beside the database.

A file is stored under ``<data_dir>/attachments/<aa>/<sha256>``, named by the SHA-256 of
its bytes, *before* its message is stored: writing it is idempotent (the same bytes, the
same name; a file already there is left alone), so a crash between the file and the
message loses nothing (the redelivered message finds its file) and a redelivery
duplicates nothing. The message's row and its attachment rows (``message_attachments``)
are then written in one transaction by :func:`bot.core.ingest.ingest_batch`, from the
description :func:`store` returns, kept in ``InboundMessage.attachments``.

A file larger than ``attachment_max_bytes`` is not written; its description says so
(``refused``), the message is kept, and the thread shows a note in its place.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from config import Settings

# Served inline only as these (a picture in the thread); everything else is a download.
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_HASH = re.compile(r"[0-9a-f]{64}")
NAME_LEN, TYPE_LEN = 255, 127
TOO_LARGE = "too_large"


def folder(settings: Settings) -> Path:
    return Path(settings.data_dir) / "attachments"


def path_of(settings: Settings, sha256: str) -> Path:
    """Where the file with this hash lives. ValueError for anything but a SHA-256 in hex,
    so a value from a request can never name a path outside the folder."""
    if not _HASH.fullmatch(sha256):
        raise ValueError("not a SHA-256")
    return folder(settings) / sha256[:2] / sha256


def describe(file_name: str, content_type: str, size: int, kind: str = "file"
             ) -> dict[str, Any]:
    """The metadata of an attachment, names cut to fit their columns."""
    ctype = (content_type or "application/octet-stream").split(";")[0].strip().lower()
    return {"type": kind, "file_name": (file_name or "file")[:NAME_LEN],
            "content_type": ctype[:TYPE_LEN] or "application/octet-stream", "size": size}


def store(settings: Settings, data: bytes, file_name: str, content_type: str,
          kind: str = "file") -> dict[str, Any]:
    """Keep a customer's file and describe it for ``InboundMessage.attachments``: with its
    ``sha256`` when stored, with ``refused`` (and no file written) when it is larger than
    ``attachment_max_bytes``."""
    meta = describe(file_name, content_type, len(data), kind)
    if len(data) > settings.attachment_max_bytes:
        return {**meta, "refused": TOO_LARGE, "limit": settings.attachment_max_bytes}
    digest = hashlib.sha256(data).hexdigest()
    target = path_of(settings, digest)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{digest}.{secrets.token_hex(4)}.part")
        with open(part, "wb") as fh:  # whole, synced, then renamed: never a torn file
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, target)
    return {**meta, "sha256": digest}


def rows(attachments: Any) -> list[tuple[str, str, int, str]]:
    """The ``message_attachments`` rows (file name, type, size, sha256) of a message's
    attachments: the stored ones only (a refused file or bare metadata has no row)."""
    out: list[tuple[str, str, int, str]] = []
    for a in attachments or ():
        digest = a.get("sha256") if isinstance(a, dict) else None
        if isinstance(digest, str) and _HASH.fullmatch(digest) and not a.get("refused"):
            meta = describe(str(a.get("file_name") or ""), str(a.get("content_type") or ""),
                            int(a.get("size") or 0))
            out.append((meta["file_name"], meta["content_type"], meta["size"], digest))
    return out


def file_response(path: Path, file_name: str, content_type: str) -> web.FileResponse:
    """A stored file for a browser: a JPEG, PNG, GIF or WebP shown inline as that type,
    anything else (HTML and SVG included) only as a download, never sniffed into
    something a browser runs."""
    inline = content_type in INLINE_IMAGES
    name = quote(file_name, safe="")
    ascii_name = file_name.encode("ascii", "replace").decode().replace('"', "_")
    return web.FileResponse(path, headers={
        "Content-Type": content_type if inline else "application/octet-stream",
        "Content-Disposition": f"{'inline' if inline else 'attachment'}; "
                               f"filename=\"{ascii_name}\"; filename*=UTF-8''{name}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600"})
