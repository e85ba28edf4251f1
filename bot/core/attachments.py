"""Files customers send (a photo, an e-mail attachment), kept on disk beside the database.

A file is stored under ``<data_dir>/attachments/<aa>/<sha256>``, named by the SHA-256 of
its bytes, *before* its message is stored: writing it is idempotent (the same bytes, the
same name; a file already there is only touched), so a crash between the file and the
message loses nothing (the redelivered message finds its file) and a redelivery
duplicates nothing. The message's row and its attachment rows (``message_attachments``)
are then written in one transaction by :func:`bot.core.ingest.ingest_batch`, from the
description :func:`store` returns, kept in ``InboundMessage.attachments``; a staff reply's
the same way by :meth:`bot.services.replies.Outbox.send`.

A file no row references (its reply was refused after the file was written, its message
was deleted, the process stopped before the message was stored) is removed by the
clock's sweep once it is older than ``attachment_orphan_grace_seconds``
(:func:`scan`, :func:`set_aside`, :func:`remove_aside`; the rows are asked by
:func:`bot.services.attachments.sweep`). Never at once: another request may be about to
store a row for the same bytes.

A file larger than ``attachment_max_bytes`` is not written; its description says so
(``refused``), the message is kept, and the thread shows a note in its place. A file the
server could not fetch (a channel's link that failed) is kept the same way, refused as
``unavailable``.

What a visitor may upload themselves (the web chat) is narrower: :func:`sniff` names the
type from the bytes, and only :data:`UPLOAD_TYPES` are taken (JPEG, PNG, GIF, WebP, PDF,
plain UTF-8 text). The type the browser declared is not trusted.
"""

from __future__ import annotations

import contextlib
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
_SUB = re.compile(r"[0-9a-f]{2}")
_PART, _ASIDE = ".part", ".aside"  # a write not yet renamed; a file a sweep set aside
_TEMP = re.compile(r"\.([0-9a-f]{64})\.[0-9a-f]{8}(\.part|\.aside)")  # their names
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
    return {**meta, "sha256": write(settings, data)}


def write(settings: Settings, data: bytes) -> str:
    """Keep ``data`` under its hash and return the hash. A file there already (perhaps
    another message's) is touched instead: its time is now, so :func:`set_aside` leaves
    it alone while the caller stores the row that holds it."""
    digest = hashlib.sha256(data).hexdigest()
    target = path_of(settings, digest)
    try:
        os.utime(target)
        return digest
    except FileNotFoundError:
        pass  # not there, or a sweep has just set it aside: written anew
    except PermissionError:  # not ours to touch (restored by another user): written
        pass  # anew below, so the file is ours and its time is now
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{digest}.{secrets.token_hex(4)}{_PART}")
    with open(part, "wb") as fh:  # whole, synced, then renamed: never a torn file
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(part, target)
    return digest


# --- the sweep of files no message holds (bot.services.attachments.sweep) -----------------
#
# A kept file is old when its time (written, or last touched by write()) is before a
# moment ``before``. An old file no row references is moved aside (a rename, atomic), its
# time read again, the rows asked again, its time read once more, and only then removed;
# a writer that touched it before the rename left a recent time on it (put back), one
# that came after the rename found no file and wrote it anew. A file set aside and never
# finished with (the process stopped) is put back by the next scan.

def scan(settings: Settings, before: float) -> tuple[list[str], int]:
    """The hashes of the kept files older than ``before`` (a POSIX time), and how many
    unfinished writes' temporary files older than it were removed. Files set aside by a
    sweep that never finished are put back; names this module does not write are left
    alone."""
    root, old, parts = folder(settings), [], 0
    subs = sorted(p for p in root.iterdir() if p.is_dir() and _SUB.fullmatch(p.name)) \
        if root.is_dir() else []
    for sub in subs:
        with os.scandir(sub) as entries:
            listed = list(entries)
        for entry in listed:
            name, temp = entry.name, _TEMP.fullmatch(entry.name)
            if temp and temp[2] == _ASIDE:
                put_back(Path(entry.path))
            elif not _older(entry, before):
                continue
            elif _HASH.fullmatch(name) and name.startswith(sub.name):
                old.append(name)
            elif temp:  # a .part
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    parts += 1
    return old, parts


def _older(entry: os.DirEntry[str], before: float) -> bool:
    """Whether this is a file last changed before ``before`` (False when it is gone: a
    write renamed it into place, another sweep removed it)."""
    try:
        return entry.is_file(follow_symlinks=False) and (
            entry.stat(follow_symlinks=False).st_mtime < before)
    except FileNotFoundError:
        return False


def set_aside(settings: Settings, sha256: str, before: float) -> Path | None:
    """Move the kept file out of its place, if it is still older than ``before``: its
    new path, or None (gone already, or touched meanwhile: then left where it was)."""
    target = path_of(settings, sha256)
    aside = target.with_name(f".{sha256}.{secrets.token_hex(4)}{_ASIDE}")
    try:
        os.rename(target, aside)
    except FileNotFoundError:
        return None
    if aside.stat().st_mtime >= before:
        put_back(aside)
        return None
    return aside


def put_back(aside: Path) -> None:
    """Return a file :func:`set_aside` moved to its place (the same bytes as any file
    written there meanwhile, which it replaces)."""
    with contextlib.suppress(FileNotFoundError):
        os.replace(aside, aside.with_name(aside.name[1:65]))


def remove_aside(aside: Path, before: float) -> bool:
    """Remove a file set aside, unless it was touched after all (then it is put back)."""
    try:
        touched = aside.stat().st_mtime >= before
    except FileNotFoundError:
        return False  # put back by another scan
    if touched:
        put_back(aside)
        return False
    try:
        os.unlink(aside)
    except FileNotFoundError:
        return False
    return True


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
