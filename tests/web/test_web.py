"""Staff pages in-process: login and logout, CSRF on every form, roles on every page."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from bot.core.auth import Perm
from bot.models import Conversation, Message, Note
from tests.conftest import Shop, make_settings, message, start_shop

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def login(shop: Shop, email: str, password: str) -> str:
    page = await shop.client.get("/login")
    token = CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]
    resp = await shop.client.post("/login", data={"email": email, "password": password,
                                                  "csrf_token": token, "next": "/inbox"},
                                  allow_redirects=False)
    assert resp.status == 302, await resp.text()
    inbox = await shop.client.get(resp.headers["Location"])
    return CSRF.search(await inbox.text()).group(1)  # type: ignore[union-attr]


async def as_admin(shop: Shop) -> str:
    return await login(shop, shop.seed["email"], shop.seed["password"])


async def test_login_logout_and_cookie_flags(shop: Shop) -> None:
    resp = await shop.client.get("/inbox", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/login")
    page = await shop.client.get("/login")
    token = CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]
    bad = await shop.client.post("/login", data={"email": shop.seed["email"],
                                                 "password": "wrong", "csrf_token": token})
    assert bad.status == 401 and "Wrong e-mail or password" in await bad.text()
    resp = await shop.client.post("/login", data={
        "email": shop.seed["email"], "password": shop.seed["password"], "csrf_token": token},
        allow_redirects=False)
    cookie = resp.headers["Set-Cookie"]
    assert "sb_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    inbox = await shop.client.get("/inbox")
    assert inbox.status == 200 and "Inbox Zero" in await inbox.text()
    csrf = CSRF.search(await inbox.text()).group(1)  # type: ignore[union-attr]
    out = await shop.client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status == 302
    resp = await shop.client.get("/inbox", allow_redirects=False)
    assert resp.status == 302


async def test_login_without_csrf_is_refused(shop: Shop) -> None:
    resp = await shop.client.post("/login", data={"email": shop.seed["email"],
                                                  "password": shop.seed["password"]})
    assert resp.status == 403 and "CSRF" in await resp.text()


async def test_forms_without_csrf_are_refused(shop: Shop) -> None:
    resp = await shop.inbound(message("w1", text="hello"))
    cid = (await resp.json())["conversation_id"]
    csrf = await as_admin(shop)
    for path, data in [(f"/inbox/{cid}/reply", {"text": "hi"}),
                       (f"/inbox/{cid}/notes", {"text": "n"}),
                       (f"/inbox/{cid}/status", {"status": "resolved"}),
                       ("/admin/users", {"email": "x@y.z", "role": "agent"}),
                       ("/logout", {})]:
        resp = await shop.client.post(path, data=data)
        assert resp.status == 403, path
        resp = await shop.client.post(path, data={**data, "csrf_token": "forged"})
        assert resp.status == 403, path
    assert await Message.filter(direction="out").count() == 0
    assert await Note.all().count() == 0
    assert (await Conversation.get(id=cid)).status.value == "open"
    # Cookie-authenticated API calls need the header too.
    resp = await shop.client.post(f"/api/v1/conversations/{cid}/notes", json={"text": "x"})
    assert resp.status == 401
    resp = await shop.client.post(f"/api/v1/conversations/{cid}/notes", json={"text": "x"},
                                  headers={"X-CSRF-Token": csrf})
    assert resp.status == 201


async def test_inbox_work_through_pages(shop: Shop) -> None:
    resp = await shop.inbound(message("w2", text="Is the blue mug in stock?"))
    cid = (await resp.json())["conversation_id"]
    csrf = await as_admin(shop)
    page = await (await shop.client.get("/inbox?channel=api")).text()
    assert "Is the blue mug in stock?" in page and f'href="/inbox/{cid}"' in page
    view = await (await shop.client.get(f"/inbox/{cid}")).text()
    assert "Ann Lee" in view and "cust-1" in view  # contact panel with identity
    await shop.client.post(f"/inbox/{cid}/notes", data={"csrf_token": csrf,
                                                        "text": "check stock first"})
    await shop.client.post(f"/inbox/{cid}/reply", data={"csrf_token": csrf,
                                                        "text": "Yes, 4 left!"})
    await shop.client.post(f"/inbox/{cid}/assign", data={"csrf_token": csrf, "assignee": "me"})
    await shop.client.post(f"/inbox/{cid}/labels", data={"csrf_token": csrf,
                                                         "labels": "stock, mugs"})
    view = await (await shop.client.get(f"/inbox/{cid}")).text()
    assert 'class="note"' in view and "check stock first" in view
    assert "Yes, 4 left!" in view
    note = await Note.get(conversation_id=cid)
    await shop.client.post(f"/notes/{note.id}", data={"csrf_token": csrf, "text": "in stock"})
    hist = await (await shop.client.get(f"/notes/{note.id}")).text()
    assert "check stock first" in hist and "in stock" in hist
    conv = await Conversation.get(id=cid).prefetch_related("labels")
    assert sorted(lb.name for lb in conv.labels) == ["mugs", "stock"]
    assert conv.assignee_id is not None  # type: ignore[attr-defined]
    await shop.client.post(f"/inbox/{cid}/status", data={"csrf_token": csrf,
                                                         "status": "snoozed",
                                                         "snoozed_until": "2099-01-01T09:00"})
    assert (await Conversation.get(id=cid)).status.value == "snoozed"
    bad = await shop.client.post(f"/inbox/{cid}/status", data={
        "csrf_token": csrf, "status": "snoozed", "snoozed_until": "soon"})
    assert bad.status == 400 and "snooze needs a date" in await bad.text()
    await shop.client.post(f"/inbox/{cid}/status", data={"csrf_token": csrf,
                                                         "status": "resolved"})
    page = await (await shop.client.get("/inbox")).text()
    assert "Inbox Zero" in page


async def test_message_text_is_escaped(shop: Shop) -> None:
    evil = '<img src=x onerror=alert(1)>'
    await shop.inbound(message("x1", text=evil))
    await as_admin(shop)
    page = await (await shop.client.get("/inbox")).text()
    assert evil not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


async def test_roles_on_pages(shop: Shop) -> None:
    marketer = await shop.add_user("marketer")
    agent = await shop.add_user("agent")
    await login(shop, marketer["email"], marketer["password"])
    assert (await shop.client.get("/contacts")).status == 200
    for path in ("/inbox", "/admin/users", "/admin/channels", "/admin/canned"):
        resp = await shop.client.get(path)
        assert resp.status == 403, path
    home = await shop.client.get("/", allow_redirects=False)  # the dashboard, no inbox tile
    assert home.status == 200 and 'id="tile-posts"' in await home.text()
    assert 'id="tile-conversations"' not in await home.text()
    shop.client.session.cookie_jar.clear()
    await login(shop, agent["email"], agent["password"])
    assert (await shop.client.get("/inbox")).status == 200
    assert (await shop.client.get("/admin/canned")).status == 200
    assert (await shop.client.get("/admin/users")).status == 403


def test_every_page_declares_a_permission() -> None:
    """Each staff page handler is wrapped by @page (or is the login form); nothing is left
    open by forgetting the decorator."""
    import tempfile
    from pathlib import Path

    from bot.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(Path(tempfile.mkdtemp())))
    public = {"login_form", "login_submit", "healthz", "metrics_view", "page", "script",
              "websocket",  # websocket/page/script: the customer's web-chat widget
              "visitor_upload", "visitor_file",  # the widget's files: its visitor cookie
              "ics_feed",  # the calendar feed: its secret URL is the credential
              # the unsubscribe link: its signed token is the credential (RFC 8058 POST)
              "unsubscribe_page", "unsubscribe_now",
              # double opt-in and tracking: signed links, or the shop site's own form
              "subscribe", "confirm", "open_pixel", "click",
              "serve",  # post images: Telegram and Meta fetch them by URL
              "post_click"}  # a published post's tracked link: its signed mac is the key
    for route in app.router.routes():
        if route.resource is None or route.resource.canonical.startswith("/api/"):
            continue
        if isinstance(route.resource, web.StaticResource):  # /static/: the pages' scripts
            continue
        handler: Any = route.handler
        name = getattr(handler, "__name__", "")
        if name in public or route.method == "HEAD":
            continue
        assert hasattr(handler, "perm"), f"{route.method} {route.resource.canonical}"
        assert handler.perm is None or isinstance(handler.perm, Perm)


async def test_admin_pages_create_user_and_channel(shop: Shop) -> None:
    csrf = await as_admin(shop)
    resp = await shop.client.post("/admin/users", data={"csrf_token": csrf,
                                                        "email": "new@shop.test",
                                                        "role": "agent"})
    text = await resp.text()
    assert resp.status == 200 and "Shown once" in text and "sbt_" in text
    resp = await shop.client.post("/admin/channels", data={"csrf_token": csrf,
                                                           "kind": "webchat", "name": "Site"})
    text = await resp.text()
    assert "shown once" in text and "widget.js?account=" in text
    resp = await shop.client.post("/admin/channels", data={"csrf_token": csrf,
                                                           "kind": "pigeon", "name": "x"})
    assert resp.status == 400 and "unknown channel kind" in await resp.text()


async def test_health_and_metrics(shop: Shop) -> None:
    await shop.inbound(message("h1"))
    resp = await shop.client.get("/healthz")
    assert resp.status == 200 and (await resp.json())["database"] == "ok"
    text = await (await shop.client.get("/metrics")).text()
    assert 'switchboard_messages_ingested_total{channel="api"}' in text
    assert "switchboard_ingest_seconds_bucket" in text
    assert "switchboard_replies_total" in text


async def test_unknown_page_is_a_clean_404(shop: Shop) -> None:
    resp = await shop.client.get("/nowhere")
    assert resp.status == 404 and "Traceback" not in await resp.text()
    resp = await shop.client.get("/chat?account=999")
    assert resp.status == 404


async def test_bot_page_faq_rules_and_telegram_links(shop: Shop) -> None:
    """The FAQ, the rules and Telegram links are managed from pages too."""
    csrf = await as_admin(shop)
    post = shop.client.post
    resp = await post("/admin/bot/faq", allow_redirects=False, data={
        "csrf_token": csrf, "locale": "pl", "question": "Ile trwa dostawa?",
        "variants": "czas dostawy\nkiedy przyjdzie paczka", "answer": "2-3 dni robocze.",
        "in_menu": "on"})
    assert resp.status == 302
    page = await (await shop.client.get("/admin/bot?q=kiedy+przyjdzie+paczka&locale=pl")).text()
    assert "Answers with <strong>Ile trwa dostawa?</strong>" in page
    resp = await post("/admin/bot/faq", data={"csrf_token": csrf, "locale": "xx",
                                              "question": "q", "answer": "a"})
    assert resp.status == 400 and "locale must be one of" in await resp.text()

    resp = await post("/admin/bot/rules", allow_redirects=False, data={
        "csrf_token": csrf, "name": "Night", "event": "message_received",
        "time_from": "22:00", "time_to": "07:00", "keywords": "urgent, терміново",
        "reply": "We are asleep, {{ contact.first_name or 'friend' }}!", "add_label": "night",
        "assign": "round_robin"})
    assert resp.status == 302, await resp.text()
    _, rules = await shop.api("GET", "/api/v1/rules")
    assert rules[0]["conditions"] == {"keywords": ["urgent", "терміново"],
                                      "time_of_day": {"from": "22:00", "to": "07:00"}}
    assert [a["type"] for a in rules[0]["actions"]] == ["reply", "add_label", "assign"]
    resp = await post("/admin/bot/rules", data={"csrf_token": csrf, "name": "x",
                                                "event": "message_received", "regex": "("})
    assert resp.status == 400 and "regex" in await resp.text()
    await post(f"/admin/bot/rules/{rules[0]['id']}", data={"csrf_token": csrf})
    assert (await shop.api("GET", "/api/v1/rules"))[1][0]["enabled"] is False
    await post(f"/admin/bot/rules/{rules[0]['id']}", data={"csrf_token": csrf, "delete": "1"})
    assert (await shop.api("GET", "/api/v1/rules"))[1] == []

    admin_id = (await shop.api("GET", "/api/v1/users"))[1][0]["id"]
    resp = await post(f"/admin/users/{admin_id}/telegram", allow_redirects=False,
                      data={"csrf_token": csrf, "telegram_user_id": "123456"})
    assert resp.status == 302
    assert (await shop.api("GET", "/api/v1/users"))[1][0]["telegram_user_id"] == 123456
    resp = await post(f"/admin/users/{admin_id}/telegram",
                      data={"csrf_token": csrf, "telegram_user_id": "@me"})
    assert resp.status == 400

    webchat = shop.seed["webchat_account_id"]
    resp = await post(f"/admin/channels/{webchat}", allow_redirects=False,
                      data={"csrf_token": csrf, "enabled": "on", "bot": "off"})
    assert resp.status == 302
    account = next(a for a in (await shop.api("GET", "/api/v1/channels"))[1]
                   if a["id"] == webchat)
    assert account["settings"]["bot"] is False and account["enabled"] is True


async def test_agent_reads_bot_page_but_cannot_change_it(shop: Shop) -> None:
    agent = await shop.add_user("agent")
    csrf = await login(shop, agent["email"], agent["password"])
    assert (await shop.client.get("/admin/bot")).status == 200
    resp = await shop.client.post("/admin/bot/faq", data={
        "csrf_token": csrf, "locale": "en", "question": "q", "answer": "a"})
    assert resp.status == 403


async def test_login_goes_back_only_to_a_path_on_this_site(shop: Shop) -> None:
    for target, lands in [("/\t/evil.example", "/"), ("/\\evil.example", "/"),
                          ("//evil.example", "/"), ("https://evil.example/", "/"),
                          ("javascript:alert(1)", "/"),
                          ("/contacts?q=ann", "/contacts?q=ann")]:
        page = await shop.client.get("/login")  # each login spends its form's token
        token = CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]
        resp = await shop.client.post("/login", data={
            "email": shop.seed["email"], "password": shop.seed["password"],
            "csrf_token": token, "next": target}, allow_redirects=False)
        assert (resp.status, resp.headers["Location"]) == (302, lands), target


async def test_staff_socket_answers_only_the_shops_own_pages(shop: Shop) -> None:
    """The staff socket carries every new message: a page on another site (or one whose
    Origin only ends like ours, or the opaque 'null' of a sandboxed frame) gets no socket,
    even with the staff member's cookie; this server's own pages and public_url's do."""
    await as_admin(shop)
    host = shop.client.make_url("/").host
    port = shop.client.make_url("/").port
    for foreign in ("https://evil.example", "null", f"http://evil.example@{host}:{port}x",
                    "http://evil.example", f"ftp://{host}:{port}"):
        resp = await shop.client.get("/ws/staff", headers={
            "Origin": foreign, "Connection": "Upgrade", "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert resp.status == 403, foreign
    for own in (f"http://{host}:{port}", "https://shop.example.test"):
        ws = await shop.client.ws_connect("/ws/staff", headers={"Origin": own})
        await ws.close()


async def test_staff_socket_refuses_the_shops_storefronts(aiohttp_client: Any,
                                                          tmp_path: Any) -> None:
    """allowed_origins lets the shop's storefronts open the web chat; they get no staff
    socket (a storefront on the same site sends the staff member's SameSite=Lax cookie)."""
    settings = make_settings(tmp_path, allowed_origins="https://store.shop.example.test")
    shop = await start_shop(aiohttp_client, settings)
    await as_admin(shop)
    resp = await shop.client.get("/ws/staff", headers={
        "Origin": "https://store.shop.example.test", "Connection": "Upgrade",
        "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert resp.status == 403
