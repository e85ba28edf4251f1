"""Issue 22 point 5, a phone works: every staff page in real Chromium at 375 and 1280 px wide,
with data on it, scrolls nothing sideways (wide tables scroll in their own labelled,
focusable region) and is screenshot; on a phone the conversation's side panel folds away
behind a button. The pages come from the app's router, so a page added later is walked too
(or the walk fails until it is listed here)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

import bot.services.reports.catalog  # noqa: F401  (fills REPORTS)
from bot.app import create_app
from bot.services.reports import REPORTS
from channels.signing import sign
from tests.conftest import ServerProcess, make_settings
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.slow  # Chromium

WIDTHS = (375, 1280)
# GET routes of @page handlers that are not an HTML page to look at, and why.
NOT_PAGES = {"/reports/{key}/{table}.csv": "a CSV download of a report's table",
             "/inbox/{cid}/canned": "the reply box's /shortcut picker reads this JSON",
             "/inbox/{cid}/files/{aid}": "a customer's file (an image or a download)"}
LONG = "https://shop.example.test/orders/" + "x" * 120  # one unbreakable word


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("mobile") / "data",
                        SWITCHBOARD_PUBLIC_URL="https://shop.example.test").start()
    yield srv
    srv.stop()


def signed(live: ServerProcess, path: str, body: dict[str, Any]) -> Any:
    raw = json.dumps(body).encode()
    req = urllib.request.Request(f"{live.url}{path}", data=raw, method="POST", headers={
        "X-Switchboard-Signature": sign(live.seed["secret"], raw),
        "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def api(live: ServerProcess, path: str, body: dict[str, Any] | None = None) -> Any:
    try:
        return live.call("GET" if body is None else "POST", path, body)
    except urllib.error.HTTPError as err:
        raise AssertionError(f"{path}: {err.code} {err.read().decode()}") from err


def page_routes(tmp: Path) -> set[str]:
    """Every GET route the app serves through the staff page framework (bot.core.pages)."""
    app = create_app(make_settings(tmp))
    return {r.resource.canonical for r in app.router.routes()
            if r.method == "GET" and r.resource is not None
            and getattr(r.handler, "__module__", "") == "bot.core.pages"}


def shop_with_data(live: ServerProcess, telegram: str) -> dict[str, list[str]]:
    """A conversation with messages and a note, a post, a segment, a broadcast, a sequence,
    a listening rule, a review and a quarantined import; the URLs of each page route,
    filled in."""
    account = live.seed["api_account"]
    conv = signed(live, f"/api/v1/inbound/{account}", {
        "external_id": "m-1", "contact": {"external_id": "m-cust", "name": "Minh Anh Nguyen"},
        "text": f"Where is my order? {LONG}"})
    cid = conv["conversation_id"]
    signed(live, f"/api/v1/inbound/{account}", {
        "external_id": "m-2", "contact": {"external_id": "m-cust"}, "text": "Hello again"})
    note = api(live, f"/api/v1/conversations/{cid}/notes", {"text": f"VIP {LONG}"})
    contact = api(live, f"/api/v1/conversations/{cid}")["contact"]["id"]
    news = api(live, "/api/v1/channels", {  # a network posts go to (nothing is sent here)
        "kind": "telegram", "name": "Shop news", "settings": {
            "token": "123:mobile", "api_base_url": telegram, "mode": "webhook"}})
    due = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    post = api(live, "/api/v1/posts", {
        "text": f"Sale starts {LONG}", "due_at": due,
        "variants": [{"channel_account_id": news["id"], "target": "@news"}]})
    segment = api(live, "/api/v1/segments", {
        "name": "Sandal fans", "rules": {"conditions": [{"tag": "sandals"}]}})
    broadcast = api(live, "/api/v1/broadcasts", {
        "name": "Spring", "segment_id": segment["id"], "subject_a": "Spring is here",
        "body": "Our spring collection is in.", "send_at": due})  # not sent: editable
    sequence = api(live, "/api/v1/sequences", {
        "key": "promo", "name": "Promo", "trigger": "signup",
        "steps": [{"send": "welcome_1"}, {"wait": {"days": 3}}, {"send": "welcome_2"}]})
    rule = api(live, "/api/v1/rules", {
        "name": "Night", "event": "message_received",
        "conditions": {"keywords": ["urgent"]},
        "actions": [{"type": "reply", "template": "We are asleep"},
                    {"type": "add_label", "label": "night"}]})
    listen = api(live, "/api/v1/listening/rules", {
        "name": "Sandals talk", "kind": "product", "query": 'sandals OR "flip flops"'})
    review = signed(live, f"/api/v1/reviews/inbound/{account}", {
        "id": "m-r1", "rating": 2, "author": "Rae", "text": f"Late again {LONG}",
        "created_at": (datetime.now(UTC) - timedelta(hours=3)).isoformat()})
    with sqlite3.connect(live.data_dir / "switchboard.sqlite3") as db:
        now = datetime.now(UTC).isoformat()
        fid = db.execute(
            "INSERT INTO import_failures (source, account_id, key, body, error, tries,"
            " quarantined, created_at, updated_at) VALUES ('imap', 1, '<m@x>', ?, ?, 3, 1,"
            " ?, ?)", (f"raw {LONG}", "RuntimeError: cannot store this one", now, now)
        ).lastrowid
    one = {"/": "/", "/inbox": "/inbox", "/inbox/{cid}": f"/inbox/{cid}",
           "/notes/{nid}": f"/notes/{note['id']}", "/contacts": "/contacts",
           "/contacts/{contact_id}": f"/contacts/{contact}", "/posts": "/posts",
           "/posts/{pid}": f"/posts/{post['id']}", "/calendar": "/calendar",
           "/posts/{pid}/edit": f"/posts/{post['id']}/edit",
           "/segments": "/segments", "/segments/{sid}": f"/segments/{segment['id']}",
           "/admin/bot/rules/{rid}/edit": f"/admin/bot/rules/{rule['id']}/edit",
           "/broadcasts": "/broadcasts",
           "/broadcasts/new": "/broadcasts/new",
           "/broadcasts/{broadcast_id}": f"/broadcasts/{broadcast['id']}",
           "/broadcasts/{broadcast_id}/edit": f"/broadcasts/{broadcast['id']}/edit",
           "/sequences": "/sequences", "/sequences/{sequence_id}": f"/sequences/{sequence['id']}",
           "/listening": "/listening", "/reviews": "/reviews",
           "/listening/rules/{rid}": f"/listening/rules/{listen['id']}",
           "/reviews/{rid}": f"/reviews/{review['id']}", "/alerts": "/alerts",
           "/reports": "/reports", "/admin/users": "/admin/users",
           "/admin/channels": "/admin/channels", "/admin/imports": "/admin/imports",
           "/admin/imports/{fid}": f"/admin/imports/{fid}", "/admin/bot": "/admin/bot",
           "/admin/canned": "/admin/canned", "/admin/labels": "/admin/labels",
           "/account": "/account"}
    urls = {route: [url] for route, url in one.items()}
    urls["/calendar"].append("/calendar?view=week")
    urls["/reports/{key}"] = [f"/reports/{key}" for key in REPORTS]
    return urls


async def log_in(browser: Browser, live: ServerProcess, width: int) -> Page:
    page = await (await browser.new_context(viewport={"width": width, "height": 800})
                  ).new_page()
    await page.goto(f"{live.url}/login")
    await page.fill("input[name=email]", live.seed["email"])
    await page.fill("input[name=password]", live.seed["password"])
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{live.url}/")
    return page


WIDEST = """() => [document.documentElement.scrollWidth, window.innerWidth,
  [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right
    > window.innerWidth + 1 && !e.closest('.wide')).slice(0, 5)
    .map(e => e.tagName + '.' + e.className + '#' + e.id)]"""
TABLES = """() => {
  const boxes = [...document.querySelectorAll('main table')].map(t => t.parentNode);
  const scrolling = boxes.filter(b => b.scrollWidth > b.clientWidth + 1);
  return [boxes.filter(b => !b.classList.contains('wide')).length, scrolling.length,
    scrolling.filter(b => b.getAttribute('role') !== 'region' || b.tabIndex !== 0
      || !(b.getAttribute('aria-label') || '').trim()).length]; }"""


async def test_every_staff_page_fits_a_phone_and_a_desktop(
        browser: Browser, live: ServerProcess, tmp_path: Path, aiohttp_server: Any) -> None:
    fake = FakeTelegram()
    fake.add_bot("123:mobile")
    telegram = str((await aiohttp_server(fake.app())).make_url("")).rstrip("/")
    urls = await asyncio.to_thread(shop_with_data, live, telegram)
    routes = page_routes(tmp_path / "routes")
    assert routes - set(urls) - set(NOT_PAGES) == set(), "a staff page nobody walks"
    assert set(urls) <= routes and set(NOT_PAGES) <= routes  # nothing stale in the lists
    scrollers = dict.fromkeys(WIDTHS, 0)  # tables that scroll in their own region
    for width in WIDTHS:
        page = await log_in(browser, live, width)
        for _route, paths in sorted(urls.items()):
            for path in paths:
                resp = await page.goto(f"{live.url}{path}")
                assert resp is not None and resp.status == 200, (path, resp and resp.status)
                await expect(page.locator("nav a[href='/account']")).to_be_visible()
                name = path.strip("/").replace("/", "_").replace("?", "_").replace("=", "-")
                await page.screenshot(path=str(tmp_path / f"{width}-{name or 'home'}.png"),
                                      full_page=True)
                wide, inner, culprits = await page.evaluate(WIDEST)
                assert wide <= inner, (width, path, wide, culprits)
                loose, scrolling, unlabelled = await page.evaluate(TABLES)
                assert loose == 0 and unlabelled == 0, (width, path, loose, unlabelled)
                scrollers[width] += scrolling
        await page.context.close()
    assert scrollers[375] > 0  # the phone has wide tables, each in a labelled region
    shots = list(tmp_path.glob("*.png"))
    assert len(shots) == len(WIDTHS) * sum(len(p) for p in urls.values())


async def test_the_side_panel_folds_away_on_a_phone(browser: Browser,
                                                    live: ServerProcess) -> None:
    account = live.seed["api_account"]
    conv = await asyncio.to_thread(signed, live, f"/api/v1/inbound/{account}", {
        "external_id": "fold-1", "contact": {"external_id": "fold-cust", "name": "Fold"},
        "text": "Do you have size 38?"})
    phone = await log_in(browser, live, 375)
    await phone.goto(f"{live.url}/inbox/{conv['conversation_id']}")
    toggle, side = phone.locator("button.side-toggle"), phone.locator("#side")
    await expect(phone.locator("#thread")).to_contain_text("size 38")
    await expect(toggle).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(side).to_be_hidden()
    await toggle.click()
    await expect(side).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    box, thread = await side.bounding_box(), await phone.locator("#thread").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    assert thread is not None and box["y"] < thread["y"]  # opens right under its button
    await toggle.focus()
    await phone.keyboard.press("Enter")  # the keyboard folds it again
    await expect(side).to_be_hidden()
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await phone.keyboard.press("Space")
    await expect(side).to_be_visible()

    desk = await log_in(browser, live, 1280)
    await desk.goto(f"{live.url}/inbox/{conv['conversation_id']}")
    await expect(desk.locator("#side")).to_be_visible()
    await expect(desk.locator("button.side-toggle")).to_be_hidden()
    side_box = await desk.locator("#side").bounding_box()
    assert side_box is not None and round(side_box["width"]) == 330  # the desktop layout
