"""The staff socket's typing pings, in-process: a colleague's page hears "<name> is
typing" (and its stop, and the stop when the typer's socket closes); the typer's own pages
hear nothing of it; a flood is cut to the limit; odd frames are dropped. A new
conversation's update says it is new, and a hand-off is told to every staff page."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.core.events import HandoffRequested
from bot.core.keys import BUS
from tests.conftest import Shop

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
WAIT = 30  # seconds: a hang guard only


@pytest.fixture
async def people(shop: Shop) -> AsyncIterator[dict[str, aiohttp.ClientSession]]:
    """The seeded admin and an agent whose name is markup, each with their own cookies."""
    status, _ = await shop.api("POST", "/api/v1/users", json={
        "email": "ann@shop.example.test", "role": "agent", "name": "<b>Ann</b> & $&",
        "password": "ann-password-1"})
    assert status == 201
    sessions: dict[str, aiohttp.ClientSession] = {}
    for who, email, password in (("admin", shop.seed["email"], shop.seed["password"]),
                                 ("ann", "ann@shop.example.test", "ann-password-1")):
        s = aiohttp.ClientSession(base_url=shop.client.make_url("/"),
                                  cookie_jar=aiohttp.CookieJar(unsafe=True))
        page = await (await s.get("/login")).text()
        token = CSRF.search(page)
        assert token
        resp = await s.post("/login", data={"email": email, "password": password,
                                            "csrf_token": token.group(1)},
                            allow_redirects=False)
        assert resp.status == 302, await resp.text()
        sessions[who] = s
    yield sessions
    for s in sessions.values():
        await s.close()


async def socket(s: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    return await s.ws_connect("/ws/staff", headers={"Origin": str(s._base_url).rstrip("/")})


async def typing_frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next typing frame (other updates are skipped)."""
    async with asyncio.timeout(WAIT):
        while True:
            frame: dict[str, Any] = await ws.receive_json()
            if frame.get("type") == "typing":
                return frame


async def conversation(shop: Shop, n: int) -> int:
    resp = await shop.inbound({"external_id": f"typing-{n}", "text": "Hello?",
                               "contact": {"external_id": f"typing-{n}", "name": "Tess"}})
    assert resp.status == 202, await resp.text()
    return int((await resp.json())["conversation_id"])


async def test_a_colleague_hears_who_is_typing_and_the_typer_does_not(
        shop: Shop, people: dict[str, aiohttp.ClientSession]) -> None:
    cid = await conversation(shop, 1)
    admin, ann, ann_other_tab = (await socket(people["admin"]), await socket(people["ann"]),
                                 await socket(people["ann"]))
    await ann.send_json({"type": "typing", "conversation_id": cid})
    frame = await typing_frame(admin)
    assert frame == {"type": "typing", "conversation_id": cid, "user_id": frame["user_id"],
                     "name": "<b>Ann</b> & $&", "stop": False}  # as text: the page escapes
    await ann.send_json({"type": "typing", "conversation_id": cid, "stop": True})
    assert (await typing_frame(admin))["stop"] is True
    # the admin types back: Ann's other tab hears that first, never her own pings
    await admin.send_json({"type": "typing", "conversation_id": cid})
    heard = await typing_frame(ann_other_tab)
    assert heard["name"] != "<b>Ann</b> & $&" and heard["stop"] is False
    # Ann types again and leaves the page: her socket's close stops it
    await ann.send_json({"type": "typing", "conversation_id": cid})
    assert (await typing_frame(admin))["stop"] is False
    await ann.close()
    left = await typing_frame(admin)
    assert left["stop"] is True and left["name"] == "<b>Ann</b> & $&"


async def test_a_flood_of_pings_and_odd_frames_are_dropped(
        shop: Shop, people: dict[str, aiohttp.ClientSession]) -> None:
    cid = await conversation(shop, 2)
    admin, ann = await socket(people["admin"]), await socket(people["ann"])
    typing = {"type": "typing", "conversation_id": cid}
    for odd in ("not json", "[1]", json.dumps({**typing, "type": "hello"}),
                json.dumps({**typing, "conversation_id": str(cid)}),
                json.dumps({**typing, "conversation_id": True}),
                json.dumps({**typing, "conversation_id": 99999999999}),
                json.dumps({**typing, "conversation_id": 424242}),  # no such conversation
                json.dumps({**typing, "stop": True}),  # no ping to stop
                json.dumps({**typing, "stop": "yes"}),
                json.dumps({**typing, "x": "y" * 300})):  # too long
        await ann.send_str(odd)
    for _ in range(20):
        await ann.send_json({"type": "typing", "conversation_id": cid})
    await ann.send_json({"type": "typing", "conversation_id": cid, "stop": True})
    frames = [await typing_frame(admin)]
    while not frames[-1]["stop"]:
        frames.append(await typing_frame(admin))
    pings = frames[:-1]
    assert 1 <= len(pings) <= 2, frames  # 2 a second (TYPING_LIMIT): the rest dropped
    assert all(f["conversation_id"] == cid for f in frames)
    assert not ann.closed  # odd frames close nothing


async def test_new_conversations_say_so_and_a_handoff_reaches_every_page(
        shop: Shop, people: dict[str, aiohttp.ClientSession]) -> None:
    admin = await socket(people["admin"])
    cid = await conversation(shop, 3)
    async with asyncio.timeout(WAIT):
        frame = await admin.receive_json()
        while frame.get("type") != "message":
            frame = await admin.receive_json()
    assert frame["conversation_id"] == cid and frame["new"] is True
    await shop.inbound({"external_id": "typing-3b", "text": "Again",
                        "contact": {"external_id": "typing-3", "name": "Tess"}})
    async with asyncio.timeout(WAIT):
        frame = await admin.receive_json()
        while frame.get("type") != "message":
            frame = await admin.receive_json()
    assert frame["conversation_id"] == cid and frame["new"] is False
    shop.client.app[BUS].publish(HandoffRequested(cid))
    async with asyncio.timeout(WAIT):
        frame = await admin.receive_json()
        while frame.get("type") != "handoff":
            frame = await admin.receive_json()
    assert frame == {"type": "handoff", "conversation_id": cid}
