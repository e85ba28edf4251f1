"""Files customers send (a photo, an e-mail attachment), kept on disk beside the database.

A file is stored under ``<data_dir>/attachments/<aa>/<sha256>``, named by the SHA-256 of
its bytes, *before* its message is stored: writing it is idempotent (the same bytes, the
same name; a file already there is left alone), so a crash between the file and the
message loses nothing (the redelivered message finds its file) and a redelivery
duplicates nothing. The message's row and its attachment rows (``message_attachments``)
are then written in one transaction by :func:`bot.core.ingest.ingest_batch`, from the
description :func:`store` returns, kept in ``InboundMessage.attachments``.

A file larger than ``attachment_max_bytes`` is not written; its description says so
(``refused``), the message is kept, and the thread shows a note in its place. A file the
server could not fetch (a channel's link that failed) is kept the same way, refused as
``unavailable``.

What a visitor may upload themselves (the web chat) is narrower: :func:`sniff` names the
type from the bytes, and only :data:`UPLOAD_TYPES` are taken (JPEG, PNG, GIF, WebP, PDF,
plain UTF-8 text). The type the browser declared is not trusted.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from config import Settings

# Served inline only as these (a picture in the thread); everything else is a download.
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_HASH = re.compile(r"[0-9a-f]{64}")
NAME_LEN, TYPE_LEN = 255, 127
TOO_LARGE = "too_large"
UNAVAILABLE = "unavailable"
# What a web chat visitor may upload: pictures shown inline, PDFs and text as downloads.
UPLOAD_TYPES = frozenset({*INLINE_IMAGES, "application/pdf", "text/plain"})
# The leading bytes of each binary type of UPLOAD_TYPES (the WHATWG MIME Sniffing
# standard's patterns; WebP is RIFF....WEBP).
_MAGIC = (((b"\xff\xd8\xff",), "image/jpeg"), ((b"\x89PNG\r\n\x1a\n",), "image/png"),
          ((b"GIF87a", b"GIF89a"), "image/gif"), ((b"%PDF-",), "application/pdf"))
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def folder(settings: Settings) -> Path:
    return Path(settings.data_dir) / "attachments"


def path_of(settings: Settings, sha256: str) -> Path:
    """Where the file with this hash lives. ValueError for anything but a SHA-256 in hex,
    so a value from a request can never name a path outside the folder."""
    if not _HASH.fullmatch(sha256):
        raise ValueError("not a SHA-256")
    return folder(settings) / sha256[:2] / sha256


def sniff(data: bytes) -> str | None:
    """The type of ``data`` among :data:`UPLOAD_TYPES`, read from its bytes, or None.
    Text is UTF-8 (a BOM allowed) without control characters other than tab, line and
    page breaks; so markup is taken as text only, and is then only ever a download."""
    for prefixes, ctype in _MAGIC:
        if data.startswith(prefixes):
            return ctype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return "text/plain" if text and not _TEXT_CONTROLS.search(text) else None


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
    return {**meta, "sha256": write(settings, data)[0]}


def write(settings: Settings, data: bytes) -> tuple[str, bool]:
    """Keep ``data`` under its hash: the hash, and whether this call wrote the file (False:
    it was there already, perhaps another message's)."""
    digest = hashlib.sha256(data).hexdigest()
    target = path_of(settings, digest)
    if target.exists():
        return digest, False
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{digest}.{secrets.token_hex(4)}.part")
    with open(part, "wb") as fh:  # whole, synced, then renamed: never a torn file
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(part, target)
    return digest, True


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


def download_headers(file_name: str, content_type: str) -> dict[str, str]:
    """The headers a kept file is served with: a JPEG, PNG, GIF or WebP inline as that
    type, anything else (HTML and SVG included) only as a download, never sniffed into
    something a browser runs."""
    inline = content_type in INLINE_IMAGES
    name = quote(file_name, safe="")
    ascii_name = file_name.encode("ascii", "replace").decode().replace('"', "_")
    return {"Content-Type": content_type if inline else "application/octet-stream",
            "Content-Disposition": f"{'inline' if inline else 'attachment'}; "
                                   f"filename=\"{ascii_name}\"; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600"}
