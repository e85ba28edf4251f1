"""Issue 19, points 1 and 16: the web chat's socket answers only the shop's own origins,
and each client address has limits (new visitors, sockets, messages)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Shop, make_settings, start_shop

FOREIGN = "https://evil.example"


async def visitor(shop: Shop) -> int:
    account = int(shop.seed["webchat_account_id"])
    page = await shop.client.get(f"/chat?account={account}")
    assert page.status == 200
    return account


async def refused(shop: Shop, account: int, origin: str) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await shop.client.ws_connect(f"/chat/ws?account={account}",
                                     headers={"Origin": origin})
    return err.value.status


async def test_foreign_origin_gets_no_socket(shop: Shop) -> None:
    account = await visitor(shop)
    for origin in (FOREIGN, "null", "https://shop.example.test.evil.example",
                   "http://shop.example.test:8443", "not an origin"):
        assert await refused(shop, account, origin) == 403, origin


async def test_shop_origins_open_the_socket(shop: Shop) -> None:
    account = await visitor(shop)
    own = str(shop.client.make_url("/")).rstrip("/")  # the /chat page this server served
    for origin in ("https://shop.example.test", "https://SHOP.example.test:443", own):
        ws = await shop.client.ws_connect(f"/chat/ws?account={account}",
                                          headers={"Origin": origin})
        assert (await ws.receive_json(timeout=5))["type"] == "hello", origin
        await ws.close()


async def test_account_origins_setting(shop: Shop) -> None:
    account = await visitor(shop)
    assert await refused(shop, account, "https://blog.shop.example") == 403
    status, body = await shop.api("PATCH", f"/api/v1/channels/{account}",
                                  json={"settings": {"origins": "https://blog.shop.example"}})
    assert status == 200, body
    ws = await shop.client.ws_connect(f"/chat/ws?account={account}",
                                      headers={"Origin": "https://blog.shop.example"})
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    await ws.close()
    status, body = await shop.api("PATCH", f"/api/v1/channels/{account}",
                                  json={"settings": {"origins": "javascript:alert(1)"}})
    assert status == 400, body


async def test_origins_field_on_the_channels_page(shop: Shop) -> None:
    """An admin sets the account's origins on the Channels page; they open the socket."""
    from tests.web.test_web import as_admin

    csrf = await as_admin(shop)
    account = await visitor(shop)
    page = await (await shop.client.get("/admin/channels")).text()
    assert 'name="origins"' in page
    resp = await shop.client.post(f"/admin/channels/{account}", data={
        "csrf_token": csrf, "enabled": "on", "origins": "https://www.shop.example"},
        allow_redirects=False)
    assert resp.status == 302
    ws = await shop.client.ws_connect(f"/chat/ws?account={account}",
                                      headers={"Origin": "https://www.shop.example"})
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    await ws.close()


async def test_chat_page_has_no_inline_script_and_frames_only_for_the_shop(
        shop: Shop) -> None:
    account = int(shop.seed["webchat_account_id"])
    page = await shop.client.get(f"/chat?account={account}")
    html = await page.text()
    assert '<script src="/chat.js"' in html and "<script>" not in html
    assert "frame-ancestors 'self' https://shop.example.test" in \
        page.headers["Content-Security-Policy"]
    js = await shop.client.get("/chat.js")
    assert js.status == 200 and "new WebSocket" in await js.text()


@pytest.fixture
async def tight(aiohttp_client: Any, tmp_path: Path, still_limits: None) -> Shop:
    return await start_shop(aiohttp_client, make_settings(
        tmp_path, public_limit_address="3/minute"))


async def test_new_visitors_are_limited_per_address(tight: Shop) -> None:
    account = await visitor(tight)  # the first of three
    for _ in range(2):
        async with aiohttp.ClientSession() as fresh:  # a new visitor each time
            resp = await fresh.get(tight.client.make_url(f"/chat?account={account}"))
            assert resp.status == 200
    async with aiohttp.ClientSession() as fresh:
        resp = await fresh.get(tight.client.make_url(f"/chat?account={account}"))
        assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    # a known visitor's reload is not a new visitor
    assert (await tight.client.get(f"/chat?account={account}")).status == 200
    assert (await tight.client.get(f"/chat?account={account}")).status == 200


async def test_sockets_are_limited_per_address(tight: Shop) -> None:
    account = await visitor(tight)
    for _ in range(3):
        ws = await tight.client.ws_connect(f"/chat/ws?account={account}")
        await ws.receive_json(timeout=5)
        await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await tight.client.ws_connect(f"/chat/ws?account={account}")
    assert err.value.status == 429 and err.value.headers is not None
    assert int(err.value.headers["Retry-After"]) >= 1


async def test_messages_are_limited_per_address(tight: Shop) -> None:
    account = await visitor(tight)
    ws = await tight.client.ws_connect(f"/chat/ws?account={account}")
    await ws.receive_json(timeout=5)
    answers: list[dict[str, Any]] = []
    for i in range(4):
        cid = uuid.uuid4().hex
        await ws.send_json({"type": "message", "client_id": cid, "text": f"hi {i}"})
        while True:
            frame = await ws.receive_json(timeout=5)
            if frame.get("client_id") == cid:
                answers.append(frame)
                break
    assert [a["type"] for a in answers] == ["ack", "ack", "ack", "error"]
    assert answers[-1]["retry_after"] >= 1
    await ws.close()


async def test_open_sockets_are_capped_per_address(aiohttp_client: Any,
                                                   tmp_path: Path) -> None:
    from channels.webchat import guard

    shop = await start_shop(aiohttp_client, make_settings(tmp_path))
    account = await visitor(shop)
    sockets = []
    for _ in range(guard.MAX_OPEN_SOCKETS):
        ws = await shop.client.ws_connect(f"/chat/ws?account={account}")
        await ws.receive_json(timeout=5)
        sockets.append(ws)
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await shop.client.ws_connect(f"/chat/ws?account={account}")
    assert err.value.status == 429
    await sockets.pop().close()
    for _ in range(50):  # the server sees the close a moment later
        try:
            ws = await shop.client.ws_connect(f"/chat/ws?account={account}")
            break
        except aiohttp.WSServerHandshakeError:
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("a closed socket was never given back")
    await ws.close()
    for ws in sockets:
        await ws.close()


@pytest.mark.parametrize("run", ["first app", "second app"])
async def test_each_app_counts_afresh(aiohttp_client: Any, tmp_path: Path, run: str) -> None:
    """The counters live on the app (its adapter), not in the module: a second app built
    in this process starts from zero."""
    shop = await start_shop(aiohttp_client, make_settings(
        tmp_path, public_limit_address="1/minute"))
    account = int(shop.seed["webchat_account_id"])
    assert (await shop.client.get(f"/chat?account={account}")).status == 200, run
