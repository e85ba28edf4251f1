"""RSS and Atom feeds, polled by the clock for mentions.

Feeds are due work (``feeds.due_at`` with a lease, like posts): several processes never
poll one feed at once. Each poll sends the ETag and Last-Modified the feed gave last time,
so an unchanged feed answers 304 with no body. Entries are parsed with feedparser and
remembered by id (else link, else title), so an entry is taken once even when a feed
ignores those headers or re-orders itself. An entry is remembered only once it has been
taken, so one whose taking was cut short is taken on the next poll.

Staff keep the list with :func:`all_feeds`, :func:`add_feed` and :func:`remove_feed`
(the REST API and the pages alike).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import json
import logging
import time
from calendar import timegm
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from tortoise.exceptions import IntegrityError

from bot.core import due, outbound
from bot.core.clean import fit, fit_key, from_epoch, storable
from bot.core.i18n import lazy
from bot.core.links import web_url
from bot.models import Feed, FeedEntry
from bot.services.quarantine import store_or_quarantine
from listening.errors import Missing, Taken
from listening.service import Item, Listening

log = logging.getLogger("switchboard.feeds")
FEEDS_DUE = due.DueTable("feeds", "due_at", where="enabled = true")
MAX_FEED_BYTES = 5 * 1024 * 1024
QUARANTINE_TRIES = 3  # the default of settings.quarantine_tries


async def all_feeds() -> list[Feed]:
    return await Feed.all().order_by("id")


async def add_feed(url: str, name: str = "", interval_minutes: int = 15, *,
                   refuse_private: bool = False) -> Feed:
    """Poll ``url`` from now on (its first poll is due at once). The URL must be http(s)
    with a host (422 otherwise); where it leads is checked at each poll by the outbound
    policy (``bot.core.outbound``), and also here when ``refuse_private``."""
    url = outbound.check_url(url, allow_private=not refuse_private)
    if await Feed.filter(url=url).exists():
        raise Taken(lazy("this feed is already polled"), "url")
    return await Feed.create(url=url, name=name, interval_minutes=interval_minutes,
                             due_at=datetime.now(UTC))


async def remove_feed(feed_id: int) -> None:
    if not await Feed.filter(id=feed_id).delete():
        raise Missing("feed", "feed_id")


def _when(entry: Any) -> datetime:
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry.get(key)
        when = from_epoch(timegm(parsed)) if parsed else None
        if when is not None:
            return when
    return datetime.now(UTC)


def _key(entry: Any) -> str:
    """The entry's id (else link, else title) as the database keeps it (no NUL, which
    PostgreSQL refuses even in a look-up); over 400 characters, its SHA-256."""
    key = storable(str(entry.get("id") or entry.get("link") or entry.get("title") or ""))
    return key if len(key) <= 400 else hashlib.sha256(key.encode()).hexdigest()


def _text(entry: Any) -> str:
    import re
    parts = [entry.get("title") or "", entry.get("summary") or ""]
    text = "\n".join(p for p in parts if p)
    return re.sub(r"<[^>]+>", " ", text).strip()


class TooLarge(Exception):
    """A feed body over the limit: an error for that feed, never a truncated success."""


async def _read(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, however slowly it arrives, or TooLarge past ``limit`` bytes."""
    if (resp.content_length or 0) > limit:
        raise TooLarge
    body = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


def _parse(body: bytes) -> Any:
    """feedparser on the body as a stream: given bytes it would take a body that names a
    file ("/etc/passwd") for that file's path and read it."""
    import feedparser
    return feedparser.parse(io.BytesIO(body))


def _ref(feed: Feed, key: str) -> str:
    return fit_key(f"rss:{feed.id}:{key}", 300)  # Mention.source_ref


async def _take(feed: Feed, entry: Any, key: str, listening: Listening) -> None:
    # Taken first, remembered after: an entry is never remembered without having been
    # taken (a process that dies in between takes it again on the next poll, and its
    # mentions are stored once: take skips a rule it already has).
    text = storable(_text(entry))
    if text:
        await listening.take(Item("mention", 0, text, "rss", _ref(feed, key), _when(entry),
                                  author=storable(str(entry.get("author") or "")),
                                  url=web_url(storable(str(entry.get("link") or "")))))
    try:
        await FeedEntry.create(feed_id=feed.id, key=key)
    except IntegrityError:
        pass  # remembered meanwhile (a feed listing one entry twice)


