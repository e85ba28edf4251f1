"""Listening and the outbound policy (issue 19 point 6): a private feed URL typed into the
API is a 422 at once; the feeds job quarantines after the configured tries; a Google
review's name stays inside the API's path and an error answer is not read whole."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.models import Feed, ImportFailure, Review
from channels.signing import sign
from listening.runtime import LISTENING
from listening.service import Item
from tests.conftest import Shop, make_settings, start_shop

RSS = ('<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
       "<item><guid>bad</guid><title>acme</title><description>acme</description></item>"
       "</channel></rss>")


async def test_a_private_feed_url_is_refused_when_typed(aiohttp_client: Any,
                                                        tmp_path: Path) -> None:
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, allow_private_urls=False))
    for url in ("http://127.0.0.1:8080/feed.xml", "http://localhost/feed",
                "http://169.254.169.254/latest/", "http://[::1]/feed", "http://10.0.0.7/x"):
        status, body = await shop.api("POST", "/api/v1/listening/feeds", json={"url": url})
        assert status == 422, (url, body)
        assert body["error"]["code"] == "bad_url" and "refused" in body["error"]["message"]
    assert await Feed.all().count() == 0
    status, body = await shop.api("POST", "/api/v1/listening/feeds",
                                  json={"url": "https://news.example/feed.xml"})
    assert status == 201, body


async def test_private_feed_urls_are_allowed_when_the_setting_says_so(shop: Shop) -> None:
    status, body = await shop.api("POST", "/api/v1/listening/feeds",
                                  json={"url": "http://127.0.0.1:8080/feed.xml"})
    assert status == 201, body


async def test_the_feeds_job_quarantines_after_the_configured_tries(
        aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path) -> None:
    async def serve(request: web.Request) -> web.Response:
        return web.Response(text=RSS, content_type="application/rss+xml")
    app = web.Application()
    app.router.add_get("/feed.xml", serve)
    server = await aiohttp_server(app)
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, quarantine_tries=1))
    runtime = shop.client.app[LISTENING]

    async def refuse(item: Item) -> Any:
        raise ValueError("cannot store this one")
    runtime.service.take = refuse
    feed = await Feed.create(url=str(server.make_url("/feed.xml")),
                             due_at=datetime.now(UTC) - timedelta(seconds=1))
    async with aiohttp.ClientSession() as http:
        await runtime.tick(http)
    failure = await ImportFailure.get(source="feed", account_id=feed.id, key="bad")
    assert failure.quarantined and failure.tries == 1


async def _google_account(shop: Shop, base: str) -> dict[str, Any]:
    status, acct = await shop.api("POST", "/api/v1/channels", json={
        "kind": "api", "name": "Google reviews",
        "settings": {"google_api_url": base, "google_access_token": "tok-123"}})
    assert status == 201, acct
    return dict(acct)


async def _google_review(shop: Shop, acct: dict[str, Any], name: str, rid: str) -> int:
    raw = json.dumps({"name": name, "reviewId": rid, "starRating": "TWO",
                      "comment": "Slow delivery", "reviewer": {"displayName": "Mai"},
                      "createTime": "2026-11-20T08:00:00Z"}).encode()
    resp = await shop.client.post(f"/api/v1/reviews/google/{acct['id']}", data=raw, headers={
        "X-Switchboard-Signature": sign(acct["secret"], raw),
        "Content-Type": "application/json"})
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def test_a_google_review_name_stays_in_the_api_path(shop: Shop,
                                                          aiohttp_server: Any) -> None:
    seen: list[str] = []

    async def reply(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response({"comment": "ok"})
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", reply)
    server = await aiohttp_server(app)
    acct = await _google_account(shop, str(server.make_url("/google")))
    odd = await _google_review(shop, acct, "accounts/1/reviews/a?b=1#c%d", "r1")
    status, out = await shop.api("POST", f"/api/v1/reviews/{odd}/reply", json={"text": "Hi"})
    assert status == 200 and out["reply_state"] == "replied", out
    assert seen == ["/google/v4/accounts/1/reviews/a%3Fb=1%23c%25d/reply"]
    for n, name in enumerate(["accounts/1/../../admin", "../x", "a//b"]):
        rid = await _google_review(shop, acct, name, f"climb{n}")
        status, out = await shop.api("POST", f"/api/v1/reviews/{rid}/reply",
                                     json={"text": "Hi"})
        assert status == 200 and out["reply_state"] == "reply_failed", out
        assert "not a Google review name" in (await Review.get(id=rid)).reply_error
    assert len(seen) == 1  # nothing went out for a name that climbs


async def test_a_google_error_answer_is_not_read_whole(shop: Shop,
                                                       aiohttp_server: Any) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=500)
        await resp.prepare(request)
        try:
            while True:
                await resp.write(b"x" * 65536)
                await asyncio.sleep(0.01)
        except (ConnectionError, RuntimeError):
            pass
        return resp
    app = web.Application()
    app.router.add_put("/{tail:.*}", endless)
    server = await aiohttp_server(app)
    acct = await _google_account(shop, str(server.make_url("")))
    rid = await _google_review(shop, acct, "accounts/1/reviews/r9", "r9")
    status, out = await shop.api("POST", f"/api/v1/reviews/{rid}/reply", json={"text": "Hi"})
    assert status == 200 and out["reply_state"] == "reply_failed", out
    assert (await Review.get(id=rid)).reply_error.startswith("Google answered 500: xxx")
