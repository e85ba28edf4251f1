"""The files a Messenger or Instagram message (or a Page comment's photo) carries, fetched
from Meta's links and kept (:mod:`bot.core.attachments`) before the message is stored,
so staff see them in the thread.

A webhook names each file by a link (``message.attachments[].payload.url``; a Page
``feed`` comment's ``photo``): a Meta CDN address that expires. It is fetched at once,
through the server's outbound HTTP session (the outbound URL policy,
:mod:`bot.core.outbound`), and read at most ``attachment_max_bytes``. Only the customer's
own media are fetched (``image``, ``video``, ``audio``, ``file``); a shared post, a story
mention or a template stays a link in the message's metadata.

A failure never loses the message: a file over the limit is refused ``too_large``, one
that cannot be fetched (an error status, a refused address, the network, a timeout)
``unavailable`` with the reason, and the thread shows a note in its place. A redelivered
webhook fetches again and finds the file already kept under its hash; the message itself
is stored once (its ``mid``)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp

from bot.core import attachments, outbound
from bot.core.channel import ChannelContext, InboundMessage

log = logging.getLogger("switchboard.meta")
FETCHED = frozenset({"image", "video", "audio", "file"})


def _wanted(a: Any) -> bool:
    return isinstance(a, dict) and a.get("type") in FETCHED and bool(a.get("url"))


def _name(url: str, kind: str) -> str:
    """The file's name in its link (Meta's CDN keeps it: ``…/123_n.jpg?…``), else its kind."""
    base = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return "".join(c for c in base if c.isprintable()).strip() or kind


def _type(data: bytes, declared: str) -> str:
    """Shown inline only when the bytes are a picture; a declared picture that is not
    one is a download."""
    sniffed = attachments.sniff(data)
    if sniffed in attachments.INLINE_IMAGES:
        return str(sniffed)
    ctype = declared.split(";")[0].strip().lower()
    return "application/octet-stream" if ctype in attachments.INLINE_IMAGES or not ctype \
        else ctype


async def _fetch(http: aiohttp.ClientSession, url: str, limit: int, timeout: float
                 ) -> tuple[bytes, str]:
    """The bytes and declared type at ``url``; ``outbound.TooLarge`` past ``limit``, an
    ``aiohttp.ClientError`` or ``TimeoutError`` when it cannot be had."""
    wait = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
    async with http.get(url, timeout=wait, allow_redirects=True) as resp:
        if resp.status != 200:
            raise aiohttp.ClientResponseError(resp.request_info, resp.history,
                                              status=resp.status, message=resp.reason or "")
        return await outbound.read_capped(resp, limit), resp.headers.get("Content-Type", "")


def _why(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return outbound.refused(exc) or type(exc).__name__


async def keep(ctx: ChannelContext, msg: InboundMessage) -> InboundMessage:
    """The message with each customer file it links stored and described (its
    ``sha256``), or refused (``too_large``, ``unavailable``)."""
    if not any(_wanted(a) for a in msg.attachments):
        return msg
    settings, http = ctx.settings, ctx.http
    limit = settings.attachment_max_bytes
    out: list[dict[str, Any]] = []
    for a in msg.attachments:
        if not _wanted(a):
            out.append(a)
            continue
        url, kind = str(a["url"]), str(a["type"])
        name = _name(url, kind)
        try:
            data, declared = await _fetch(http, url, limit, settings.outbound_timeout_seconds)
        except outbound.TooLarge:
            out.append({**a, **attachments.describe(name, "", 0, kind),
                        "refused": attachments.TOO_LARGE, "limit": limit})
            continue
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("meta attachment not fetched", extra={
                "mid": msg.external_id, "reason": _why(exc)})
            out.append({**a, **attachments.describe(name, "", 0, kind),
                        "refused": attachments.UNAVAILABLE, "reason": _why(exc)})
            continue
        stored = await asyncio.to_thread(attachments.store, settings, data, name,
                                         _type(data, declared), kind)
        out.append({**a, **stored})
    return replace(msg, attachments=tuple(out))
