"""Issue 20, point 5: nothing lost, nothing twice, every visitor gets every reply, with three
server processes on one real PostgreSQL behind Debian's nginx (the deploy recipe's own site
file), while one process is killed with SIGKILL in the middle of the traffic and started
again.

The traffic, all through nginx: web-chat visitors (websockets spread over the processes by
nginx) each sending messages and resending any whose ack they did not get (same client id,
as the widget does); an outside system posting to the API channel and retrying what was not
acknowledged (same external id); a keyword rule answering every message that asks for the
price (run by the transactional outbox); staff replying to every visitor through the REST
API, retrying a reply whose answer was lost with the same idempotency key.

Then, read from the database: every acknowledged message is stored exactly once; every
message asking for the price has exactly one rule reply; every staff reply is stored once
and sent; and each visitor saw every reply of their conversation, live over a socket or, for
a visitor whose socket died with its process, in the history the widget gets when it
connects again (what the widget shows after a reconnect)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from channels.signing import sign
from tests.conftest import Postgres
from tests.proxy import Cluster

pytestmark = pytest.mark.slow  # three server processes on PostgreSQL behind nginx

VISITORS, SAYS, API_MESSAGES, STAFF_REPLIES = 6, 16, 120, 4
RULE = {"name": "Price", "event": "message_received", "conditions": {"keywords": ["price"]},
        "actions": [{"type": "reply", "template": "Prices: shop.example/catalogue"}]}
WAIT = 60.0  # seconds for any one answer: generous on a loaded 2-core machine
TRANSIENT = (aiohttp.ClientError, TimeoutError, ConnectionError)


class Refused(Exception):
    """The server refused a message for now (the address's limit): send it again later."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


class Visitor:
    """One person on the shop's site: the widget's cookie and socket, through nginx."""

    def __init__(self, base: str, account: str, name: str) -> None:
        self.base, self.account, self.name = base, account, name
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.acked: dict[str, int] = {}  # client id -> stored message id
        self.seen: set[int] = set()  # outbound message ids shown: live, or in a history
        self.connects = 0

    async def connect(self) -> aiohttp.ClientWebSocketResponse:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                if self.connects == 0:
                    async with self.session.get(f"{self.base}/chat?account={self.account}") \
                            as page:
                        if page.status != 200:
                            raise ConnectionError(f"/chat answered {page.status}")
                ws = await self.session.ws_connect(
                    f"{self.base}/chat/ws?account={self.account}",
                    headers={"Origin": self.base}, timeout=aiohttp.ClientWSTimeout(ws_close=5))
                async with asyncio.timeout(WAIT):
                    hello = await ws.receive_json()
                if hello.get("type") != "hello":
                    raise ConnectionError(f"the socket began with {hello}")
                self.seen |= {h["id"] for h in hello["history"] if h["direction"] == "out"}
                self.connects += 1
                self.ws = ws
                return ws
            except (*TRANSIENT, aiohttp.WSServerHandshakeError, TypeError):
                # (TypeError: receive_json on a close frame)
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    async def _frames_until(self, client_id: str | None, stop: asyncio.Event | None) -> None:
        """Read frames, keeping the replies shown, until the ack of ``client_id`` (or until
        ``stop``); a socket that closes (its process died) is opened again, and a message
        not acknowledged yet is sent again, with its client id."""
        ws = self.ws or await self.connect()
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if stop is not None and stop.is_set():
                return
            try:
                msg = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"socket ended: {msg.type}")
            frame: dict[str, Any] = msg.json()
            if frame.get("type") == "message" and frame.get("direction") == "out":
                self.seen.add(int(frame["id"]))
            elif frame.get("type") == "ack" and frame.get("client_id") == client_id:
                self.acked[client_id] = int(frame["id"])
                return
            elif frame.get("type") == "error" and frame.get("client_id") == client_id:
                raise Refused(float(frame.get("retry_after") or 1))
        if client_id is not None:
            raise TimeoutError(f"no ack for {client_id}")

    async def say(self, client_id: str, text: str) -> None:
        deadline = time.monotonic() + WAIT * 3
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {client_id} was never acknowledged")
            try:
                ws = self.ws or await self.connect()
                await ws.send_json({"type": "message", "text": text, "client_id": client_id})
                await self._frames_until(client_id, None)
                return
            except Refused as r:
                await asyncio.sleep(r.wait)
            except (*TRANSIENT, RuntimeError):  # (RuntimeError: send on a closing socket)
                self.ws = None  # open it again and resend: the server stores it once

    async def listen(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._frames_until(None, stop)
            except (*TRANSIENT, RuntimeError):
                self.ws = None

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.session.close()


async def _retry(what: str, attempt: Any) -> Any:
    """``attempt()`` until it answers 2xx (a process died under it: nginx answers 502, or
    the connection drops); safe because each request carries its own key."""
    deadline = time.monotonic() + WAIT * 2
    while True:
        try:
            return await attempt()
        except (*TRANSIENT, AssertionError):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: never acknowledged") from None
            await asyncio.sleep(0.2)


async def test_nothing_lost_or_twice_through_nginx_while_a_process_dies(
        tmp_path: Path, postgres: Postgres, aiohttp_server: Any) -> None:
    callbacks: dict[int, int] = {}  # the API channel's replies, by message id: deliveries

    async def on_reply(request: web.Request) -> web.Response:
        mid = int(request.headers["X-Switchboard-Message-Id"])
        callbacks[mid] = callbacks.get(mid, 0) + 1
        return web.json_response({"ok": True})
    hook_app = web.Application()
    hook_app.router.add_post("/hook", on_reply)
    hook = await aiohttp_server(hook_app)
    url = postgres.create_db(migrated=True)
    cluster = Cluster(tmp_path, url, n=3,
                      # a dead process's leased work goes to the others within seconds
                      SWITCHBOARD_FOLLOWUP_LEASE_SECONDS="3",
                      SWITCHBOARD_OUTBOUND_TIMEOUT_SECONDS="3",
                      SWITCHBOARD_CLOCK_SECONDS="0.5", SWITCHBOARD_LOOP_LEASE_SECONDS="3",
                      SWITCHBOARD_BOT_CHANNELS="",  # the rule and staff answer, not the bot
                      # every visitor comes from this host: the per-address limits are
                      # the guard's own tests' business
                      SWITCHBOARD_PUBLIC_LIMIT_ADDRESS="6000/minute")
    await asyncio.to_thread(cluster.start)
    db = await asyncpg.connect(url)
    visitors: list[Visitor] = []
    try:
        base, seed = cluster.url, cluster.seed
        await asyncio.to_thread(cluster.call, "POST", "/api/v1/rules", RULE)
        await asyncio.to_thread(cluster.call, "PATCH", f"/api/v1/channels/{seed['api_account']}",
                                {"callback_url": str(hook.make_url("/hook"))})
        visitors = [Visitor(base, seed["webchat"], f"v{i}") for i in range(VISITORS)]
        for v in visitors:  # one after the other: least_conn spreads them over the three
            await v.connect()
        api_acked: set[str] = set()
        staff_sent: dict[int, list[int]] = {}  # conversation id -> staff reply ids
        half = asyncio.Event()
        stop = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=WAIT)

        async def visitor_talks(v: Visitor) -> None:
            for i in range(SAYS):
                text = f"{v.name} asks the price of item {i}" if i % 2 == 0 \
                    else f"{v.name} says hello {i}"
                await v.say(f"{v.name}-{i:04d}-{secrets.token_hex(3)}", text)
                if sum(len(x.acked) for x in visitors) >= VISITORS * SAYS // 2:
                    half.set()
                await asyncio.sleep(0.05)

        async def api_sender(http: aiohttp.ClientSession, ids: list[int]) -> None:
            for i in ids:
                ext = f"api-{i}"
                raw = json.dumps({"external_id": ext, "text": f"what is the price of {i}?",
                                  "contact": {"external_id": f"shop-{i % 10}"}}).encode()

                async def post(raw: bytes = raw) -> None:
                    async with http.post(
                            f"{base}/api/v1/inbound/{seed['api_account']}", data=raw,
                            headers={"X-Switchboard-Signature": sign(seed["secret"], raw),
                                     "Content-Type": "application/json"}) as resp:
                        await resp.read()
                        assert resp.status in (200, 202), resp.status
                await _retry(ext, post)
                api_acked.add(ext)

        async def staff(http: aiohttp.ClientSession) -> None:
            headers = {"Authorization": f"Bearer {seed['api_token']}"}
            while not all(v.acked for v in visitors):  # each visitor has a conversation
                await asyncio.sleep(0.1)
            for round_ in range(STAFF_REPLIES):
                await asyncio.sleep(0.5)
                for v in visitors:
                    first = min(v.acked.values())
                    cid = int(await db.fetchval(
                        "SELECT conversation_id FROM messages WHERE id = $1", first))
                    key = f"staff-{cid}-{round_}"

                    async def reply(cid: int = cid, key: str = key) -> int:
                        async with http.post(
                                f"{base}/api/v1/conversations/{cid}/reply", headers=headers,
                                json={"text": f"reply {key} to you", "idempotency_key": key}
                        ) as resp:
                            # (nginx's own 502 page while a process dies is HTML: retried)
                            text = await resp.text()
                            assert resp.status == 201, (resp.status, text[:300])
                            return int(json.loads(text)["id"])
                    mid = await _retry(key, reply)
                    if mid not in staff_sent.setdefault(cid, []):
                        staff_sent[cid].append(mid)

        async def killer() -> None:
            await half.wait()
            await asyncio.to_thread(cluster.kill, 1)  # SIGKILL, mid-traffic

        async with aiohttp.ClientSession(timeout=timeout) as http:
            chunks = [list(range(API_MESSAGES))[k::4] for k in range(4)]
            # (a visitor reads its socket while it waits for each ack; the replies that
            # come after its last message are read below)
            await asyncio.gather(killer(), *(visitor_talks(v) for v in visitors),
                                 *(api_sender(http, c) for c in chunks), staff(http))
            await asyncio.to_thread(cluster.restart, 1)  # it comes back, on its port
            talks = [asyncio.create_task(v.listen(stop)) for v in visitors]

            # --- wait until the work owed is done, then check it -----------------------
            conv_of = {v.name: int(await db.fetchval(
                "SELECT conversation_id FROM messages WHERE id = $1", min(v.acked.values())))
                for v in visitors}

            async def settled() -> bool:
                owed = await db.fetchval("SELECT count(*) FROM followups")
                unsent = await db.fetchval(
                    "SELECT count(*) FROM messages WHERE direction = 'out' "
                    "AND status IN ('pending', 'retrying')")
                if owed or unsent:
                    return False
                for v in visitors:
                    outs = await db.fetch("SELECT id FROM messages WHERE conversation_id = $1 "
                                          "AND direction = 'out'", conv_of[v.name])
                    if {int(r["id"]) for r in outs} - v.seen:
                        return False
                return True

            deadline = time.monotonic() + WAIT * 2
            while not await settled() and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*talks)

        # 1. every acknowledged message stored exactly once (the store's unique key holds
        # "once"; here: none missing, and no message stored under a second id)
        inbound = await db.fetch("SELECT id, external_id, conversation_id, text FROM messages "
                                 "WHERE direction = 'in'")
        by_ext: dict[str, list[int]] = {}
        for r in inbound:
            by_ext.setdefault(str(r["external_id"]), []).append(int(r["id"]))
        assert all(len(ids) == 1 for ids in by_ext.values())
        stored_ids = {i for ids in by_ext.values() for i in ids}
        for v in visitors:
            assert len(v.acked) == SAYS
            lost = [c for c, mid in v.acked.items() if mid not in stored_ids]
            assert not lost, f"{v.name}: acknowledged but not stored: {lost}"
            clients = [e.split(":", 1)[1] for e in by_ext
                       if e.endswith(tuple(v.acked)) and ":" in e]
            assert sorted(clients) == sorted(v.acked), f"{v.name}: stored twice or extra"
        assert api_acked == {f"api-{i}" for i in range(API_MESSAGES)}
        assert {f"api-{i}" for i in range(API_MESSAGES)} <= set(by_ext)

        # 2. exactly one rule reply for each message asking for the price
        rule_replies = await db.fetch("SELECT reply_to_id, count(*) AS n FROM messages WHERE "
                                      "direction = 'out' AND origin = 'rule' "
                                      "GROUP BY reply_to_id")
        per_message = {int(r["reply_to_id"]): int(r["n"]) for r in rule_replies}
        asking = [int(r["id"]) for r in inbound if "price" in str(r["text"])]
        assert len(asking) == VISITORS * SAYS // 2 + API_MESSAGES
        missing = [m for m in asking if per_message.get(m, 0) == 0]
        twice = [m for m in asking if per_message.get(m, 0) > 1]
        assert not missing, f"{len(missing)} messages asking the price got no rule reply"
        assert not twice, f"{len(twice)} messages got the rule reply twice"
        assert set(per_message) <= set(asking)

        # 3. staff replies: one per key, all sent; nothing left failed
        staff_rows = await db.fetch("SELECT id, conversation_id, status FROM messages WHERE "
                                    "direction = 'out' AND origin = '' AND source_ref LIKE "
                                    "'api:%'")
        assert len(staff_rows) == VISITORS * STAFF_REPLIES
        assert {str(r["status"]) for r in staff_rows} == {"sent"}
        assert not await db.fetchval("SELECT count(*) FROM messages WHERE direction = 'out' "
                                     "AND status <> 'sent'")

        # 4. every visitor saw every reply of their conversation (live, or in the history
        # their widget got when its socket came back through nginx)
        for v in visitors:
            outs = {int(r["id"]) for r in await db.fetch(
                "SELECT id FROM messages WHERE conversation_id = $1 AND direction = 'out'",
                conv_of[v.name])}
            assert outs, v.name
            unseen = outs - v.seen
            assert not unseen, f"{v.name} never saw replies {sorted(unseen)}"
        print(f"sockets opened again: {[v.connects - 1 for v in visitors]}; API replies "
              f"delivered twice: {sum(1 for n in callbacks.values() if n > 1)}")
        # the kill cut some visitors' sockets (nginx had spread them over the three)
        assert sum(v.connects - 1 for v in visitors) >= 1
        # 5. the API channel's replies reached its callback (at least once each: a delivery
        # whose outcome a dying process never heard is tried again)
        api_out = {int(r["id"]) for r in await db.fetch(
            "SELECT m.id FROM messages m JOIN channel_accounts a ON a.id = m.channel_account_id "
            "WHERE a.kind = 'api' AND m.direction = 'out'")}
        assert len(api_out) == API_MESSAGES
        assert api_out <= set(callbacks)
    finally:
        for v in visitors:
            await v.close()
        await db.close()
        await asyncio.to_thread(cluster.stop)
