"""Images kept for posts under ``<data_dir>/uploads`` and served at a public URL, because
Telegram and Meta fetch a post's images by URL. The upload route (``bot.web.media``) and
a photo sent to the bot (the interactive ``/post``) both keep theirs here."""

from __future__ import annotations

import secrets
from pathlib import Path

from config import Settings

TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}


def new_file(settings: Settings, ext: str) -> Path:
    """A fresh, unguessable path for an uploaded image (its folder created)."""
    folder = settings.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return Path(folder / f"{secrets.token_urlsafe(18)}.{ext}")


def public_url(settings: Settings, name: str, host: str = "") -> str:
    """Where Telegram and Meta fetch the image: under SWITCHBOARD_PUBLIC_URL."""
    host = host or f"{settings.host}:{settings.port}"
    base = settings.public_url.rstrip("/") or f"http://{host}"
    return f"{base}/media/{name}"


def save_image(settings: Settings, data: bytes, name_hint: str) -> str:
    """Keep an image that arrived another way (a photo sent to the bot); its public URL.
    Raises ValueError for a file that is not a JPEG, PNG, WebP or GIF, or too large."""
    ext = sniff(data) or ""
    if not ext:
        raise ValueError(f"{name_hint or 'the file'} is not a JPEG, PNG, WebP or GIF image")
    if len(data) > settings.max_upload_bytes:
        raise ValueError(f"images may be at most {settings.max_upload_bytes:,} bytes")
    path = new_file(settings, ext)
    path.write_bytes(data)
    return public_url(settings, path.name)


def sniff(data: bytes) -> str | None:
    """The image type by its first bytes (the name or a header can lie)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None
