"""Feeds lose no entries (issue 19 point 8) and reach no private address (point 6): the
whole body is read (up to a limit), long ids fit, parsing runs off the event loop, one
feed's failure never skips the next, an entry that cannot be stored is quarantined."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.core.keys import HTTP
from bot.models import Feed, FeedEntry, ImportFailure, Mention
from listening import feeds
from listening.service import Item, Listening
from tests.conftest import Shop, make_settings, start_shop

ITEM = ("<item><guid>{g}</guid><title>Acme news {n}</title><link>https://news.example/{n}"
        "</link><description>about acme</description></item>")


def rss(ids: list[str]) -> str:
    items = "".join(ITEM.format(g=g, n=n) for n, g in enumerate(ids))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Shop news</title>'
            f"{items}</channel></rss>")


async def _rule(shop: Shop) -> None:
    status, out = await shop.api("POST", "/api/v1/listening/rules", json={
        "name": "Acme", "kind": "brand", "query": "acme"})
    assert status == 201, out


async def _feed_server(aiohttp_server: Any, bodies: dict[str, str], seen: list[str],
                       chunks: int = 1, pause: float = 0.0) -> Any:
    async def serve(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        body = bodies[request.path].encode()
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml",
                                           "ETag": '"v1"'})
        await resp.prepare(request)
        size = -(-len(body) // chunks)
        for start in range(0, len(body), size):
            await resp.write(body[start:start + size])
            await asyncio.sleep(pause)
        await resp.write_eof()
        return resp
    app = web.Application()
    app.router.add_get("/{name}", serve)
    return await aiohttp_server(app)


async def _add(url: str) -> Feed:
    return await Feed.create(url=url, due_at=datetime.now(UTC) - timedelta(seconds=1))


async def test_a_slow_feed_is_read_whole(shop: Shop, aiohttp_server: Any) -> None:
    ids = [f"entry-{i}" for i in range(200)]
    seen: list[str] = []
    server = await _feed_server(aiohttp_server, {"/slow.xml": rss(ids)}, seen,
                                chunks=25, pause=0.01)
    feed = await _add(str(server.make_url("/slow.xml")))
    async with aiohttp.ClientSession() as http:
        assert await feeds.poll(feed, http, Listening(None)) == 200
    assert await FeedEntry.filter(feed_id=feed.id).count() == 200
    await feed.refresh_from_db()
    assert feed.etag == '"v1"' and feed.last_status == 200 and feed.last_error == ""


async def test_long_ids_fit_and_later_feeds_still_polled(shop_any_db: Shop,
                                                         aiohttp_server: Any) -> None:
    await _rule(shop_any_db)
    seen: list[str] = []
    bodies = {"/a.xml": rss(["a1", "x" * 350, "y" * 600, "a4"]), "/b.xml": rss(["b1"])}
    server = await _feed_server(aiohttp_server, bodies, seen)
    first = await _add(str(server.make_url("/a.xml")))
    later = await _add(str(server.make_url("/b.xml")))
    async with aiohttp.ClientSession() as http:
        assert await feeds.poll_due(http, Listening(None)) == 5
    assert await FeedEntry.filter(feed_id=first.id).count() == 4
    assert await FeedEntry.filter(feed_id=later.id).count() == 1
    refs = await Mention.filter(source="rss").values_list("source_ref", flat=True)
    assert len(set(refs)) == 5 and all(len(str(r)) <= 300 for r in refs)
    for row in (first, later):
        await row.refresh_from_db()
        assert row.last_error == "" and row.etag == '"v1"'


async def test_one_broken_feed_never_skips_the_next(shop: Shop, aiohttp_server: Any) -> None:
    seen: list[str] = []
    server = await _feed_server(aiohttp_server, {"/a.xml": rss(["a1"]),
                                                 "/b.xml": rss(["b1"])}, seen)
    first = await _add(str(server.make_url("/a.xml")))
    later = await _add(str(server.make_url("/b.xml")))

    class Broken(Listening):
        async def take(self, item: Item) -> Any:
            if item.source_ref.startswith(f"rss:{first.id}:"):
                raise RuntimeError("the database went away")
            return await super().take(item)
    async with aiohttp.ClientSession() as http:
        await feeds.poll_due(http, Broken(None))
    assert await FeedEntry.filter(feed_id=later.id).count() == 1
    await first.refresh_from_db()
    assert first.etag == ""  # its entry was not taken: the next poll asks for it again


async def test_an_entry_that_cannot_be_stored_is_quarantined(shop: Shop,
                                                             aiohttp_server: Any) -> None:
    seen: list[str] = []
    server = await _feed_server(aiohttp_server, {"/a.xml": rss(["good", "bad", "fine"])},
                                seen)
    feed = await _add(str(server.make_url("/a.xml")))

    class Picky(Listening):
        async def take(self, item: Item) -> Any:
            if item.source_ref.endswith(":bad"):
                raise ValueError("cannot store this one")
            return await super().take(item)
    async with aiohttp.ClientSession() as http:
        for attempt in range(3):
            await feeds.poll(feed, http, Picky(None), tries=3)
            await feed.refresh_from_db()
            # the ETag is kept back until every entry is stored or quarantined
            assert feed.etag == ('"v1"' if attempt == 2 else ""), attempt
    # the quarantined entry is not remembered as taken: an admin's retry takes it again
    keys = {str(k) for k in await FeedEntry.filter(feed_id=feed.id).values_list("key",
                                                                                 flat=True)}
    assert keys == {"good", "fine"}
    failure = await ImportFailure.get(source="feed", account_id=feed.id, key="bad")
    assert failure.quarantined and failure.tries == 3 and "cannot store" in failure.error
    assert '"title": "Acme news 1"' in failure.body
    async with aiohttp.ClientSession() as http:  # moved past: no fourth try
        await feeds.poll(feed, http, Picky(None), tries=3)
    await failure.refresh_from_db()
    assert failure.tries == 3


async def test_a_body_over_the_limit_is_an_error(shop: Shop, aiohttp_server: Any) -> None:
    seen: list[str] = []
    body = rss([f"e{i}" for i in range(300)])
    server = await _feed_server(aiohttp_server, {"/big.xml": body}, seen, chunks=7)
    feed = await _add(str(server.make_url("/big.xml")))
    async with aiohttp.ClientSession() as http:
        assert await feeds.poll(feed, http, Listening(None), max_bytes=len(body) // 2) == 0
    await feed.refresh_from_db()
    assert "larger than" in feed.last_error and feed.etag == ""
    assert await FeedEntry.filter(feed_id=feed.id).count() == 0


async def test_parsing_runs_off_the_event_loop(shop: Shop, aiohttp_server: Any,
                                               monkeypatch: Any) -> None:
    import feedparser
    threads: list[int] = []
    real = feedparser.parse

    def spy(*args: Any, **kw: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args, **kw)
    monkeypatch.setattr(feedparser, "parse", spy)
    seen: list[str] = []
    server = await _feed_server(aiohttp_server, {"/a.xml": rss(["a1"])}, seen)
    feed = await _add(str(server.make_url("/a.xml")))
    async with aiohttp.ClientSession() as http:
        assert await feeds.poll(feed, http, Listening(None)) == 1
    assert threads and threading.get_ident() not in threads


async def test_a_body_naming_a_local_file_is_not_read(shop: Shop, aiohttp_server: Any,
                                                      tmp_path: Path) -> None:
    """feedparser opens a file when given a path: a feed whose body is a path on this
    server must not make it parse that file."""
    local = tmp_path / "local.xml"
    local.write_text(rss(["from-the-server-disk"]))
    seen: list[str] = []
    server = await _feed_server(aiohttp_server, {"/a.xml": str(local)}, seen)
    feed = await _add(str(server.make_url("/a.xml")))
    async with aiohttp.ClientSession() as http:
        assert await feeds.poll(feed, http, Listening(None)) == 0
    assert not await FeedEntry.filter(feed_id=feed.id).exists()
    await feed.refresh_from_db()
    assert feed.last_error.startswith("not a feed")


async def test_the_server_refuses_private_feed_urls(aiohttp_client: Any, aiohttp_server: Any,
                                                    tmp_path: Path) -> None:
    inside: list[str] = []
    server = await _feed_server(aiohttp_server, {"/feed.xml": rss(["x"])}, inside)
    port = server.port

    async def bounce(request: web.Request) -> web.StreamResponse:
        inside.append("front")
        raise web.HTTPFound(f"http://127.0.0.1:{port}/feed.xml")
    front_app = web.Application()
    front_app.router.add_get("/feed", bounce)
    front = await aiohttp_server(front_app)
    # the operator's own Graph URL is trusted: here it stands for a public site
    settings = make_settings(tmp_path, allow_private_urls=False,
                             graph_api_url=f"http://127.0.0.1:{front.port}")
    shop = await start_shop(aiohttp_client, settings)
    urls = [f"http://169.254.169.254:{port}/latest/", f"http://127.0.0.1:{port}/feed.xml",
            f"http://localhost:{port}/feed.xml", f"http://[::1]:{port}/feed.xml",
            f"http://2130706433:{port}/feed.xml", f"http://127.0.0.1:{front.port}/feed"]
    rows = [await _add(url) for url in urls]
    await feeds.poll_due(shop.client.app[HTTP], Listening(None))
    assert inside == ["front"]  # the front was asked; its redirect inside was refused
    for row in rows:
        await row.refresh_from_db()
        assert row.last_error.startswith("fetch failed: refused: "), row.last_error
        assert row.last_status is None and row.name == ""
    # typed into the API: refused at once with a 422, never stored
    for url in ("http:///feed.xml", "http://exa mple.com/feed", "http://[::1/feed"):
        status, body = await shop.api("POST", "/api/v1/listening/feeds", json={"url": url})
        assert status == 422, (url, body)
    assert await Feed.all().count() == len(urls)


async def test_odd_characters_never_stop_a_feed(shop_any_db: Shop, aiohttp_server: Any) -> None:
    """A NUL in an id (PostgreSQL keeps none) and a character reference feedparser cannot
    encode (a lone surrogate) are one entry's or one feed's problem, never the next's."""
    seen: list[str] = []
    nul = rss(["n1"]).replace("<guid>n1</guid>", "<guid>n&#0;1</guid>")
    nul = nul.replace("</channel>", ITEM.format(g="n2", n=2) + "</channel>")
    bodies = {"/nul.xml": nul, "/surrogate.xml": rss(["s&#xD800;1"]), "/b.xml": rss(["b1"])}
    server = await _feed_server(aiohttp_server, bodies, seen)
    odd = await _add(str(server.make_url("/nul.xml")))
    broken = await _add(str(server.make_url("/surrogate.xml")))
    later = await _add(str(server.make_url("/b.xml")))
    async with aiohttp.ClientSession() as http:
        assert await feeds.poll_due(http, Listening(None)) == 3
        assert await feeds.poll(odd, http, Listening(None)) == 0  # remembered: not again
    assert await FeedEntry.filter(feed_id=odd.id).count() == 2
    assert await FeedEntry.filter(feed_id=later.id).count() == 1
    await broken.refresh_from_db()
    assert broken.last_error.startswith("not a feed") and broken.etag == ""
