"""The outbound policy's siblings in the channels (issue 19 point 6): the Graph API's
answer is read up to a cap; a Telegram account's API base URL and an e-mail account's
IMAP and SMTP hosts are checked before anything connects to them."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.core.channel import OutcomeUnknown
from channels.meta import graph as graph_module
from channels.meta.graph import Graph, GraphError


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