async def poll(feed: Feed, http: aiohttp.ClientSession, listening: Listening,
               timeout: float = 20.0, *, max_bytes: int = MAX_FEED_BYTES,
               tries: int = QUARANTINE_TRIES) -> int:
    """Fetch one feed and take its new entries; the number taken.

    The body is read whole (up to ``max_bytes``: past it the poll is an error) and parsed
    in a thread. An entry that cannot be stored is tried ``tries`` polls, then quarantined
    (``store_or_quarantine``, source "feed"). The ETag and Last-Modified are kept only once
    every entry was stored or quarantined, so a conditional request never hides an entry
    still to take."""
    headers = {}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    status, body, etag, modified = 0, b"", "", ""
    try:
        async with http.get(feed.url, headers=headers,
                            timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            status = resp.status
            if status == 200:
                body = await _read(resp, max_bytes)
                etag = resp.headers.get("ETag", "")
                modified = resp.headers.get("Last-Modified", "")
    except TooLarge:
        await _done(feed, status, f"the feed is larger than {max_bytes} bytes")
        return 0
    except (aiohttp.ClientError, TimeoutError) as exc:
        why = outbound.refused(exc) or str(exc) or type(exc).__name__
        await _done(feed, None, f"fetch failed: {why}")
        return 0
    if status == 304:
        await _done(feed, status, "")
        return 0
    if status != 200:
        await _done(feed, status, f"HTTP {status}")
        return 0
    try:
        parsed = await asyncio.to_thread(_parse, body)
    except Exception as exc:  # noqa: BLE001 - feedparser fails on some input it reads
        await _done(feed, status, f"not a feed: {type(exc).__name__}")
        return 0
    if parsed.bozo and not parsed.entries:
        await _done(feed, status, f"not a feed: {parsed.get('bozo_exception', '')}")
        return 0
    taken, complete = 0, True
    for entry in parsed.entries:
        key = _key(entry)
        if not key or await FeedEntry.exists(feed_id=feed.id, key=key):
            continue  # seen on an earlier poll
        raw = json.dumps({k: entry.get(k) for k in ("id", "link", "title", "summary")},
                         ensure_ascii=False, default=str)
        store = functools.partial(_take, feed, entry, key, listening)
        if await store_or_quarantine("feed", feed.id, key, raw, store, tries=tries):
            taken += 1
        else:
            complete = False  # tried again on the next poll, so the whole body is needed
    if complete:  # a value too long for its column is no validator: none is kept
        feed.etag = etag if len(etag) <= 300 else ""
        feed.last_modified = modified if len(modified) <= 100 else ""
    else:
        feed.etag = feed.last_modified = ""
    if not feed.name and parsed.feed.get("title"):
        feed.name = fit(storable(str(parsed.feed.get("title"))), 200)
    await _done(feed, status, "" if complete else "an entry could not be stored yet")
    return taken


async def _done(feed: Feed, status: int | None, error: str) -> None:
    now = datetime.now(UTC)
    feed.polled_at, feed.last_status = now, status
    feed.last_error = fit(storable(error), 500)
    feed.due_at = now + timedelta(minutes=feed.interval_minutes)
    feed.lease_until = None
    await feed.save(update_fields=["polled_at", "last_status", "last_error", "due_at",
                                   "lease_until", "etag", "last_modified", "name"])
    if error:
        log.warning("feed poll failed", extra={"feed": feed.id, "error": fit(error, 200)})


async def poll_due(http: aiohttp.ClientSession, listening: Listening,
                   now: datetime | None = None, lease: float = 120.0,
                   tries: int = QUARANTINE_TRIES) -> int:
    """Poll every feed that is due (claimed with a lease); entries taken. A feed whose poll
    fails unexpectedly gets the error and its next due time; the next feed is polled."""
    started = time.monotonic()
    ids = await due.claim(FEEDS_DUE, timedelta(seconds=lease), 20, now=now)
    taken = 0
    for feed in await Feed.filter(id__in=ids):
        try:
            taken += await poll(feed, http, listening, tries=tries)
        except Exception as exc:  # noqa: BLE001 - one feed never stops the others
            log.exception("feed poll crashed", extra={"feed": feed.id})
            try:
                await _done(feed, None, f"poll failed: {type(exc).__name__}")
            except Exception:  # noqa: BLE001 - the lease runs out and it is polled again
                log.exception("feed poll not recorded", extra={"feed": feed.id})
    if ids:
        log.info("feeds polled", extra={"feeds": len(ids), "entries": taken,
                                        "seconds": round(time.monotonic() - started, 2)})
    return taken
