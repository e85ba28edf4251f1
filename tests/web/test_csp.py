"""Issue 19 point 4 in real Chromium: a ``javascript:`` link from a feed runs nothing, the
CSP blocks script that slipped into a page, and every staff page works under the CSP with
no violation (an inline script or handler left in a template would show up here)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, expect

from channels.signing import sign
from tests.conftest import ServerProcess

pytestmark = pytest.mark.slow  # Chromium

# Records every CSP violation the page reports (an init script: not subject to the CSP).
WATCH = """window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" +
                    e.lineNumber);
});"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("csp") / "data").start()
    yield srv
    srv.stop()



async def staff(browser: Browser, live: ServerProcess) -> tuple[BrowserContext, Page]:
    ctx = await browser.new_context()
    await ctx.add_init_script(WATCH)
    page = await ctx.new_page()
    await page.goto(f"{live.url}/login")
    assert await page.evaluate("window.__csp") == []  # the login page too
    await page.fill("input[name=email]", live.seed["email"])
    await page.fill("input[name=password]", live.seed["password"])
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{live.url}/")
    return ctx, page


def signed(live: ServerProcess, path: str, body: dict[str, Any]) -> Any:
    raw = json.dumps(body).encode()
    req = urllib.request.Request(f"{live.url}{path}", data=raw, method="POST", headers={
        "X-Switchboard-Signature": sign(live.seed["secret"], raw),
        "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def store_mention(live: ServerProcess, rule_id: int, text: str, url: str) -> None:
    """As a feed entry or a posted mention stored before links were checked."""
    now = datetime.now(UTC).isoformat()
    with sqlite3.connect(live.data_dir / "switchboard.sqlite3", timeout=30) as db:
        db.execute("INSERT INTO mentions (rule_id, source, source_ref, author, url, text, lang,"
                   " sentiment, model_version, occurred_at, created_at) VALUES"
                   " (?, 'rss', ?, '', ?, ?, 'en', '', '', ?, ?)",
                   (rule_id, f"rss:0:{text}", url, text, now, now))


async def test_javascript_link_from_a_feed_runs_nothing(
        browser: Browser, live: ServerProcess, aiohttp_server: Any) -> None:
    hits: list[str] = []

    async def pwned(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        return web.Response(text="")
    app = web.Application()
    app.router.add_get("/pwned", pwned)
    trap = str((await aiohttp_server(app)).make_url("/pwned"))
    rule = await asyncio.to_thread(live.call, "POST", "/api/v1/listening/rules",
                                   {"name": "Acme", "kind": "brand", "query": "acme"})
    payload = f"fetch('{trap}?via=feed');window.pwned=1"
    store_mention(live, rule["id"], "acme evil one", "javascript:" + payload)
    store_mention(live, rule["id"], "acme evil two", " JAVA\tSCRIPT:" + payload)
    store_mention(live, rule["id"], "acme good", "https://news.example/acme")
    _, page = await staff(browser, live)
    await page.goto(f"{live.url}/listening")
    for text in ("acme evil one", "acme evil two"):
        row = page.locator("#mentions tr", has_text=text)
        await expect(row).to_be_visible()
        assert await row.locator("a").count() == 0  # no link, the URL as text
        await row.locator("td", has_text="window.pwned").click()
    good = page.locator("#mentions tr", has_text="acme good").locator("a")
    await expect(good).to_have_attribute("href", "https://news.example/acme")
    await page.wait_for_timeout(300)
    assert await page.evaluate("window.pwned") is None and hits == []
    assert await page.evaluate("window.__csp") == []

    # The second line: were such a link or an inline script in a page, the CSP blocks it.
    await page.evaluate("""(p) => {
        var a = document.createElement("a"); a.id = "injected"; a.textContent = "injected";
        a.href = "javascript:" + p; document.body.appendChild(a);
        var s = document.createElement("script"); s.textContent = p; document.body.appendChild(s);
        var i = document.createElement("img"); i.src = "x:"; i.setAttribute("onerror", p);
        document.body.appendChild(i);
    }""", payload)
    await page.click("#injected")
    await page.wait_for_timeout(500)
    assert await page.evaluate("window.pwned") is None and hits == []
    violations = await page.evaluate("window.__csp")
    assert any(v.startswith("script-src") for v in violations), violations


async def test_staff_pages_work_under_the_policy(browser: Browser, live: ServerProcess) -> None:
    account = live.seed["api_account"]
    conv = await asyncio.to_thread(signed, live, f"/api/v1/inbound/{account}", {
        "external_id": "csp-1", "contact": {"external_id": "csp-cust", "name": "Cy Press"},
        "text": "Where is my order?"})
    review = await asyncio.to_thread(signed, live, f"/api/v1/reviews/inbound/{account}", {
        "id": "csp-r1", "rating": 2, "text": "Late again", "url": "https://shop.example/r/1"})
    contact = (await asyncio.to_thread(
        live.call, "GET", f"/api/v1/conversations/{conv['conversation_id']}"))["contact"]["id"]
    ctx, page = await staff(browser, live)
    await expect(page.locator("#live")).to_have_css("color", "rgb(34, 197, 94)")  # socket open
    pages = ["/", "/inbox", f"/inbox/{conv['conversation_id']}", "/contacts",
             f"/contacts/{contact}", "/posts", "/calendar", "/segments", "/reviews",
             f"/reviews/{review['id']}", "/listening", "/alerts", "/admin/bot",
             "/admin/canned", "/admin/users", "/admin/channels", "/reports", "/inbox/999999"]
    for path in pages:
        resp = await page.goto(f"{live.url}{path}")
        assert resp is not None and "script-src 'self'" in resp.headers[
            "content-security-policy"], path
        await expect(page.locator("#live")).to_have_css("color", "rgb(34, 197, 94)")
        assert await page.locator("script:not([src]):not([type=\"application/json\"])"
                                  ).count() == 0, path
        assert await page.evaluate("window.__csp") == [], path

    # The pages' scripts run from their files, with the CSRF token from the page.
    await page.goto(f"{live.url}/listening")
    await page.click("#rule-add")  # empty: the API says why
    await expect(page.locator("#rule-error")).not_to_be_empty()
    await page.goto(f"{live.url}/reviews/{review['id']}")
    await page.select_option("#correct", "positive")
    await expect(page.locator("#sentiment")).to_have_text("positive (corrected)")
    await page.goto(f"{live.url}/inbox/{conv['conversation_id']}")
    await asyncio.to_thread(signed, live, f"/api/v1/inbound/{account}", {
        "external_id": "csp-2", "contact": {"external_id": "csp-cust"}, "text": "Hello again"})
    await expect(page.locator("#thread")).to_contain_text("Hello again")  # live over ws
    await page.goto(f"{live.url}/inbox/999999")
    await page.click("text=Go back")
    await expect(page).to_have_url(f"{live.url}/inbox/{conv['conversation_id']}")
    assert await page.evaluate("window.__csp") == []
    await ctx.close()
