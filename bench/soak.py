"""Soak: three processes behind nginx on one PostgreSQL under mixed load, one of them killed
with SIGKILL every 30 s and started again (issue 20, point 6).

The set-up is the deploy recipe's, as the tests run it (``tests.proxy.Cluster``: Debian's
nginx with deploy/nginx/switchboard.conf, ``run.py serve`` processes, a throwaway Debian
PostgreSQL). For ``--seconds`` it keeps up, all through nginx:

- inbound on two channels: signed POSTs to the API channel, and web-chat visitors sending
  over their sockets (a visitor whose socket dies reconnects and sends its unacknowledged
  message again, with the same client id, as the widget does);
- a keyword rule (keyword -> reply) that a third of the API messages trigger, each from a
  contact of its own, so each must get exactly one reply from the rule;
- staff replies (API) to the web-chat visitors' conversations, which the visitor's socket
  should receive live;
- posts falling due a few seconds after they are made, published to a fake Bot API;
- drip steps falling due, mailed to a local SMTP sink (aiosmtpd).

Then it waits for the work to settle and prints counts (acknowledged, stored, lost,
duplicated, rule actions expected and done, replies delivered, posts and drip mails) and
latencies (ingest p99, reply delivery p99, publish lateness p99, also only over posts due
while no process was dying).

    python bench/soak.py [--seconds 120] [--kill-every 30] [--processes 3]

Goals (issue 20): 0 lost, 0 duplicated; publish p99 <= 100 ms while no process is dying.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SWITCHBOARD_SENTIMENT_ENABLED", "false")
from bench.common import MailSink, free_port, pct  # noqa: E402
from channels.signing import sign  # noqa: E402
from tests.conftest import Postgres  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.proxy import Cluster  # noqa: E402

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


def ms(values: list[float], q: float) -> str:
    return f"{pct(values, q) * 1000:8.1f} ms" if values else "     n/a"


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


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--kill-every", type=float, default=30)
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--visitors", type=int, default=6)
    ap.add_argument("--api-rate", type=float, default=20, help="API messages a second")
    ap.add_argument("--reply-rate", type=float, default=4, help="staff replies a second")
    ap.add_argument("--post-rate", type=float, default=4, help="posts made a second")
    ap.add_argument("--post-lead", type=float, default=5, help="seconds until a post is due")
    ap.add_argument("--drips", type=int, default=2000, help="drip steps due over the run")
    ap.add_argument("--settle", type=float, default=90,
                    help="longest wait, after the load, for the work to settle")
    args = ap.parse_args()

    from aiosmtpd.controller import Controller

    from bot.core import db
    from bot.models import Enrollment, Message
    from config import load_settings

    pg = Postgres()
    pg.start()
    root = Path(tempfile.mkdtemp(prefix="sb-soak-"))
    fake = FakeTelegram()
    bot = fake.add_bot(TOKEN)
    runner = web.AppRunner(fake.app())
    await runner.setup()
    fake_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", fake_port).start()
    sink = MailSink()
    smtp_port = free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    url = pg.create_db()
    cluster = Cluster(root, url, n=args.processes,
                      SWITCHBOARD_CHANNEL_REFRESH_SECONDS="1",
                      SWITCHBOARD_TELEGRAM_POLL_TIMEOUT="1",
                      SWITCHBOARD_PUBLIC_LIMIT_ADDRESS="100000/minute")
    print(f"soak: {args.processes} processes behind nginx on PostgreSQL, "
          f"{args.seconds:.0f} s, one SIGKILL every {args.kill_every:.0f} s; logs in {root}",
          flush=True)
    ctx = None
    fig = Figures()
    try:
        await asyncio.to_thread(cluster.start)
        settings = load_settings({"SWITCHBOARD_DATA_DIR": str(root / "bench"),
                                  "SWITCHBOARD_DATABASE_URL": url,
                                  "SWITCHBOARD_SECRET_KEY":
                                      cluster.servers[0].env["SWITCHBOARD_SECRET_KEY"],
                                  "SWITCHBOARD_LOG_LEVEL": "WARNING"})
        ctx = await db.open_db(settings)
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
        started = time.time() + 3
        if args.drips:
            await setup_drips(settings, smtp_port, args.drips, started, args.seconds)

        stop, quit_ = asyncio.Event(), asyncio.Event()
        visitors = [Visitor(cluster, fig, i) for i in range(args.visitors)]
        tasks = [asyncio.create_task(api_inbound(cluster, fig, stop, args.api_rate)),
                 asyncio.create_task(staff_replies(cluster, fig, visitors, stop,
                                                   args.reply_rate)),
                 asyncio.create_task(posts(cluster, fig, int(tg["id"]), stop, args.post_rate,
                                           args.post_lead)),
                 asyncio.create_task(killer(cluster, fig, stop, args.kill_every)),
                 ]
        talking = [asyncio.create_task(v.run(stop, quit_)) for v in visitors]
        await asyncio.sleep(args.seconds)
        stop.set()
        await asyncio.gather(*tasks)
        print(f"  load over; waiting up to {args.settle:.0f} s for the work to settle",
              flush=True)

        load_over = time.time()
        deadline = load_over + args.settle

        async def settled() -> bool:
            """Every post published and every drip step done; the rules' replies all
            there, or 20 s gone by (a lost one never comes)."""
            published = {s["text"] for s in bot.sent}
            drips_done = await Enrollment.filter(state="active").count() == 0
            rules = await Message.filter(origin="rule").count()
            replies = set(fig.replies_seen) | fig.replies_recovered
            return (set(fig.posts_acked) <= published and drips_done
                    and set(fig.replies_acked) <= replies
                    and (rules >= len(fig.keyword_acked) or time.time() > load_over + 20))
        while time.time() < deadline and not await settled():
            await asyncio.sleep(1)
        quit_.set()
        await asyncio.gather(*talking)

        # --- counts ---------------------------------------------------------------------
        acked = {**{("api", k): v for k, v in fig.api_acked.items()},
                 **{("chat", k): v for k, v in fig.chat_acked.items()}}
        stored_rows = await Message.filter(direction="in").values(
            "id", "external_id", "channel_account_id")
        stored_ext: dict[str, int] = {}
        for row in stored_rows:
            key = str(row["external_id"])
            stored_ext[key] = stored_ext.get(key, 0) + 1
        lost = [k for k in acked if k[1] not in stored_ext]
        dup_in = sum(c - 1 for c in stored_ext.values() if c > 1)
        rule_rows = await Message.filter(origin="rule").values("conversation_id")
        per_conv: dict[int, int] = {}
        for row in rule_rows:
            per_conv[row["conversation_id"]] = per_conv.get(row["conversation_id"], 0) + 1
        kw_convs = await Message.filter(
            direction="in", external_id__in=[
                e for e, _ in fig.api_acked.items()]).filter(
            text__contains=KEYWORD).values_list("conversation_id", flat=True)
        rules_done = sum(1 for c in set(kw_convs) if per_conv.get(c, 0) >= 1)
        rules_twice = sum(1 for c in set(kw_convs) if per_conv.get(c, 0) > 1)
        sent_texts = [s["text"] for s in bot.sent if s.get("chat_id") == "@soak"]
        published = {t: s["received_at"] for s in bot.sent
                     for t in [s["text"]] if t in fig.posts_acked}
        post_dups = len(sent_texts) - len(set(sent_texts))
        lateness = [published[t] - fig.posts_acked[t] for t in published]
        calm = [published[t] - d for t, d in fig.posts_acked.items() if t in published
                and not any(a - args.post_lead - 2 <= d <= b for a, b in fig.dying)]
        delivered = [fig.replies_seen[t] - s for t, s in fig.replies_acked.items()
                     if t in fig.replies_seen]
        drip_done = await Enrollment.filter(state="completed").count() if args.drips else 0
        drip_dups = len(sink.ids) - len(set(sink.ids))

        print()
        print(f"processes {args.processes}, {fig.kills} killed with SIGKILL and restarted, "
              f"{args.seconds:.0f} s of load")
        print(f"inbound   acknowledged {len(acked):6d} (API {len(fig.api_acked)}, web chat "
              f"{len(fig.chat_acked)}); not acknowledged {fig.api_refused} (tried again "
              "by a real sender)")
        print(f"          stored {len(acked) - len(lost):6d}   lost {len(lost)}   "
              f"duplicated {dup_in}")
        print(f"rules     actions expected {len(fig.keyword_acked):6d}   done {rules_done}   "
              f"missing {len(fig.keyword_acked) - rules_done}   ran twice {rules_twice}")
        recovered = {t for t in fig.replies_acked if t in fig.replies_recovered
                     and t not in fig.replies_seen}
        never = len(fig.replies_acked) - len(delivered) - len(recovered)
        print(f"replies   acknowledged {len(fig.replies_acked):6d}   delivered live to the "
              f"visitor {len(delivered)}   in the history after a reconnect "
              f"{len(recovered)}   never {never}   (refused {fig.replies_refused})")
        print(f"posts     acknowledged {len(fig.posts_acked):6d}   published "
              f"{len(published)}   missing {len(fig.posts_acked) - len(published)}   "
              f"published twice {post_dups}   (refused {fig.posts_refused})")
        if args.drips:
            print(f"drips     due {args.drips:6d}   completed {drip_done}   mails at the "
                  f"sink {len(sink.ids)}   sent twice {drip_dups}")
        print(f"latency   ingest p50 {ms(fig.ingest, 0.5)}  p99 {ms(fig.ingest, 0.99)}")
        print(f"          reply delivery p50 {ms(delivered, 0.5)}  p99 {ms(delivered, 0.99)}")
        print(f"          publish lateness p50 {ms(lateness, 0.5)}  p99 "
              f"{ms(lateness, 0.99)}  ({len(lateness)} posts)")
        print(f"          publish lateness while no process is dying p50 {ms(calm, 0.5)}  "
              f"p99 {ms(calm, 0.99)}  ({len(calm)} posts; goal p99 <= 100 ms: "
              f"{'met' if calm and pct(calm, 0.99) <= 0.1 else 'NOT met'})")
        goal = not lost and not dup_in and not rules_twice and not post_dups and not drip_dups \
            and not never and rules_done == len(fig.keyword_acked)
        print(f"goal 0 lost, 0 duplicated: {'met' if goal else 'NOT met'}")
    finally:
        if ctx is not None:
            await db.close_db(ctx)
        await asyncio.to_thread(cluster.stop)
        smtp.stop()
        await runner.cleanup()
        pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
