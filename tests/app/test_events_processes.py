"""Two server processes on one real PostgreSQL: what one process does, the other's sockets
hear (LISTEN/NOTIFY). A web-chat visitor on A gets a reply sent through B; a staff inbox on
B hears of a message that came in through A; an alert reaches the staff on both."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.conftest import Postgres, ServerProcess
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.slow  # two server processes on PostgreSQL

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
RELAY = "switchboard-events"  # the relay connection's application_name
WAIT = float(os.environ.get("SB_EVENTS_WAIT", "60"))  # seconds: generous on a loaded machine


@pytest.fixture(scope="module")
def pair(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    tmp = tmp_path_factory.mktemp("events")
    env = {"SWITCHBOARD_DATABASE_URL": postgres.create_db(migrated=True),
           "SWITCHBOARD_SECRET_KEY": secrets.token_hex(32),
           "SWITCHBOARD_CHANNEL_REFRESH_SECONDS": "0.5", "SWITCHBOARD_TELEGRAM_POLL_TIMEOUT": "1",
           "SWITCHBOARD_POST_MAX_ATTEMPTS": "1"}
    a, b = ServerProcess(tmp / "a", **env), ServerProcess(tmp / "b", **env)
    try:
        a.start()  # seeds the shop (the database came migrated)
        b.start()
        b.seed = a.seed
        yield a, b
    finally:
        for srv in (a, b):
            if srv.proc is not None:
                srv.stop()


@pytest.fixture
async def http() -> AsyncIterator[Callable[[], aiohttp.ClientSession]]:
    sessions: list[aiohttp.ClientSession] = []

    def new() -> aiohttp.ClientSession:  # one per person: each has its own cookies
        sessions.append(aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))
        return sessions[-1]
    yield new
    for s in sessions:
        await s.close()


async def staff_socket(session: aiohttp.ClientSession, srv: ServerProcess,
                       login: tuple[str, str] | None = None
                       ) -> aiohttp.ClientWebSocketResponse:
    """Log in on this process (as the seeded admin, or ``login``: e-mail and password)
    and open the live inbox socket."""
    email, password = login or (srv.seed["email"], srv.seed["password"])
    page = await (await session.get(srv.url + "/login")).text()
    token = CSRF.search(page)
    assert token, page[:300]
    resp = await session.post(srv.url + "/login", allow_redirects=False, data={
        "email": email, "password": password,
        "csrf_token": token.group(1)}, headers={"Origin": srv.url})
    assert resp.status in (302, 303), (await resp.text())[:300]
    return await session.ws_connect(srv.url + "/ws/staff", headers={"Origin": srv.url})


async def visitor_socket(session: aiohttp.ClientSession, srv: ServerProcess
                         ) -> aiohttp.ClientWebSocketResponse:
    account = srv.seed["webchat"]
    async with session.get(f"{srv.url}/chat?account={account}") as page:
        assert page.status == 200
    ws = await session.ws_connect(f"{srv.url}/chat/ws?account={account}",
                                  headers={"Origin": srv.url})
    assert (await ws.receive_json(timeout=WAIT))["type"] == "hello"
    return ws


async def frame_where(ws: aiohttp.ClientWebSocketResponse, test: Callable[[dict[str, Any]], bool],
                      what: str) -> dict[str, Any]:
    """The first frame that passes ``test`` (others are skipped), within WAIT seconds.
    (One deadline for the whole wait: ``receive(timeout=)`` starts again after each of the
    server's heartbeat pings, every 30 s, so it alone would wait for ever.)"""
    try:
        async with asyncio.timeout(WAIT):
            while True:
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"socket closed before {what}: {msg.type}")
                frame: dict[str, Any] = msg.json()
                if test(frame):
                    return frame
    except TimeoutError:
        raise AssertionError(f"no frame: {what}") from None


async def say(ws: aiohttp.ClientWebSocketResponse, text: str) -> int:
    """The visitor sends a message; its id once the server acknowledged it."""
    client_id = secrets.token_hex(8)
    await ws.send_json({"type": "message", "text": text, "client_id": client_id})
    ack = await frame_where(ws, lambda f: f.get("type") == "ack"
                            and f.get("client_id") == client_id, "the ack")
    return int(ack["id"])


async def conversation_of(srv: ServerProcess, token: str) -> int:
    """The one conversation with a message holding this token (the API's search)."""
    page = await asyncio.to_thread(srv.call, "GET",
                                   f"/api/v1/conversations?status=all&q={token}")
    assert len(page["items"]) == 1, page["items"]
    return int(page["items"][0]["id"])


async def test_a_reply_sent_through_b_reaches_the_visitor_on_a(
        pair: tuple[ServerProcess, ServerProcess],
        http: Callable[[], aiohttp.ClientSession]) -> None:
    a, b = pair
    visitor = await visitor_socket(http(), a)
    token = secrets.token_hex(6)
    await say(visitor, f"where is my order {token}?")
    cid = await conversation_of(b, token)
    answer = f"on its way {secrets.token_hex(4)}"
    sent = await asyncio.to_thread(b.call, "POST", f"/api/v1/conversations/{cid}/reply",
                                   {"text": answer})
    frame = await frame_where(visitor, lambda f: f.get("type") == "message"
                              and f.get("text") == answer, "the reply sent through B")
    # the same frame as the process that delivers it would push itself
    assert frame["id"] == sent["id"] and frame["direction"] == "out"
    assert frame["buttons"] == [] and frame["created_at"]
    # and the other way round: a visitor on B gets a reply sent through A
    token2 = secrets.token_hex(6)
    second_tab = await visitor_socket(http(), b)  # another visitor: a new cookie
    await say(second_tab, f"and the invoice {token2}?")
    cid2 = await conversation_of(a, token2)
    answer2 = f"attached {secrets.token_hex(4)}"
    await asyncio.to_thread(a.call, "POST", f"/api/v1/conversations/{cid2}/reply",
                            {"text": answer2})
    await frame_where(second_tab, lambda f: f.get("text") == answer2,
                      "the reply sent through A, on B")


