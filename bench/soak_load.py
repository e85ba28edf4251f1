"""The soak's load (bench/soak.py): what it counts (:class:`Figures`), the shop's set-up
through the API (a Telegram channel on the fake Bot API, the keyword rule) and in the
database (drip enrolments), and the load generators that run through nginx: signed API
inbound, web-chat visitors, staff replies, posts, and the killer that SIGKILLs and restarts
one process at a time."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from channels.signing import sign
from tests.proxy import Cluster

TOKEN = "7070:soak"
KEYWORD = "soakword"


@dataclass
class Figures:
    api_acked: dict[str, int] = field(default_factory=dict)  # external_id -> message id
    api_refused: int = 0  # not acknowledged (5xx, connection cut): the sender tries again
    keyword_acked: set[str] = field(default_factory=set)  # contacts of keyword messages
    chat_acked: dict[str, int] = field(default_factory=dict)  # "visitor:client_id" -> id
    ingest: list[float] = field(default_factory=list)  # seconds, API POST and chat ack
    replies_acked: dict[str, float] = field(default_factory=dict)  # token -> sent at
    replies_refused: int = 0
    replies_seen: dict[str, float] = field(default_factory=dict)  # token -> received at
    # replies a visitor did not get live but found in the history its widget got back
    # when its socket reconnected (the socket's process had died)
    replies_recovered: set[str] = field(default_factory=set)
    posts_acked: dict[str, float] = field(default_factory=dict)  # text -> due (epoch)
    posts_refused: int = 0
    dying: list[tuple[float, float]] = field(default_factory=list)  # kill .. back + grace
    kills: int = 0



async def api(http: aiohttp.ClientSession, cluster: Cluster, method: str, path: str,
              body: Any = None) -> tuple[int, Any]:
    async with http.request(method, cluster.url + path, json=body, headers={
            "Authorization": f"Bearer {cluster.seed['api_token']}"}) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


async def api_inbound(cluster: Cluster, fig: Figures, stop: asyncio.Event,
                      rate: float) -> None:
    seed = cluster.seed
    async with aiohttp.ClientSession() as http:
        n = 0
        while not stop.is_set():
            n += 1
            keyword = n % 3 == 0
            contact = f"soak-kw-{n}" if keyword else f"soak-api-{n % 50}"
            ext = uuid.uuid4().hex
            text = f"hello {n} {KEYWORD}" if keyword else f"hello {n}"
            raw = json.dumps({"external_id": ext, "text": text,
                              "contact": {"external_id": contact, "name": "Soak"}}).encode()
            t0 = time.perf_counter()
            try:
                async with http.post(f"{cluster.url}/api/v1/inbound/{seed['api_account']}",
                                     data=raw, headers={
                                         "X-Switchboard-Signature": sign(seed["secret"], raw),
                                         "Content-Type": "application/json"}) as resp:
                    body = await resp.json() if resp.status in (200, 202) else None
            except (TimeoutError, aiohttp.ClientError, ValueError):
                body = None
            if body is None:
                fig.api_refused += 1
            else:
                fig.ingest.append(time.perf_counter() - t0)
                fig.api_acked[ext] = int(body["id"])
                if keyword:
                    fig.keyword_acked.add(contact)
            await asyncio.sleep(1 / rate)


class Visitor:
    """A web-chat visitor: one cookie, a socket through nginx that it opens again when it
    drops, a message a second, each sent until acknowledged."""

    def __init__(self, cluster: Cluster, fig: Figures, n: int) -> None:
        self.cluster, self.fig, self.n = cluster, fig, n
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.visitor = ""
        self.conversation_id = 0

    async def run(self, stop: asyncio.Event, quit_: asyncio.Event) -> None:
        """Talk until ``stop``, then keep listening (replies still coming) until ``quit_``."""
        account = self.cluster.seed["webchat"]
        async with self.http.get(f"{self.cluster.url}/chat?account={account}") as page:
            assert page.status == 200
        cookie = next(iter(self.http.cookie_jar))
        self.visitor = cookie.value.split(".", 1)[0]
        ws_url = f"{self.cluster.url.replace('http', 'ws')}/chat/ws?account={account}"
        pending: tuple[str, str, float] | None = None  # client id, text, first sent
        count = 0
        while not quit_.is_set():
            try:
                async with self.http.ws_connect(ws_url, headers={
                        "Origin": self.cluster.url}, heartbeat=10) as ws:
                    while not quit_.is_set():
                        if stop.is_set():
                            await self._read_for(ws, 0.5)
                            continue
                        if pending is None:
                            count += 1
                            pending = (f"soak{self.n:03d}x{count:06d}",
                                       f"chat {self.n} {count}", time.perf_counter())
                        await ws.send_json({"type": "message", "client_id": pending[0],
                                            "text": pending[1]})
                        if await self._until_ack(ws, pending):
                            pending = None
                            await self._read_for(ws, 1.0)  # a message a second
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                await asyncio.sleep(0.5)  # the process behind the socket died: again
        await self.http.close()

    async def _until_ack(self, ws: aiohttp.ClientWebSocketResponse,
                         pending: tuple[str, str, float]) -> bool:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError("socket closed")
            frame = json.loads(msg.data)
            self.seen(frame)
            if frame.get("type") == "ack" and frame.get("client_id") == pending[0]:
                self.fig.ingest.append(time.perf_counter() - pending[2])
                self.fig.chat_acked[f"{self.visitor}:{pending[0]}"] = int(frame["id"])
                return True
            if frame.get("type") == "error" and frame.get("retry_after"):
                await asyncio.sleep(float(frame["retry_after"]))
                return False
        return False

    async def _read_for(self, ws: aiohttp.ClientWebSocketResponse, seconds: float) -> None:
        """Read frames (the replies, as they come) for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await ws.receive(timeout=left)
            except TimeoutError:
                return
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError("socket closed")
            self.seen(json.loads(msg.data))

    def seen(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "message" and frame.get("direction") == "out":
            token = str(frame.get("text", "")).rsplit(" ", 1)[-1]
            self.fig.replies_seen.setdefault(token, time.time())
        elif frame.get("type") == "hello":  # a (re)connect: the history the widget shows
            for item in frame.get("history") or ():
                if item.get("direction") == "out":
                    token = str(item.get("text", "")).rsplit(" ", 1)[-1]
                    if token not in self.fig.replies_seen:
                        self.fig.replies_recovered.add(token)


async def staff_replies(cluster: Cluster, fig: Figures, visitors: list[Visitor],
                        stop: asyncio.Event, rate: float) -> None:
    from bot.models import Message

    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            await asyncio.sleep(1 / rate)
            for v in visitors:
                if not v.conversation_id:
                    ids = [i for k, i in fig.chat_acked.items() if k.startswith(v.visitor)]
                    if ids:
                        msg = await Message.get(id=ids[0])
                        v.conversation_id = msg.conversation_id  # type: ignore[attr-defined]
            ready = [v for v in visitors if v.conversation_id]
            if not ready:
                continue
            v = ready[secrets.randbelow(len(ready))]
            token = f"r{uuid.uuid4().hex[:12]}"
            sent = time.time()
            try:
                status, _ = await api(http, cluster, "POST",
                                      f"/api/v1/conversations/{v.conversation_id}/reply",
                                      {"text": f"staff says {token}"})
            except (TimeoutError, aiohttp.ClientError):
                status = 0
            if status == 201:
                fig.replies_acked[token] = sent
            else:
                fig.replies_refused += 1


async def posts(cluster: Cluster, fig: Figures, account_id: int, stop: asyncio.Event,
                rate: float, lead: float) -> None:
    target = {"channel_account_id": account_id, "target": "@soak"}
    async with aiohttp.ClientSession() as http:
        n = 0
        while not stop.is_set():
            n += 1
            due = time.time() + lead
            text = f"soak post {n} {uuid.uuid4().hex[:8]}"
            try:
                status, _ = await api(http, cluster, "POST", "/api/v1/posts", {
                    "text": text, "variants": [target],
                    "due_at": datetime.fromtimestamp(due, UTC).isoformat()})
            except (TimeoutError, aiohttp.ClientError):
                status = 0
            if status == 201:
                fig.posts_acked[text] = due
            else:
                fig.posts_refused += 1
            await asyncio.sleep(1 / rate)


async def killer(cluster: Cluster, fig: Figures, stop: asyncio.Event, every: float) -> None:
    i = 0
    start = time.monotonic()
    while True:  # kills at start + every, + 2 * every, … (a restart's time included)
        try:
            await asyncio.wait_for(stop.wait(),
                                   max(0.0, start + (i + 1) * every - time.monotonic()))
            return
        except TimeoutError:
            pass
        victim = i % len(cluster.servers)
        i += 1
        t0 = time.time()
        await asyncio.to_thread(cluster.kill, victim)
        fig.kills += 1
        print(f"  {time.strftime('%H:%M:%S')} SIGKILL process {victim} "
              f"(port {cluster.servers[victim].port}); starting it again", flush=True)
        await asyncio.to_thread(cluster.restart, victim)
        # the window during which a process is dying or starting: its claims' leases
        # run out, nginx marks it down; 5 s of grace after it listens again
        fig.dying.append((t0, time.time() + 5))


async def setup_drips(settings: Any, smtp_port: int, n: int, start: float, seconds: float
                      ) -> int:
    """An e-mail account sending to the sink, a one-step sequence, and ``n`` contacts
    enrolled with their step due evenly over the run (rows straight into the database, as
    bench/drip.py does: a store webhook would enrol them the same way)."""
    from bot.models import ChannelAccount, Contact, Enrollment, Sequence

    await ChannelAccount.create(
        kind="email", name="Soak mail", secret="x", settings={
            "address": "shop@soak.test", "smtp_host": "127.0.0.1", "smtp_port": smtp_port,
            "smtp_tls": "none", "rate_per_sec": 0, "concurrency": 4})
    seq = await Sequence.create(key="soak", name="Soak", trigger="signup",
                                steps=[{"send": "welcome_1"}])
    await Contact.bulk_create([Contact(name=f"Soak {i}", email=f"soak{i}@soak.test")
                               for i in range(n)], batch_size=1000)
    ids = await Contact.filter(email__startswith="soak").order_by("id").values_list(
        "id", flat=True)
    now = datetime.now(UTC)
    await Enrollment.bulk_create([
        Enrollment(sequence_id=seq.id, contact_id=cid, started_at=now,
                   due_at=datetime.fromtimestamp(start + seconds * k / max(1, n), UTC))
        for k, cid in enumerate(ids)], batch_size=1000)
    return int(seq.id)


async def seed(cluster: Cluster, fake_port: int) -> int:
    """The shop's Telegram channel on the fake Bot API and the keyword rule, through the
    API; the channel account's id."""
    async with aiohttp.ClientSession() as http:
        status, tg = await api(http, cluster, "POST", "/api/v1/channels", {
            "kind": "telegram", "name": "soak", "settings": {
                "token": TOKEN, "api_base_url": f"http://127.0.0.1:{fake_port}",
                "channel": "@soak"}})
        assert status == 201, tg
        status, rule = await api(http, cluster, "POST", "/api/v1/rules", {
            "name": "soak keyword", "event": "message_received",
            "conditions": {"keywords": [KEYWORD]},
            "actions": [{"type": "reply", "template": "auto-reply"}]})
        assert status == 201, rule
    return int(tg["id"])
