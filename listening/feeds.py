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

import hashlib
import logging
import time
from calendar import timegm
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from tortoise.exceptions import IntegrityError

from bot.core import due
from bot.models import Feed, FeedEntry
from listening.errors import Missing, Taken
from listening.service import Item, Listening

log = logging.getLogger("switchboard.feeds")
FEEDS_DUE = due.DueTable("feeds", "due_at", where="enabled = true")
MAX_FEED_BYTES = 5 * 1024 * 1024


async def all_feeds() -> list[Feed]:
    return await Feed.all().order_by("id")


async def add_feed(url: str, name: str = "", interval_minutes: int = 15) -> Feed:
    """Poll ``url`` from now on (its first poll is due at once)."""
    if await Feed.filter(url=url).exists():
        raise Taken("this feed is already polled", "url")
    return await Feed.create(url=url, name=name, interval_minutes=interval_minutes,
                             due_at=datetime.now(UTC))


async def remove_feed(feed_id: int) -> None:
    if not await Feed.filter(id=feed_id).delete():
        raise Missing("feed", "feed_id")


def _when(entry: Any) -> datetime:
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry.get(key)
        if parsed:
            return datetime.fromtimestamp(timegm(parsed), UTC)
    return datetime.now(UTC)


def _key(entry: Any) -> str:
    key = entry.get("id") or entry.get("link") or entry.get("title") or ""
    return key if len(key) <= 400 else hashlib.sha256(key.encode()).hexdigest()


def _text(entry: Any) -> str:
    import re
    parts = [entry.get("title") or "", entry.get("summary") or ""]
    text = "\n".join(p for p in parts if p)
    return re.sub(r"<[^>]+>", " ", text).strip()


async def poll(feed: Feed, http: aiohttp.ClientSession, listening: Listening,
               timeout: float = 20.0) -> int:
    """Fetch one feed and take its new entries; the number taken."""
    import feedparser
    headers = {}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    status, body, etag, modified = 0, b"", feed.etag, feed.last_modified
    try:
        async with http.get(feed.url, headers=headers,
                            timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            status = resp.status
            if status == 200:
                body = await resp.content.read(MAX_FEED_BYTES)
                etag = resp.headers.get("ETag", "")
                modified = resp.headers.get("Last-Modified", "")
    except (aiohttp.ClientError, TimeoutError) as exc:
        await _done(feed, None, f"fetch failed: {exc or type(exc).__name__}")
        return 0
    if status == 304:
        await _done(feed, status, "")
        return 0
    if status != 200:
        await _done(feed, status, f"HTTP {status}")
        return 0
    parsed = feedparser.parse(body)
    if parsed.bozo and not parsed.entries:
        await _done(feed, status, f"not a feed: {parsed.get('bozo_exception', '')}"[:500])
        return 0
    taken = 0
    for entry in parsed.entries:
        key = _key(entry)
        if not key or await FeedEntry.exists(feed_id=feed.id, key=key):
            continue  # seen on an earlier poll
        # Taken first, remembered after: an entry is never remembered without having
        # been taken (a process that dies in between takes it again on the next poll,
        # and its mentions are stored once: take skips a rule it already has).
        text = _text(entry)
        if text:
            await listening.take(Item("mention", 0, text, "rss", f"rss:{feed.id}:{key}",
                                      _when(entry), author=entry.get("author") or "",
                                      url=entry.get("link") or ""))
        try:
            await FeedEntry.create(feed_id=feed.id, key=key)
        except IntegrityError:
            pass  # remembered meanwhile (a feed listing one entry twice)
        taken += 1
    feed.etag, feed.last_modified = etag[:300], modified[:100]
    if not feed.name and parsed.feed.get("title"):
        feed.name = str(parsed.feed.get("title"))[:200]
    await _done(feed, status, "")
    return taken


async def _done(feed: Feed, status: int | None, error: str) -> None:
    now = datetime.now(UTC)
    feed.polled_at, feed.last_status, feed.last_error = now, status, error[:500]
    feed.due_at = now + timedelta(minutes=feed.interval_minutes)
    feed.lease_until = None
    await feed.save(update_fields=["polled_at", "last_status", "last_error", "due_at",
                                   "lease_until", "etag", "last_modified", "name"])
    if error:
        log.warning("feed poll failed", extra={"feed": feed.id, "error": error})


async def poll_due(http: aiohttp.ClientSession, listening: Listening,
                   now: datetime | None = None, lease: float = 120.0) -> int:
    """Poll every feed that is due (claimed with a lease); entries taken."""
    started = time.monotonic()
    ids = await due.claim(FEEDS_DUE, timedelta(seconds=lease), 20, now=now)
    taken = 0
    for feed in await Feed.filter(id__in=ids):
        taken += await poll(feed, http, listening)
    if ids:
        log.info("feeds polled", extra={"feeds": len(ids), "entries": taken,
                                        "seconds": round(time.monotonic() - started, 2)})
    return taken