async def test_staff_inbox_on_b_hears_a_message_that_came_through_a(
        pair: tuple[ServerProcess, ServerProcess],
        http: Callable[[], aiohttp.ClientSession]) -> None:
    a, b = pair
    staff = await staff_socket(http(), b)
    visitor = await visitor_socket(http(), a)
    mid = await say(visitor, f"hello from A {secrets.token_hex(4)}")
    update = await frame_where(staff, lambda f: f.get("type") == "message"
                               and f.get("message_id") == mid, "the new message's update")
    assert update["channel"] == "webchat" and update["conversation_id"] > 0
    # a reply sent through A (stored, then delivered) is heard on B too
    sent = await asyncio.to_thread(a.call, "POST",
                                   f"/api/v1/conversations/{update['conversation_id']}/reply",
                                   {"text": "thanks"})
    await frame_where(staff, lambda f: f.get("type") == "message"
                      and f.get("message_id") == sent["id"], "the reply's update")


async def test_a_colleague_typing_on_a_is_shown_to_the_staff_on_b(
        pair: tuple[ServerProcess, ServerProcess],
        http: Callable[[], aiohttp.ClientSession]) -> None:
    """The typing pings of a staff member whose page is on A reach a colleague's page on B
    (StaffTyping crosses), and so does the stop when the typer's socket closes."""
    a, b = pair
    email, password = f"typist-{secrets.token_hex(3)}@shop.example.test", "typist-password"
    await asyncio.to_thread(a.call, "POST", "/api/v1/users", {
        "email": email, "password": password, "role": "agent", "name": "Tia Pist"})
    viewer = await staff_socket(http(), b)
    typer = await staff_socket(http(), a, (email, password))
    token = secrets.token_hex(6)
    await say(await visitor_socket(http(), a), f"a question {token}")
    cid = await conversation_of(a, token)
    await typer.send_json({"type": "typing", "conversation_id": cid})
    frame = await frame_where(viewer, lambda f: f.get("type") == "typing", "the typing sign")
    assert frame["conversation_id"] == cid and frame["name"] == "Tia Pist"
    assert frame["stop"] is False
    await typer.close()
    await frame_where(viewer, lambda f: f.get("type") == "typing" and f["stop"] is True,
                      "its stop once the typer left")


async def test_an_alert_raised_in_one_process_reaches_the_staff_on_both(
        pair: tuple[ServerProcess, ServerProcess],
        http: Callable[[], aiohttp.ClientSession], aiohttp_server: Any) -> None:
    """A post that fails for good raises one alert, in whichever process published it; the
    staff pages open on either process get it live."""
    a, b = pair
    fake = FakeTelegram()
    fake.add_bot("4242:alerts")
    api = await aiohttp_server(fake.app())
    on_a, on_b = await staff_socket(http(), a), await staff_socket(http(), b)
    account = await asyncio.to_thread(a.call, "POST", "/api/v1/channels", {
        "kind": "telegram", "name": "news",
        "settings": {"token": "4242:alerts", "api_base_url": str(api.make_url("")).rstrip("/"),
                     "channel": "@news"}})
    due = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    fake.fail.append(("sendMessage", 400, 0))  # "chat not found": a permanent failure
    post = await asyncio.to_thread(b.call, "POST", "/api/v1/posts", {
        "text": "the sale starts", "due_at": due,
        "variants": [{"channel_account_id": account["id"], "target": "@news"}]})
    frames = [await frame_where(ws, lambda f: f.get("type") == "alert", f"the alert on {name}")
              for ws, name in ((on_a, "A"), (on_b, "B"))]
    assert frames[0] == frames[1]
    assert frames[0]["link"].endswith(str(post["id"])), frames[0]


async def test_a_process_whose_listener_is_cut_reconnects_and_its_pages_catch_up(
        pair: tuple[ServerProcess, ServerProcess],
        http: Callable[[], aiohttp.ClientSession]) -> None:
    """The database ends both relays' connections (pg_terminate_backend): each process
    connects again, closes its staff sockets with 1012 (what was published meanwhile was
    missed: the page reconnects and refetches), and hears the others again."""
    a, b = pair
    staff = await staff_socket(http(), b)
    admin = await asyncpg.connect(a.env["SWITCHBOARD_DATABASE_URL"])
    query = "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
    try:
        old = {r["pid"] for r in await admin.fetch(query, RELAY)}
        assert len(old) == 2, old  # one listener per process
        for pid in old:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        async with asyncio.timeout(WAIT):
            while len({r["pid"] for r in await admin.fetch(query, RELAY)} - old) < 2:
                await asyncio.sleep(0.2)
    finally:
        await admin.close()
    closed = await frame_or_close(staff)
    assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 1012, closed
    again = await staff_socket(http(), b)  # what live.js does: reconnect, refetch
    visitor = await visitor_socket(http(), a)
    mid = await say(visitor, f"after the cut {secrets.token_hex(4)}")
    await frame_where(again, lambda f: f.get("message_id") == mid, "the update after the cut")


async def frame_or_close(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    async with asyncio.timeout(WAIT):
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                return msg
