"""Issue 19 point 1 in real Chromium: a page of another origin, opened in the visitor's
browser, cannot use the visitor's web chat (its socket is refused, so it reads no history
and sends nothing), while the shop's own pages still can.

The other origin is the same host on another port: the same site, so the browser sends
the visitor's cookie with it (cookies know no ports) — exactly the case only the Origin
check stops. An origin listed in ``allowed_origins`` gets through with that same cookie.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, expect

from tests.conftest import ServerProcess, free_port

pytestmark = pytest.mark.slow  # Chromium

SHOP_SITE_PORT = free_port()
SECRET_TEXT = "my order 4711 goes to 12 Secret Street"

# What a page on another origin tries: open the socket with the visitor's cookie, read
# what comes, send a message and an e-mail address; and fetch /chat with credentials.
PROBE = """<!doctype html><html><body><script>
window.result = {opened: false, frames: [], done: false, fetched: null};
var ws = new WebSocket("ws://127.0.0.1:%(port)s/chat/ws?account=%(account)s");
ws.onopen = function () {
  window.result.opened = true;
  ws.send(JSON.stringify({type: "message", client_id: "probe0001", text: "sent by %(who)s"}));
  ws.send(JSON.stringify({type: "email", email: "%(who)s@evil.example"}));
};
ws.onmessage = function (ev) { window.result.frames.push(ev.data); };
ws.onclose = ws.onerror = function () { window.result.done = true; };
setTimeout(function () { window.result.done = true; }, 4000);
fetch("http://127.0.0.1:%(port)s/chat?account=%(account)s", {credentials: "include"})
  .then(function (r) { return r.text(); })
  .then(function (t) { window.result.fetched = t; },
        function () { window.result.fetched = "refused"; });
</script></body></html>"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("webchat-origin") / "data",
                        SWITCHBOARD_ALLOWED_ORIGINS=f"http://127.0.0.1:{SHOP_SITE_PORT}")
    srv.start()
    yield srv
    srv.stop()



@pytest.fixture
async def sites(live: ServerProcess) -> AsyncIterator[dict[str, str]]:
    """Two other origins on 127.0.0.1: a stranger's page, and the shop's own site."""
    async def probe(request: web.Request) -> web.Response:
        who = request.match_info["who"]
        return web.Response(text=PROBE % {"port": live.port, "who": who,
                                          "account": live.seed["webchat"]},
                            content_type="text/html")

    app = web.Application()
    app.router.add_get("/{who}.html", probe)
    runner = web.AppRunner(app)
    await runner.setup()
    evil_port = free_port()
    for port in (evil_port, SHOP_SITE_PORT):
        await web.TCPSite(runner, "127.0.0.1", port).start()
    yield {"evil": f"http://127.0.0.1:{evil_port}/evil.html",
           "shop": f"http://127.0.0.1:{SHOP_SITE_PORT}/shop.html"}
    await runner.cleanup()


async def probe_result(page: Any, url: str) -> dict[str, Any]:
    await page.goto(url)
    await page.wait_for_function("window.result && window.result.done && "
                                 "window.result.fetched !== null", timeout=15000)
    return dict(await page.evaluate("window.result"))


async def test_other_origin_gets_nothing_of_the_visitors_chat(
        browser: Browser, live: ServerProcess, sites: dict[str, str]) -> None:
    ctx = await browser.new_context()
    chat = await ctx.new_page()
    await chat.goto(f"{live.url}/chat?account={live.seed['webchat']}")
    await chat.fill("#text", SECRET_TEXT)
    await chat.press("#text", "Enter")
    await expect(chat.locator(".msg.in").filter(has_text=SECRET_TEXT)).not_to_have_class(
        "msg in pending")  # acknowledged: stored

    stranger = await probe_result(await ctx.new_page(), sites["evil"])
    assert stranger["opened"] is False and stranger["frames"] == []
    assert stranger["fetched"] == "refused"  # no CORS: the page cannot read /chat

    # The same browser and cookie from the shop's own site (allowed_origins): it works,
    # so the stranger was stopped by its origin, not for want of the cookie.
    shop = await probe_result(await ctx.new_page(), sites["shop"])
    assert shop["opened"] is True
    hello = json.loads(shop["frames"][0])
    assert hello["type"] == "hello"
    assert SECRET_TEXT in [m["text"] for m in hello["history"]]

    # What the visitor sees on the chat page: their message, the shop site's, never the
    # stranger's; and no e-mail address the stranger sent.
    await chat.reload()
    log = chat.locator("#log")
    await expect(log).to_contain_text(SECRET_TEXT)
    await expect(log).to_contain_text("sent by shop")
    assert "sent by evil" not in await log.inner_text()
    contacts = await _contacts(live)
    assert not any("evil@evil.example" == (c.get("email") or "") for c in contacts)
    await ctx.close()


async def _contacts(live: ServerProcess) -> list[dict[str, Any]]:
    import asyncio

    body = await asyncio.to_thread(live.call, "GET", "/api/v1/contacts")
    return list(body["items"] if isinstance(body, dict) else body)
