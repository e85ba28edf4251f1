"""What the whole-app browser walks share (:mod:`tests.web.test_mobile_browser`,
:mod:`tests.web.test_vietnamese_browser`, :mod:`tests.web.test_axe_browser`): a live server,
a shop with data on every page, the staff pages from the app's router (so a page added
later is walked too, or the walks fail until it is listed here) and a logged-in browser."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

import bot.services.reports.catalog  # noqa: F401  (fills REPORTS)
from bot.app import create_app
from bot.services.reports import REPORTS
from channels.signing import sign
from tests.conftest import ServerProcess, make_settings
from tests.fakes.telegram_api import FakeTelegram

# GET routes of @page handlers that are not an HTML page to look at, and why.
NOT_PAGES = {"/reports/{key}/{table}.csv": "a CSV download of a report's table",
             "/inbox/{cid}/canned": "the reply box's /shortcut picker reads this JSON",
             "/inbox/{cid}/files/{aid}": "a customer's file (an image or a download)"}
LONG = "https://shop.example.test/orders/" + "x" * 120  # one unbreakable word
TELEGRAM_TOKEN = "123:mobile"  # the bot of the network posts go to (nothing is sent)


def live_server(tmp_path_factory: Any, name: str) -> Iterator[ServerProcess]:
    """The body of a module's ``live`` fixture: one server for the module's walks."""
    srv = ServerProcess(tmp_path_factory.mktemp(name) / "data",
                        SWITCHBOARD_PUBLIC_URL="https://shop.example.test").start()
    yield srv
    srv.stop()


async def fake_telegram(aiohttp_server: Any) -> str:
    """The base URL of a fake Bot API that knows the posts' bot."""
    fake = FakeTelegram()
    fake.add_bot(TELEGRAM_TOKEN)
    return str((await aiohttp_server(fake.app())).make_url("")).rstrip("/")


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


def check_walked(urls: dict[str, list[str]], tmp: Path) -> None:
    """Every staff page of the router is walked, and the walk lists no page that is gone."""
    routes = page_routes(tmp)
    assert routes - set(urls) - set(NOT_PAGES) == set(), "a staff page nobody walks"
    assert set(urls) <= routes and set(NOT_PAGES) <= routes  # nothing stale in the lists


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
            "token": TELEGRAM_TOKEN, "api_base_url": telegram, "mode": "webhook"}})
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
           "/sequences/new": "/sequences/new",
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


async def log_in(page: Page, live: ServerProcess) -> None:
    """Sign in as the seeded admin on this page (its context keeps the session)."""
    await page.goto(f"{live.url}/login")
    await page.fill("input[name=email]", live.seed["email"])
    await page.fill("input[name=password]", live.seed["password"])
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{live.url}/")


async def logged_in(browser: Browser, live: ServerProcess, **context: Any) -> Page:
    """A page in a new context (``context``: Playwright's new_context options), signed in."""
    page = await (await browser.new_context(**context)).new_page()
    await log_in(page, live)
    return page
