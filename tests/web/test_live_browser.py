"""The live inbox between colleagues, in real Chromium: one staff member types a reply, the
other sees "<name> is replying…" (the name as text) until it is sent, or a few seconds
after the typing stops; and the opt-in browser notifications: off by default, the
permission asked on the button's click (never on load), then a new web-chat
conversation and a hand-off each show a notification and play the sound, and a click on
it opens the conversation; turned off, nothing."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from tests.app.test_events_processes import conversation_of, say, visitor_socket
from tests.conftest import ServerProcess
from tests.web.browser import signed

pytestmark = pytest.mark.slow  # Chromium

ANN = {"email": "ann@shop.example.test", "password": "ann-password-1",
       "name": "<b>Ann</b> & $&", "role": "agent"}
GREEN = "rgb(34, 197, 94)"  # the live dot: the staff socket is open
# Records what the page asks of the Notification API and the sounds it plays.
SPY = """
window.__asked = 0; window.__notes = []; window.__played = [];
(function () {
  var Real = window.Notification;
  function Spy(title, options) {
    this.title = title; this.options = options || {}; this.onclick = null;
    this.close = function () {}; window.__notes.push(this);
    document.documentElement.dataset.notes = String(window.__notes.length);
  }
  Object.defineProperty(Spy, "permission", {get: function () { return Real.permission; }});
  Spy.requestPermission = function () { window.__asked++; return Real.requestPermission(); };
  window.Notification = Spy;
  HTMLMediaElement.prototype.play = function () {
    window.__played.push(this.src); return Promise.resolve(); };
})();
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("live") / "data").start()
    srv.call("POST", "/api/v1/users", ANN)
    yield srv
    srv.stop()


@pytest.fixture
async def visitors() -> AsyncIterator[list[aiohttp.ClientSession]]:
    sessions: list[aiohttp.ClientSession] = []
    yield sessions
    for s in sessions:
        await s.close()


async def log_in(browser: Browser, live: ServerProcess, email: str, password: str,
                 **ctx: Any) -> Page:
    context = await browser.new_context(**ctx)
    await context.add_init_script(SPY)
    page = await context.new_page()
    await page.goto(f"{live.url}/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{live.url}/")
    return page


async def test_a_colleague_sees_who_is_replying(browser: Browser, live: ServerProcess) -> None:
    conv = await asyncio.to_thread(signed, live, f"/api/v1/inbound/{live.seed['api_account']}", {
        "external_id": "typing-1", "contact": {"external_id": "typing-1", "name": "Tess"},
        "text": "Is it in stock?"})
    url = f"{live.url}/inbox/{conv['conversation_id']}"
    admin = await log_in(browser, live, live.seed["email"], live.seed["password"])
    ann = await log_in(browser, live, ANN["email"], ANN["password"])
    for page in (admin, ann):
        await page.goto(url)
        await expect(page.locator("#live")).to_have_css("color", GREEN)
    sign, own = admin.locator("#typing"), ann.locator("#typing")
    await expect(sign).to_have_text("")

    await ann.locator("#reply-form textarea[name=text]").press_sequentially("Yes, it is")
    await expect(sign).to_have_text("<b>Ann</b> & $& is replying…")
    assert await sign.locator("b").count() == 0  # the name is text, not markup
    await expect(own).to_have_text("")  # the typer is not told about herself
    await ann.get_by_role("button", name="Send reply").click()
    await expect(sign).to_have_text("")  # sent
    await expect(admin.locator("#thread")).to_contain_text("Yes, it is")
    await expect(ann.locator("#live")).to_have_css("color", GREEN)  # her page, reloaded

    await ann.locator("#note-form textarea[name=text]").press_sequentially("check stock")
    await expect(sign).to_have_text("<b>Ann</b> & $& is replying…")
    await expect(sign).to_have_text("", timeout=20_000)  # a few seconds after the typing stops

    await ann.locator("#reply-form textarea[name=text]").press_sequentially("One more")
    await expect(sign).to_have_text("<b>Ann</b> & $& is replying…")
    await ann.goto(f"{live.url}/inbox")  # she leaves the page
    await expect(sign).to_have_text("")


async def notes(page: Page) -> list[list[str]]:
    found: list[list[str]] = await page.evaluate(
        "window.__notes.map(n => [n.title, n.options.body])")
    return found


async def new_chat(live: ServerProcess, visitors: list[aiohttp.ClientSession]
                   ) -> tuple[aiohttp.ClientWebSocketResponse, int, str]:
    """A visitor starts a web chat: their socket, the new conversation's id, its token."""
    visitors.append(aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))
    ws = await visitor_socket(visitors[-1], live)
    token = secrets.token_hex(5)
    await say(ws, f"do you ship abroad {token}")
    return ws, await conversation_of(live, token), token


async def test_notifications_once_turned_on(browser: Browser, live: ServerProcess,
                                            visitors: list[aiohttp.ClientSession]) -> None:
    page = await log_in(browser, live, live.seed["email"], live.seed["password"],
                        permissions=["notifications"])
    await page.goto(f"{live.url}/inbox?status=all")
    await expect(page.locator("#live")).to_have_css("color", GREEN)
    bell = page.locator("#notify")
    await expect(bell).to_have_text("Notifications: off")
    assert await page.evaluate("window.__asked") == 0  # never asked on load

    _, first, token = await new_chat(live, visitors)  # off: the list updates, nothing else
    await expect(page.locator(f'#conversations tr[data-id="{first}"]')).to_be_visible()
    assert await notes(page) == [] and await page.evaluate("window.__played") == []

    await bell.click()
    await expect(bell).to_have_text("Notifications: on")
    assert await page.evaluate("window.__asked") == 1
    visitor, cid, _ = await new_chat(live, visitors)
    await expect(page.locator(f'#conversations tr[data-id="{cid}"]')).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("data-notes", "1")
    assert await notes(page) == [["New conversation", f"Conversation #{cid}"]]
    played = await page.evaluate("window.__played")
    assert len(played) == 1 and "/static/sound/chime.wav" in played[0]

    await say(visitor, "I want to talk to a person")  # the bot hands off
    await expect(page.locator("html")).to_have_attribute("data-notes", "2")
    assert (await notes(page))[1] == ["A customer asks for a person", f"Conversation #{cid}"]
    await page.evaluate("window.__notes[1].onclick()")
    await expect(page).to_have_url(f"{live.url}/inbox/{cid}")

    await page.goto(f"{live.url}/inbox?status=all")  # kept in this browser
    await expect(bell).to_have_text("Notifications: on")
    await bell.click()
    await expect(bell).to_have_text("Notifications: off")
    _, last, _ = await new_chat(live, visitors)
    await expect(page.locator(f'#conversations tr[data-id="{last}"]')).to_be_visible()
    assert await notes(page) == [] and await page.evaluate("window.__asked") == 0


async def test_no_notification_button_where_the_browser_has_none(
        browser: Browser, live: ServerProcess) -> None:
    context = await browser.new_context()
    await context.add_init_script("delete window.Notification;")
    page = await context.new_page()
    await page.goto(f"{live.url}/login")
    await page.fill("input[name=email]", live.seed["email"])
    await page.fill("input[name=password]", live.seed["password"])
    await page.click("button[type=submit]")
    await page.goto(f"{live.url}/inbox")
    await expect(page.locator("#live")).to_have_css("color", GREEN)  # live.js ran
    await expect(page.locator("#notify")).to_be_hidden()
