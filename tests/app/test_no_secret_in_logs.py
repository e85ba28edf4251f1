"""Issue 19 point 9: no secret in any log line. A real server process logs at DEBUG (as
JSON, so extra fields are written too) while a Telegram bot polls the fake Bot API, an
API account takes signed messages and calls back, replies fail on both, a login fails and
a webhook is forged; then its whole log is searched for every secret it was given."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from channels.signing import sign
from tests.conftest import ServerProcess
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram
from tests.mailserver import MailServer

pytestmark = pytest.mark.slow  # a server process, polling and retries

TOKEN = "7171:AAH-telegram-bot-token-secret"
GOOGLE = "ya29.google-access-token-secret"
PASSWORD = "account-password-secret"
CALLBACK_PASSWORD = "callback-basic-auth-secret"
MAIL_PASSWORD = "mailbox-password-secret"
WRONG_MAIL_PASSWORD = "mailbox-password-typed-wrong"
PAGE, PAGE_TOKEN, APP_SECRET = "4401", "EAAG-page-access-token-secret", "meta-app-secret"


async def wait_for(check: Any, timeout: float = 30) -> Any:
    for _ in range(int(timeout * 10)):
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_no_configured_secret_reaches_the_log(tmp_path: Path, aiohttp_server: Any,
                                                    mailserver: MailServer) -> None:
    fake = FakeTelegram()
    fake.add_bot(TOKEN)
    telegram = await aiohttp_server(fake.app())
    graph = FakeGraph()
    graph.add_page(PAGE, PAGE_TOKEN)
    graph_base = str((await aiohttp_server(graph.app())).make_url("/v21.0"))
    shop_mail = mailserver.add_user(f"shop-{uuid.uuid4().hex[:8]}@shop.test", MAIL_PASSWORD)
    ann_mail = mailserver.add_user(f"ann-{uuid.uuid4().hex[:8]}@customer.test")
    callbacks: list[bytes] = []

    async def refuse(request: web.Request) -> web.Response:
        callbacks.append(await request.read())
        return web.Response(status=500, text="callback receiver is down")
    receiver_app = web.Application()
    receiver_app.router.add_post("/hook", refuse)
    receiver = await aiohttp_server(receiver_app)

    configured = {"SWITCHBOARD_SECRET_KEY": secrets.token_urlsafe(32),
                  "SWITCHBOARD_METRICS_TOKEN": "metrics-token-secret",
                  "SWITCHBOARD_SHOPIFY_WEBHOOK_SECRET": "shopify-hook-secret",
                  "SWITCHBOARD_WOOCOMMERCE_WEBHOOK_SECRET": "woo-hook-secret"}
    # fresh: its start-up migrates too, logging at DEBUG
    srv = ServerProcess(tmp_path / "data", fresh=True, SWITCHBOARD_LOG_LEVEL="DEBUG",
                        SWITCHBOARD_LOG_FORMAT="json", SWITCHBOARD_OUTBOUND_MAX_ATTEMPTS="2",
                        SWITCHBOARD_OUTBOUND_BACKOFF_SECONDS="0.2",
                        SWITCHBOARD_CHANNEL_REFRESH_SECONDS="0.2",
                        SWITCHBOARD_TELEGRAM_POLL_TIMEOUT="1", **configured)
    await asyncio.to_thread(srv.start)
    try:
        given = await asyncio.to_thread(_traffic, srv, telegram, receiver)
        given.update(await asyncio.to_thread(_mail_and_meta, srv, mailserver, shop_mail,
                                             ann_mail, graph, graph_base))
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await _failed_login(http, srv.url)
            resp = await http.post(srv.url + "/api/v1/webhooks/shopify", data=b"{}",
                                   headers={"X-Shopify-Hmac-Sha256": "forged",
                                            "X-Shopify-Topic": "orders/create"})
            assert resp.status == 401
        # a Telegram customer writes; the bot's reply to a blocked user fails (403)
        fake.push(TOKEN, fake.private_message(4242, "Hello from Telegram"))

        async def telegram_conversation() -> Any:
            rows = (await asyncio.to_thread(srv.call, "GET", "/api/v1/conversations"))["items"]
            return next((c["id"] for c in rows if c.get("channel") == "telegram"), None)
        try:
            conv = await wait_for(telegram_conversation)
        except AssertionError:
            raise AssertionError(f"no Telegram conversation; Bot API calls: "
                                 f"{[m for _, m, _ in fake.calls][:20]}") from None
        fake.blocked.add(4242)
        await asyncio.to_thread(srv.call, "POST", f"/api/v1/conversations/{conv}/reply",
                                {"text": "Thanks!"})
        await wait_for(lambda: _async(lambda: any(m == "sendMessage"
                                                  for _, m, _ in fake.calls)))
        # the API account's callback fails until the reply is failed
        await wait_for(lambda: _async(lambda: len(callbacks) >= 2))
        # the e-mail customer's mail arrives over IMAP, the page's DM over the webhook
        async def kinds() -> Any:
            rows = (await asyncio.to_thread(srv.call, "GET", "/api/v1/conversations"))["items"]
            have = {c["channel"]: c["id"] for c in rows}
            return have if {"email", "facebook"} <= have.keys() else None
        have = await wait_for(kinds)
        for kind in ("email", "facebook"):
            await asyncio.to_thread(srv.call, "POST",
                                    f"/api/v1/conversations/{have[kind]}/reply",
                                    {"text": f"An answer on {kind}"})
        await asyncio.to_thread(mailserver.wait_for, ann_mail, 1)
        await wait_for(lambda: _async(lambda: bool(graph.accounts[PAGE].messages)))
        # the Bot API fails a poll: the adapter logs the error it got
        fake.fail.append(("getUpdates", 502, 0))
        await wait_for(lambda: _async(lambda: "getUpdates failed" in srv.log.read_text()))
        await asyncio.sleep(1.0)
    finally:
        srv.stop()
    log = srv.log.read_text()
    assert "getUpdates" in log or "telegram" in log.lower()  # it did log what it did
    assert '"level": "DEBUG"' in log
    leaked = {name: value for name, value in {**configured, **given}.items()
              if value and value in log}
    assert not leaked, (leaked, _lines_with(log, list(leaked.values())))
    assert not re.search(r"/bot\d+:[A-Za-z0-9_-]{10,}", log)


async def _async(check: Any) -> Any:
    return check()


def _lines_with(log: str, values: list[str]) -> list[str]:
    return [line[:300] for line in log.splitlines() if any(v in line for v in values)][:5]


def _traffic(srv: ServerProcess, telegram: Any, receiver: Any) -> dict[str, str]:
    """Accounts with secrets, and messages through the API channel (blocking)."""
    base = str(telegram.make_url("")).rstrip("/")
    srv.call("POST", "/api/v1/channels", {"kind": "telegram", "name": "bot", "settings": {
        "token": TOKEN, "api_base_url": base}})
    hook = str(receiver.make_url("/hook")).replace("http://", f"http://shop:{CALLBACK_PASSWORD}@")
    api = srv.call("POST", "/api/v1/channels", {
        "kind": "api", "name": "shop", "callback_url": hook,
        "settings": {"google_access_token": GOOGLE, "password": PASSWORD}})
    import urllib.request

    body = json.dumps({"external_id": "m1", "contact": {"external_id": "c1", "name": "Ann"},
                       "text": "Hello from the API"}).encode()
    req = urllib.request.Request(f"{srv.url}/api/v1/inbound/{api['id']}", data=body,
                                 method="POST", headers={
                                     "X-Switchboard-Signature": sign(api["secret"], body),
                                     "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        conv = json.loads(resp.read())["conversation_id"]
    srv.call("POST", f"/api/v1/conversations/{conv}/reply", {"text": "We are on it"})
    return {"telegram token": TOKEN, "api secret": api["secret"], "google": GOOGLE,
            "password": PASSWORD, "callback password": CALLBACK_PASSWORD}


def _mail_and_meta(srv: ServerProcess, mail: MailServer, shop_mail: str, ann_mail: str,
                   graph: FakeGraph, graph_base: str) -> dict[str, str]:
    """A mailbox (after one refused with a wrong password) and a Facebook page, each with a
    customer message in (blocking)."""
    settings = {"address": shop_mail, "imap_host": "127.0.0.1", "imap_port": mail.imap_port,
                "imap_tls": "none", "imap_user": shop_mail, "smtp_host": "127.0.0.1",
                "smtp_port": mail.smtp_port, "smtp_tls": "none"}  # the test server: no AUTH
    import urllib.error

    try:
        srv.call("POST", "/api/v1/channels", {"kind": "email", "name": "wrong", "settings": {
            **settings, "imap_password": WRONG_MAIL_PASSWORD}})
        raise AssertionError("a wrong mailbox password was taken")
    except urllib.error.HTTPError as exc:
        assert 400 <= exc.code < 500
    _call(srv, "POST", "/api/v1/channels", {"kind": "email", "name": "mail", "settings": {
        **settings, "imap_password": MAIL_PASSWORD}})
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = ann_mail, shop_mail, "Where is my order?"
    msg.set_content("Hello from e-mail")
    mail.send(msg)
    fb = _call(srv, "POST", "/api/v1/channels", {"kind": "facebook", "name": "page", "settings": {
        "page_id": PAGE, "access_token": PAGE_TOKEN, "app_secret": APP_SECRET,
        "api_base_url": graph_base}})
    import urllib.request

    for secret in (APP_SECRET, "a-forged-app-secret"):
        raw, headers = FakeGraph.signed(FakeGraph.dm(PAGE, "u77", "Hi from Messenger",
                                                     f"m.{secret}"), secret)
        req = urllib.request.Request(f"{srv.url}/api/v1/facebook/{fb['id']}/webhook",
                                     data=raw, method="POST", headers=headers)
        try:
            urllib.request.urlopen(req, timeout=30).close()
        except urllib.error.HTTPError as exc:
            assert secret != APP_SECRET and 400 <= exc.code < 500
    return {"mailbox password": MAIL_PASSWORD, "wrong mailbox password": WRONG_MAIL_PASSWORD,
            "page token": PAGE_TOKEN, "app secret": APP_SECRET}


def _call(srv: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    import urllib.error

    try:
        return srv.call(method, path, body)
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None


async def _failed_login(http: aiohttp.ClientSession, url: str) -> None:
    page = await (await http.get(url + "/login")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page[:500]
    resp = await http.post(url + "/login", data={
        "csrf_token": token.group(1), "email": "admin@example.com",
        "password": "wrong-password-typed"}, headers={"Origin": url})
    assert resp.status in (401, 429), (await resp.text())[-600:]
    bad = await http.get(url + "/api/v1/conversations",
                         headers={"Authorization": "Bearer not-a-real-api-token-secret"})
    assert bad.status == 401
