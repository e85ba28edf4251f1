"""The outbound policy's siblings in the channels (issue 19 point 6): the Graph API's
answer is read up to a cap; a Telegram account's API base URL and an e-mail account's
IMAP and SMTP hosts are checked before anything connects to them."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.abc
import pytest
from aiohttp import web

from bot.core.channel import (
    AccountInfo,
    ChannelError,
    OutboundMessage,
    OutcomeUnknown,
    PermanentDeliveryError,
)
from bot.core.keys import ADAPTERS
from channels.email.account import HostRefused
from channels.meta import graph as graph_module
from channels.meta.graph import Graph, GraphError
from channels.telegram import client as tg_client
from tests.conftest import make_settings, start_shop
from tests.fakes.telegram_api import FakeTelegram

TOKEN = "424242:AAH-test-token"


async def _huge(aiohttp_server: Any, status: int) -> Any:
    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        try:
            await resp.write(b'{"id": "1", "pad": "')
            while True:
                await resp.write(b"x" * 65536)
                await asyncio.sleep(0)
        except (ConnectionError, RuntimeError):
            pass
        return resp
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", endless)
    return await aiohttp_server(app)


@pytest.mark.parametrize("status", [200, 400, 503])
async def test_a_graph_answer_over_the_cap_is_a_clear_error(
        aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    monkeypatch.setattr(graph_module, "ANSWER_BYTES", 256 * 1024, raising=False)
    server = await _huge(aiohttp_server, status)
    async with aiohttp.ClientSession() as http:
        graph = Graph(http, str(server.make_url("/v21.0")), "token", timeout=5.0)
        if status == 200:  # it went through: what it did is not known
            with pytest.raises(OutcomeUnknown, match="larger than 262144 bytes"):
                await graph.post("12/messages", message="hi")
        else:
            with pytest.raises(GraphError, match="larger than 262144 bytes") as err:
                await graph.get("12")
            assert err.value.status == status and err.value.code == (2 if status >= 500
                                                                      else 0)


async def test_a_graph_answer_under_the_cap_is_read(aiohttp_server: Any) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"id": "7", "pad": "y" * 100_000})
    app = web.Application()
    app.router.add_get("/{tail:.*}", ok)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as http:
        out = await Graph(http, str(server.make_url("")), "t").get("me")
    assert out["id"] == "7"


class Loopback(aiohttp.abc.AbstractResolver):
    """Every name resolves to 127.0.0.1 (a public-looking name pointed inside)."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        return [{"hostname": host, "host": "127.0.0.1", "port": port,
                 "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass


async def test_a_private_telegram_api_base_is_refused(
        aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeTelegram()
    fake.add_bot(TOKEN)
    server = await aiohttp_server(fake.app())
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, allow_private_urls=False))

    async def add(base: str) -> tuple[int, Any]:
        return await shop.api("POST", "/api/v1/channels", json={
            "kind": "telegram", "name": "Shop bot",
            "settings": {"token": TOKEN, "api_base_url": base, "mode": "polling"}})
    for base in (f"http://127.0.0.1:{server.port}", f"http://localhost:{server.port}",
                 "http://169.254.169.254"):
        status, body = await add(base)
        assert status == 422, (base, body)
        assert body["error"]["code"] == "bad_url"
        assert body["error"]["field"] == "settings.api_base_url"
    # a name that resolves inside: checked after resolution, before getMe
    monkeypatch.setattr(aiohttp, "ThreadedResolver", Loopback)
    status, body = await add(f"http://bot-api.example:{server.port}")
    assert status == 400 and body["error"]["code"] == "cannot_connect", body
    assert "refused: 127.0.0.1 is a loopback address" in body["error"]["message"]
    assert fake.calls == []  # nothing reached the fake
    status, listed = await shop.api("GET", "/api/v1/channels")
    assert [a for a in listed if a["kind"] == "telegram"] == []


async def test_a_refused_telegram_account_does_not_start(
        aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """An account saved before the policy (or by hand) with a private API base: its loop
    ends at once with an error naming the account, no getUpdates, no crash loop."""
    fake = FakeTelegram()
    fake.add_bot(TOKEN)
    server = await aiohttp_server(fake.app())
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, allow_private_urls=False))
    adapter = shop.client.app[ADAPTERS]["telegram"]
    for mode in ("polling", "webhook"):
        account = AccountInfo(9, "telegram", "old bot", "", {
            "token": TOKEN, "api_base_url": f"http://127.0.0.1:{server.port}", "mode": mode},
            "s")
        with caplog.at_level(logging.ERROR, "switchboard.telegram"):
            await asyncio.wait_for(adapter._run(account), 5)
        assert any(r.getMessage().startswith("telegram account not started")
                   and getattr(r, "account", None) == 9
                   and "127.0.0.1 is a loopback address" in getattr(r, "error", "")
                   for r in caplog.records), caplog.records
        caplog.clear()
    assert fake.calls == []


