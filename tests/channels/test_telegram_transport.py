"""The Telegram client's guarded transport (channels.telegram.client.GuardedTransport):
python-telegram-bot's real request object refuses what the outbound policy refuses, still
reaches what it allows, and keeps a proxy working, with the policy checking the target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from telegram.error import NetworkError

from bot.core.keys import ADAPTERS
from channels.telegram import client as tg_client
from tests.conftest import make_settings, start_shop


async def _recorder(aiohttp_server: Any) -> tuple[Any, list[str]]:
    """A server that answers any request with Bot API-shaped JSON and records the URL it
    was asked for (in absolute form when it is used as a proxy)."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.raw_path)  # the request target as sent
        return web.json_response({"ok": True, "result": {"path": request.path}})
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return await aiohttp_server(app), seen


async def _call(request: Any, url: str) -> tuple[int, bytes]:
    await request.initialize()
    try:
        return await request.do_request(url, "POST")  # type: ignore[no-any-return]
    finally:
        await request.shutdown()


async def test_the_real_request_object_refuses_a_private_host(aiohttp_server: Any) -> None:
    """If the guard stopped applying (a new httpx, a transport httpx ignores), this
    request would reach the local server."""
    server, seen = await _recorder(aiohttp_server)
    request = tg_client.http_request(False)
    with pytest.raises(NetworkError, match="127.0.0.1 is a loopback address"):
        await _call(request, f"http://127.0.0.1:{server.port}/botT/getMe")
    assert seen == []
    assert (await _call(tg_client.http_request(True),  # allowed: no guard, it arrives
                        f"http://127.0.0.1:{server.port}/botT/getMe"))[0] == 200
    assert seen == ["/botT/getMe"]


async def test_an_allowed_host_is_reached_through_the_guard(
        aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server, seen = await _recorder(aiohttp_server)
    checked: list[str] = []

    async def public(host: str, port: int, **_: Any) -> list[str]:
        checked.append(host)
        return ["127.0.0.1"]
    monkeypatch.setattr(tg_client, "check_host", public)
    status, body = await _call(tg_client.http_request(False),
                               f"http://bot-api.example:{server.port}/botT/getMe?x=1")
    assert status == 200 and b'"ok": true' in body
    assert seen == ["/botT/getMe?x=1"] and checked == ["bot-api.example"]


@pytest.mark.parametrize("how", ["argument", "environment"])
async def test_a_proxy_is_used_and_the_target_is_checked_not_the_proxy(
        aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    proxy, seen = await _recorder(aiohttp_server)  # on loopback: the guard would refuse it
    proxy_url = f"http://127.0.0.1:{proxy.port}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
                 "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    if how == "environment":
        monkeypatch.setenv("HTTP_PROXY", proxy_url)

    given: dict[str, Any] = {"proxy": proxy_url} if how == "argument" else {}

    def request() -> Any:
        return tg_client.http_request(False, **given)
    with pytest.raises(NetworkError, match="10.1.2.3 is a private address"):
        await _call(request(), "http://10.1.2.3/botT/getMe")
    assert seen == []  # refused before the proxy was asked
    checked: list[str] = []

    async def public(host: str, port: int, **_: Any) -> list[str]:
        checked.append(f"{host}:{port}")
        return ["93.184.216.34"]
    monkeypatch.setattr(tg_client, "check_host", public)
    status, _ = await _call(request(), "http://bot-api.example/botT/getMe")
    assert status == 200
    assert seen == ["http://bot-api.example/botT/getMe"] and checked == ["bot-api.example:80"]


def test_a_socks_proxy_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="only http\\(s\\) proxies"):
        tg_client.http_request(False, proxy="socks5://127.0.0.1:1080")


async def test_a_socks_proxy_in_the_environment_stops_the_start(
        aiohttp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    tg_client.check_proxies(True)  # private URLs allowed: PTB's own client, its proxies
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, allow_private_urls=True))
    adapter = shop.client.app[ADAPTERS]["telegram"]
    monkeypatch.setattr(adapter, "_allow_private", lambda: False)  # the policy on
    with pytest.raises(ValueError, match="only http\\(s\\) proxies .* socks5 proxy"):
        await adapter.start()
