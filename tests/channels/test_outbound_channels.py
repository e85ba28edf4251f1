"""Typed URLs in the channels (issue 19 point 6): an API account's callback URL refused by
the outbound policy says so; ids from settings and webhooks stay inside the Graph path."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.core.channel import PermanentDeliveryError
from bot.core.outbound import client_session
from channels.api.client import CallbackError, post_signed
from channels.meta.graph import Graph, graph_path
from tests.conftest import make_settings


async def _server(aiohttp_server: Any, seen: list[str], body: bytes = b"ok") -> Any:
    async def any_path(request: web.Request) -> web.StreamResponse:
        seen.append(request.raw_path)
        await request.read()
        if body == b"endless":
            resp = web.StreamResponse()
            await resp.prepare(request)
            await resp.write(b"accepted")
            await asyncio.sleep(30)
            return resp
        return web.json_response({"id": "1"}) if body == b"json" else web.Response(body=body)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_path)
    return await aiohttp_server(app)


async def test_a_refused_callback_says_why(tmp_path: Path, aiohttp_server: Any) -> None:
    seen: list[str] = []
    server = await _server(aiohttp_server, seen)
    strict = make_settings(tmp_path, allow_private_urls=False)
    async with client_session(strict) as http:
        for url in (f"http://127.0.0.1:{server.port}/cb", f"http://localhost:{server.port}/cb",
                    "http://169.254.169.254/latest/meta-data/"):
            with pytest.raises(CallbackError) as err:
                await post_signed(http, url, "secret", {"a": 1}, 5.0)
            assert err.value.reason.startswith("callback refused: "), err.value.reason
            assert "is a" in err.value.reason and "ALLOW_PRIVATE_URLS" in err.value.reason
            assert err.value.status is None  # nothing was sent
    assert seen == []
    relaxed = make_settings(tmp_path, allow_private_urls=True)
    async with client_session(relaxed) as http:
        assert await post_signed(http, f"http://127.0.0.1:{server.port}/cb", "s", {}, 5.0) == 200
    assert seen == ["/cb"]


async def test_a_callback_answer_is_not_read_whole(aiohttp_server: Any) -> None:
    """The callback's answer is not used: an endless (or huge) one is not waited for nor
    kept in memory; its status is the answer."""
    seen: list[str] = []
    server = await _server(aiohttp_server, seen, body=b"endless")
    async with aiohttp.ClientSession() as http:
        assert await post_signed(http, str(server.make_url("/cb")), "s", {}, 2.0) == 200


@pytest.mark.parametrize(("node", "path"), [
    ("123/feed", "123/feed"), ("/me", "me"), ("123_456/comments", "123_456/comments"),
    ("12?access_token=x#/feed", "12%3Faccess_token%3Dx%23/feed"),
    ("a@b.example/x", "a%40b.example/x"),
    ("50%/feed", "50%25/feed")])
def test_graph_ids_stay_in_their_segment(node: str, path: str) -> None:
    assert graph_path(node) == path


@pytest.mark.parametrize("node", ["", "/", "../../oauth/access_token", "123/../me", "a//b"])
def test_graph_paths_that_climb_are_refused(node: str) -> None:
    with pytest.raises(PermanentDeliveryError):
        graph_path(node)


async def test_graph_sends_an_odd_id_as_one_segment(aiohttp_server: Any) -> None:
    seen: list[str] = []
    server = await _server(aiohttp_server, seen, body=b"json")
    async with aiohttp.ClientSession() as http:
        graph = Graph(http, str(server.make_url("/v21.0")), "token")
        await graph.post("12?x=1#frag/comments", message="hi")
    assert seen == ["/v21.0/12%3Fx=1%23frag/comments"]  # not ?x=1 nor #frag


async def test_the_server_refuses_a_private_callback(tmp_path: Path, aiohttp_client: Any,
                                                     aiohttp_server: Any) -> None:
    """A reply to an API account whose callback URL is on this machine never reaches it:
    the message says why, for staff to see."""
    from bot.models import ChannelAccount, Message
    from tests.conftest import message, start_shop

    seen: list[str] = []
    server = await _server(aiohttp_server, seen)
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, allow_private_urls=False))
    await ChannelAccount.filter(id=shop.seed["api_account_id"]).update(
        callback_url=f"http://127.0.0.1:{server.port}/hook")
    conv_id = (await (await shop.inbound(message("p-1"))).json())["conversation_id"]
    _, sent = await shop.api("POST", f"/api/v1/conversations/{conv_id}/reply",
                             json={"text": "hello"})
    for _ in range(100):
        msg = await Message.get(id=sent["id"])
        if msg.error:
            break
        await asyncio.sleep(0.05)
    assert msg.error.startswith("callback refused: 127.0.0.1 is a loopback address"), msg.error
    assert msg.status.value in ("retrying", "failed") and seen == []
    _, detail = await shop.api("GET", f"/api/v1/conversations/{conv_id}")
    assert detail["thread"][-1]["error"] == msg.error


async def test_typed_account_urls_are_refused_when_saved(tmp_path: Path,
                                                          aiohttp_client: Any) -> None:
    """A callback URL or a *_url setting the outbound policy would refuse is a 422 naming
    the field when the account is added or changed, not a refusal at the first fetch."""
    from tests.conftest import start_shop

    shop = await start_shop(aiohttp_client, make_settings(tmp_path, allow_private_urls=False))
    status, body = await shop.api("POST", "/api/v1/channels", json={
        "kind": "api", "name": "Hooks", "callback_url": "http://169.254.169.254/latest"})
    assert status == 422 and body["error"]["field"] == "callback_url", body
    status, body = await shop.api("POST", "/api/v1/channels", json={
        "kind": "api", "name": "Reviews", "callback_url": "https://hooks.example.com/in",
        "settings": {"google_api_url": "http://10.0.0.8/v4"}})
    assert status == 422 and body["error"]["field"] == "settings.google_api_url", body
    aid = shop.seed["api_account_id"]
    status, body = await shop.api("PATCH", f"/api/v1/channels/{aid}", json={
        "callback_url": "javascript:alert(1)"})
    assert status == 422 and body["error"]["field"] == "callback_url", body