async def _listener(seen: list[str]) -> asyncio.Server:
    """A TCP port on 127.0.0.1 that counts who connects to it."""
    def came(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append("connected")
        writer.close()
    return await asyncio.start_server(came, "127.0.0.1", 0)


def _mail_settings(port: int) -> dict[str, Any]:
    return {"address": "shop@shop.test", "imap_host": "127.0.0.1", "imap_port": port,
            "imap_tls": "none", "imap_user": "shop", "imap_password": "pw",
            "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_tls": "none"}


async def test_a_private_mail_server_is_refused(
        aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []
    server = await _listener(seen)
    port = server.sockets[0].getsockname()[1]
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, allow_private_urls=False))
    status, body = await shop.api("POST", "/api/v1/channels", json={
        "kind": "email", "name": "Shop mail", "settings": _mail_settings(port)})
    assert status == 400 and body["error"]["code"] == "cannot_connect", body
    assert "IMAP server 127.0.0.1: refused: 127.0.0.1 is a loopback address" in \
        body["error"]["message"]
    # an account saved before the policy (or by hand): its mailbox loop ends at once
    adapter = shop.client.app[ADAPTERS]["email"]
    account = AccountInfo(7, "email", "old", "", _mail_settings(port), "s")
    with caplog.at_level(logging.ERROR, "switchboard.email"):
        await asyncio.wait_for(adapter._watch(account), 5)
    assert any(r.getMessage() == "mailbox not read: its IMAP host is refused"
               and getattr(r, "account", None) == 7 for r in caplog.records), caplog.records
    # and its SMTP host: no mail goes out, the reply fails for good with the reason
    with pytest.raises(HostRefused, match="SMTP server 127.0.0.1: refused"):
        await adapter.send_mail(account, ("shop@shop.test", "c@example.com", b"Hi"))
    reply = OutboundMessage(message_id=1, conversation_id=1, account=account,
                            contact_external_id="c@example.com", thread_id=None,
                            text="Hello", created_at=datetime.now(UTC))
    with pytest.raises(PermanentDeliveryError, match="SMTP server 127.0.0.1: refused"):
        await adapter.send(reply)
    server.close()
    await server.wait_closed()
    assert seen == []  # nothing connected


async def test_every_bot_api_call_goes_through_the_policy(
        aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only the checks at the start: a send on an account whose API base leads inside
    (a name that now resolves to 127.0.0.1) is refused at the connection."""
    fake = FakeTelegram()
    fake.add_bot(TOKEN)
    server = await aiohttp_server(fake.app())
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, allow_private_urls=False))
    adapter = shop.client.app[ADAPTERS]["telegram"]
    monkeypatch.setattr(aiohttp, "ThreadedResolver", Loopback)
    for base in (f"http://127.0.0.1:{server.port}", f"http://bot-api.example:{server.port}"):
        account = AccountInfo(5, "telegram", "bot", "", {"token": TOKEN, "api_base_url": base},
                              "s")
        reply = OutboundMessage(message_id=1, conversation_id=1, account=account,
                                contact_external_id="42", thread_id=None, text="Hello",
                                created_at=datetime.now(UTC))
        with pytest.raises(ChannelError, match="127.0.0.1 is a loopback address"):
            await adapter.send(reply)
    assert fake.calls == []


async def test_the_guarded_bot_api_connection_still_works(
        aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the guarded transport, an address the policy lets through (here the check
    is told 127.0.0.1 stands for a public address) is reached as usual."""
    fake = FakeTelegram()
    fake.add_bot(TOKEN)
    server = await aiohttp_server(fake.app())
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, allow_private_urls=False))
    adapter = shop.client.app[ADAPTERS]["telegram"]
    checked: list[str] = []

    async def public(host: str, port: int, **_: Any) -> list[str]:
        checked.append(host)
        return ["127.0.0.1"]
    monkeypatch.setattr(tg_client, "check_host", public)
    account = AccountInfo(5, "telegram", "bot", "", {
        "token": TOKEN, "api_base_url": f"http://bot-api.example:{server.port}"}, "s")
    reply = OutboundMessage(message_id=1, conversation_id=1, account=account,
                            contact_external_id="42", thread_id=None, text="Hello",
                            created_at=datetime.now(UTC))
    assert (await adapter.send(reply)).external_id
    assert [c[1] for c in fake.calls] == ["sendMessage"] and checked == ["bot-api.example"]
