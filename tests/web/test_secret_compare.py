"""Issue 19 point 11: a CSRF token, signature or shared secret someone sends is compared
as bytes, so a non-ASCII (or not even UTF-8) value is a plain refusal (403, or 401 where
the store webhooks answer that), never a 500."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.core.auth import same
from bot.models import ChannelAccount
from config import Secret
from tests.conftest import Shop, make_settings, start_shop
from tests.web.test_web import as_admin

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ODD = ["sha256=é", "é" * 40, "sha256=" + "ü" * 64, "\u2028"]


async def raw_post(shop: Shop, path: str, header: bytes, body: bytes = b"{}",
                   cookie: bytes = b"") -> int:
    """A POST written byte by byte: a header value that is not even UTF-8."""
    server = shop.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 b"Content-Type: application/json\r\n" + header + b"\r\n"
                 + (b"Cookie: " + cookie + b"\r\n" if cookie else b"")
                 + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


def test_same_takes_any_text() -> None:
    assert same("é", "é") and not same("é", "e") and not same("\udcff", "x")
    assert not same(None, "x") and same(b"\xff", b"\xff")
    assert Secret("é") == Secret("é") and Secret("é") != Secret("e")


async def test_non_ascii_webhook_signature_is_403(shop: Shop) -> None:
    for value in ODD:
        resp = await shop.inbound({"external_id": "x"}, signature=value)
        assert resp.status == 403, (value, await resp.text())
    path = f"/api/v1/inbound/{shop.seed['api_account_id']}"
    for header in (b"X-Switchboard-Signature: sha256=\xff\xfe", b"X-Switchboard-Signature: \xc3"):
        assert await raw_post(shop, path, header) == 403


async def test_non_ascii_csrf_is_403_on_forms_and_the_login(shop: Shop) -> None:
    csrf = await as_admin(shop)
    assert csrf
    for value in ODD:
        resp = await shop.client.post("/logout", data={"csrf_token": value},
                                      allow_redirects=False)
        assert resp.status == 403, value
    shop.client.session.cookie_jar.clear()
    await shop.client.get("/login")  # the pre-login CSRF cookie
    for value in ODD:
        resp = await shop.client.post("/login", data={"csrf_token": value, "email": "a@b.c",
                                                      "password": "x"})
        assert resp.status == 403, value


async def test_non_ascii_csrf_header_on_the_api_is_refused(shop: Shop) -> None:
    await as_admin(shop)
    for value in ODD:
        resp = await shop.client.post("/api/v1/users", json={"email": "n@shop.test",
                                                             "role": "agent"},
                                      headers={"X-CSRF-Token": value})
        assert resp.status in (401, 403), (value, resp.status)
    cookies = "; ".join(f"{c.key}={c.value}" for c in shop.client.session.cookie_jar)
    status = await raw_post(shop, "/api/v1/users", b"X-CSRF-Token: \xff\xfe",
                            json.dumps({"email": "n@shop.test", "role": "agent"}).encode(),
                            cookies.encode())
    assert status in (401, 403)


@pytest.fixture
async def stores(aiohttp_client: Any, tmp_path: Path) -> Shop:
    return await start_shop(aiohttp_client, make_settings(
        tmp_path, shopify_webhook_secret=Secret("s"), woocommerce_webhook_secret=Secret("w")))


async def test_non_ascii_store_webhook_signatures_are_401(stores: Shop) -> None:
    for path, header in (("/api/v1/webhooks/shopify", "X-Shopify-Hmac-Sha256"),
                         ("/api/v1/webhooks/woocommerce", "X-WC-Webhook-Signature")):
        for value in ODD:
            resp = await stores.client.post(path, data=b"{}", headers={
                header: value, "Content-Type": "application/json"})
            assert resp.status == 401, (path, value, await resp.text())
        assert await raw_post(stores, path, header.encode() + b": \xff==") == 401


async def test_non_ascii_shared_secrets_of_channels(shop: Shop) -> None:
    tg = await ChannelAccount.create(kind="telegram", name="T", secret="s3cret",
                                     settings={"token": "1:x", "mode": "webhook"})
    for value in ODD:
        resp = await shop.client.post(f"/api/v1/telegram/{tg.id}/webhook", json={},
                                      headers={"X-Telegram-Bot-Api-Secret-Token": value})
        assert resp.status == 403, (value, await resp.text())
    assert await raw_post(shop, f"/api/v1/telegram/{tg.id}/webhook",
                          b"X-Telegram-Bot-Api-Secret-Token: \xff") == 403
    webchat = shop.seed["webchat_account_id"]
    resp = await shop.client.get(f"/chat?account={webchat}",
                                 headers={"Cookie": f"sb_v{webchat}=abc.{'é' * 32}"})
    assert resp.status == 200
    resp = await shop.client.get("/calendar/" + "é" * 32 + ".ics")
    assert resp.status == 404


def test_non_ascii_digits_are_not_numbers() -> None:
    """Siblings: str.isdigit() says yes to '²' and '٣', which int() and float() then refuse
    or read as another number; a check that lets them through is a 500 later."""
    from bot.services.notify import check_settings
    from channels.api.client import parse_retry_after

    assert parse_retry_after("²") is None and parse_retry_after("120") == 120.0
    assert check_settings({"staff_chat_id": "-²"}) is not None
    assert check_settings({"staff_chat_id": "-100123"}) is None
