"""Issue 19 point 4 in-process: every response carries the CSP, the pages' scripts are
files, and a ``javascript:`` URL from outside is never an href nor stored."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from bot.core import csp
from bot.models import Feed, ListeningRule, Mention, Review, StaffAlert
from channels.signing import sign
from tests.conftest import ROOT, Shop
from tests.web.test_web import as_admin

EVIL = "java\tscript:window.pwned=1"


def directives(header: str) -> dict[str, str]:
    return dict(d.split(" ", 1) for d in header.split("; "))


async def test_every_response_carries_the_policy(shop: Shop) -> None:
    anonymous = ["/login", "/healthz", "/no-such-page", "/api/v1/conversations",
                 "/api/v1/no-such-thing", "/static/js/app.js"]
    for path in anonymous:
        resp = await shop.client.get(path, allow_redirects=False)
        policy = directives(resp.headers[csp.HEADER])
        assert policy["script-src"] == "'self'", path
        assert policy["frame-ancestors"] == "'none'", path
        assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'", path
    await as_admin(shop)
    for path in ["/inbox", "/listening", "/reviews", "/alerts", "/posts", "/segments",
                 "/contacts", "/admin/bot", "/inbox/999999"]:
        resp = await shop.client.get(path)
        assert directives(resp.headers[csp.HEADER])["script-src"] == "'self'", path
    chat = await shop.client.get(f"/chat?account={shop.seed['webchat_account_id']}")
    ancestors = directives(chat.headers[csp.HEADER])["frame-ancestors"].split()
    assert ancestors[:2] == ["'self'", "https://shop.example.test"]  # public_url's origin


async def test_scripts_are_files_with_long_cache(shop: Shop) -> None:
    await as_admin(shop)
    page = await (await shop.client.get("/listening")).text()
    srcs = re.findall(r'<script src="([^"]+)"', page)
    assert any(s.startswith("/static/js/listening.js?v=") for s in srcs), srcs
    assert "<script>" not in page and "X-CSRF-Token" not in page
    for src in srcs:
        resp = await shop.client.get(src)
        assert resp.status == 200 and "javascript" in resp.headers["Content-Type"]
        assert "max-age=31536000" in resp.headers["Cache-Control"]


def test_templates_have_no_inline_script() -> None:
    """No inline script, event handler or javascript: URL in a staff page: the CSP would
    block it (the Chromium walk in test_csp.py checks the rendered pages too)."""
    for path in sorted((ROOT / "templates" / "web").glob("*.html")):
        text = path.read_text()
        # (a data block, type="application/json", is inert: the browser runs none)
        assert not re.search(r'<script(?![^>]*\b(?:src=|type="application/json"))[^>]*>',
                             text), path.name
        assert not re.search(r"<\w[^>]*\son[a-z]+\s*=", text, re.I), path.name
        assert "javascript:" not in text.lower(), path.name
        # A whole href from a value is one that went through |safe_href (set as `href`).
        assert not re.findall(r'<[a-z][^<>]*\s(?:href|src)="\{\{(?!\s*(?:href|static\())',
                              text), path.name


async def test_javascript_links_are_shown_as_text(shop: Shop) -> None:
    await as_admin(shop)
    rule = await ListeningRule.create(name="Acme", kind="brand", query="acme")
    await Mention.create(rule=rule, source="rss", source_ref="rss:1:x", text="acme rocks",
                         url=EVIL, occurred_at=datetime.now(UTC))
    review = await Review.create(source="webhook", external_id="r1", text="ok", url=EVIL,
                                 created=datetime.now(UTC))
    await StaffAlert.create(kind="spike", key="k1", title="Spike", link="JAVASCRIPT:x()")
    for path in ["/listening", f"/reviews/{review.id}", "/alerts"]:
        page = await (await shop.client.get(path)).text()
        hrefs = re.findall(r'href="([^"]*)"', page)
        assert not [h for h in hrefs if "script" in h.lower()], (path, hrefs)
    assert "window.pwned=1</span>" in await (await shop.client.get("/listening")).text()


async def test_javascript_links_are_not_stored(shop: Shop, aiohttp_server: Any) -> None:
    account, secret = shop.seed["api_account_id"], shop.seed["api_account_secret"]
    await ListeningRule.create(name="Acme", kind="brand", query="acme")

    async def signed(path: str, body: dict[str, Any]) -> aiohttp.ClientResponse:
        raw = json.dumps(body).encode()
        return await shop.client.post(path, data=raw, headers={
            "X-Switchboard-Signature": sign(secret, raw), "Content-Type": "application/json"})
    bad = await signed(f"/api/v1/mentions/{account}", {"id": "1", "text": "acme", "url": EVIL})
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "url"
    bad = await signed(f"/api/v1/reviews/inbound/{account}",
                       {"id": "r1", "text": "acme", "url": "JAVASCRIPT:alert(1)"})
    assert bad.status == 422
    assert await Mention.all().count() == 0 and await Review.all().count() == 0

    items = "".join(f"<item><guid>{g}</guid><title>Acme {g}</title><link>{link}</link></item>"
                    for g, link in [("a", "javascript:alert(1)"), ("b", "https://n.example/b")])
    feed_xml = f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'

    async def serve(request: web.Request) -> web.Response:
        return web.Response(text=feed_xml, content_type="application/rss+xml")
    app = web.Application()
    app.router.add_get("/feed.xml", serve)
    server = await aiohttp_server(app)
    feed = await Feed.create(url=str(server.make_url("/feed.xml")))
    from listening.feeds import poll
    from listening.service import Listening
    async with aiohttp.ClientSession() as http:
        assert await poll(feed, http, Listening(None)) == 2
    urls = sorted(m.url for m in await Mention.filter(source="rss"))
    assert urls == ["", "https://n.example/b"]
