"""Issue 20, point 5: a real nginx, configured by the deploy recipe's own site file
(deploy/nginx/switchboard.conf), in front of three server processes on one PostgreSQL.

Through the proxy: /healthz, requests spread over the three processes, the web chat's
socket and the staff inbox's socket, the client's real address (X-Forwarded-For, honoured
because nginx's 127.0.0.1 is a trusted proxy), the per-host login bound (limit_req), and
a process killed with SIGKILL while requests keep succeeding on the other two."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from channels.signing import sign
from tests.conftest import Postgres
from tests.proxy import Cluster

pytestmark = pytest.mark.slow  # three server processes on PostgreSQL and nginx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres: Postgres) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("proxy"), postgres.create_db(migrated=True), n=3)
    c.start()
    yield c
    c.stop()


def session(local: str = "127.0.0.1") -> aiohttp.ClientSession:
    """A client from ``local`` (any 127.x address is this host's loopback) that keeps the
    cookies of an IP-addressed server (aiohttp refuses those unless told)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(local, 0),
                                                                force_close=True),
                                 cookie_jar=aiohttp.CookieJar(unsafe=True))


async def until(check: Any, timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.2)


async def inbound(http: aiohttp.ClientSession, base: str, seed: dict[str, str],
                  text: str, contact: str = "proxy-cust") -> aiohttp.ClientResponse:
    raw = json.dumps({"external_id": uuid.uuid4().hex, "text": text,
                      "contact": {"external_id": contact, "name": "Pat Proxy"}}).encode()
    return await http.post(f"{base}/api/v1/inbound/{seed['api_account']}", data=raw,
                           headers={"X-Switchboard-Signature": sign(seed["secret"], raw),
                                    "Content-Type": "application/json"})


async def logged(cluster: Cluster, since: int, n: int) -> list[str]:
    """The upstreams of the ``n`` requests nginx logged after the first ``since`` (nginx
    writes a line once the answer went out: wait for it)."""
    async def enough() -> list[str]:
        entries = cluster.nginx.served_by()[since:]
        return entries if len(entries) >= n else []
    return list(await until(enough, what=f"{n} lines in nginx's access log"))


def ports_of(entries: list[str]) -> list[set[int]]:
    return [{int(a.rsplit(":", 1)[1]) for a in e.split(", ") if ":" in a} for e in entries]


async def test_healthz_and_requests_spread_over_the_processes(cluster: Cluster) -> None:
    before = len(cluster.nginx.served_by())
    async with session() as http:
        for _ in range(30):
            async with http.get(cluster.url + "/healthz") as resp:
                assert resp.status == 200, await resp.text()
                assert (await resp.json())["database"] == "ok"
    served = ports_of(await logged(cluster, before, 30))
    assert len(served) == 30
    assert set().union(*served) == {s.port for s in cluster.servers}


async def test_web_chat_socket_through_the_proxy(cluster: Cluster) -> None:
    """Three visitors, their sockets open together: each gets the visitor cookie from
    /chat and an ack for its message over /chat/ws, opened with the shop's origin
    (public_url, nginx's URL)."""
    account = cluster.seed["webchat"]

    async def visitor(n: int) -> aiohttp.ClientWebSocketResponse:
        http = session()
        try:
            return await chat(http, n)
        except BaseException:
            await http.close()
            raise

    async def chat(http: aiohttp.ClientSession, n: int) -> aiohttp.ClientWebSocketResponse:
        page = await http.get(f"{cluster.url}/chat?account={account}")
        assert page.status == 200
        assert len(http.cookie_jar) == 1  # the visitor's signed cookie
        ws = await http.ws_connect(f"{cluster.url.replace('http', 'ws')}/chat/ws"
                                   f"?account={account}", headers={"Origin": cluster.url})
        hello = await ws.receive_json(timeout=30)
        assert hello["type"] == "hello", hello
        client_id = f"proxy-msg-{n:04d}"
        await ws.send_json({"type": "message", "text": f"hello {n}", "client_id": client_id})
        while True:
            frame = await ws.receive_json(timeout=30)
            if frame["type"] == "ack":
                assert frame["client_id"] == client_id and frame["id"]
                break
            assert frame["type"] != "error", frame
        ws._test_session = http  # type: ignore[attr-defined]  # closed with the socket
        return ws

    sockets = []
    for n in range(3):  # one after the other, each kept open: least_conn spreads them
        sockets.append(await visitor(n))
    for ws in sockets:
        assert not ws.closed
        await ws.close()
        await ws._test_session.close()  # type: ignore[attr-defined]
    # least_conn counts open sockets: three open together went to three processes
    # (nginx logs a socket when it closes)
    async def closed() -> list[str]:
        lines = cluster.nginx.access_log.read_text().splitlines()
        found = [line for line in lines if "/chat/ws" in line]
        return found if len(found) >= 3 else []
    held = ports_of(re.findall(r" upstream=(.*?) upstream_status=",
                               "\n".join(await until(closed, what="the sockets' log lines"))))
    assert set().union(*held[-3:]) == {s.port for s in cluster.servers}


async def test_staff_socket_through_the_proxy(cluster: Cluster) -> None:
    """A staff member logs in through nginx and opens /ws/staff; a message stored by any
    of the processes behind it reaches that socket (the process holding it hears it)."""
    async with session() as http:
        page = await http.get(cluster.url + "/login")
        token = CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]
        resp = await http.post(cluster.url + "/login", data={
            "email": cluster.seed["email"], "password": cluster.seed["password"],
            "csrf_token": token}, allow_redirects=False)
        assert resp.status == 302, await resp.text()
        ws = await http.ws_connect(cluster.url.replace("http", "ws") + "/ws/staff",
                                   headers={"Origin": cluster.url})
        for srv in cluster.servers:  # directly to each process: one of them holds the socket
            assert (await inbound(http, srv.url, cluster.seed, "for staff")).status == 202
        frame = json.loads((await ws.receive(timeout=30)).data)
        assert frame["type"] == "message" and frame["conversation_id"]
        # no socket without the staff app's origin, through the proxy too
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(cluster.url.replace("http", "ws") + "/ws/staff",
                                  headers={"Origin": "https://evil.example"})
        assert err.value.status == 403
        await ws.close()


async def test_the_process_sees_the_real_client_address(cluster: Cluster) -> None:
    """/metrics answers loopback clients only, and refuses a request whose address could
    not be resolved through its forwarding headers. A client on 127.0.0.2 that writes a
    foreign X-Forwarded-For itself gets in through nginx: the process took the address
    nginx appended (127.0.0.2), not the one the client wrote, and not nginx's own."""
    spoof = {"X-Forwarded-For": "203.0.113.9"}
    async with session("127.0.0.2") as http:
        async with http.get(cluster.url + "/metrics", headers=spoof) as resp:
            assert resp.status == 200, await resp.text()
            assert "switchboard" in await resp.text()
        # Straight to a process, the peer 127.0.0.2 is no trusted proxy: its header is
        # not honoured, and the forwarding it claims leaves the client unresolved.
        async with http.get(cluster.servers[0].url + "/metrics", headers=spoof) as resp:
            assert resp.status == 403
    assert "127.0.0.2 " in cluster.nginx.access_log.read_text()


async def test_login_posts_are_bounded_per_host_by_nginx(cluster: Cluster) -> None:
    """Each process counts login tries on its own (20/minute by default, so 60 with
    three); nginx's limit_req zone counts them once for the host: 10 a minute plus a
    burst of 10, then nginx answers 429 itself (no Retry-After, the processes' 429 has
    one). GET /login is not limited."""
    started = time.monotonic()
    statuses: list[tuple[int, bool]] = []
    async with session("127.0.0.3") as http:
        for _ in range(40):
            async with http.post(cluster.url + "/login", data={"email": "x@y.z"}) as resp:
                statuses.append((resp.status, "Retry-After" in resp.headers))
        elapsed = time.monotonic() - started
        for _ in range(5):
            async with http.get(cluster.url + "/login") as resp:
                assert resp.status == 200
    by_nginx = sum(1 for status, retry_after in statuses if status == 429 and not retry_after)
    passed = [s for s, _ in statuses if s != 429]
    assert set(passed) <= {403}  # the processes refused the CSRF-less form: they saw them
    # 1 + burst 10, and one more for each 6 s the loop took
    assert len(passed) <= 11 + int(elapsed / 6) + 1, (len(passed), elapsed)
    assert by_nginx == 40 - len(passed)


async def test_websocket_timeouts_outlast_the_heartbeat(cluster: Cluster) -> None:
    """nginx closes a proxied socket on which nothing came for proxy_read_timeout (60 s
    unless set). Both sockets ping every 30 s (aiohttp heartbeat); the site gives them an
    hour. Checked on the configuration nginx really runs (``nginx -T``), rather than by
    waiting a minute."""
    from tests.proxy import Nginx

    dump = Nginx(cluster.nginx.ports).test_config()
    ws_location = re.search(r"location ~ \^/\(chat/ws\|ws/staff\)\$ \{(.*?)\}", dump, re.S)
    assert ws_location, "the site has no location for the two sockets"
    body = ws_location.group(1)
    read = re.search(r"proxy_read_timeout (\d+)h;", body)
    assert read and int(read.group(1)) * 3600 >= 2 * 30
    assert re.search(r"proxy_send_timeout (\d+)h;", body)
    for src in ("channels/webchat/adapter.py", "bot/web/inbox.py"):
        code = (Path(__file__).resolve().parents[2] / src).read_text()
        beats = [int(b) for b in re.findall(r"WebSocketResponse\(heartbeat=(\d+)", code)]
        assert beats and max(beats) * 2 <= int(read.group(1)) * 3600, src


async def test_sigkill_one_process_requests_keep_succeeding(cluster: Cluster) -> None:
    """One process dies with SIGKILL: nginx's connect to it is refused, before any byte
    was sent, so it passes each request (GET and POST alike) to a live process and marks
    the dead one down for fail_timeout. Every message acknowledged through the proxy is
    stored. The process restarts on its port and nginx uses it again."""
    dead = cluster.servers[2]
    live = {s.port for s in cluster.servers[:2]}
    await asyncio.to_thread(cluster.kill, 2)
    before = len(cluster.nginx.served_by())
    contact = "kill-" + uuid.uuid4().hex[:6]
    ids: list[int] = []
    async with session() as http:
        for i in range(30):
            async with http.get(cluster.url + "/healthz") as resp:
                assert resp.status == 200, await resp.text()
            resp = await inbound(http, cluster.url, cluster.seed, f"while dead {i}", contact)
            assert resp.status == 202, await resp.text()
            ids.append((await resp.json())["id"])
    entries = await logged(cluster, before, 60)
    served = ports_of(entries)
    assert len(served) == 60
    assert any(dead.port in s for s in served), "nginx never tried the dead process"
    # every request ended on a live process (the dead one, when tried, was only a first try)
    last = [e.split(", ")[-1] for e in entries]
    assert {int(a.rsplit(":", 1)[1]) for a in last} <= live
    conversation = (await resp.json())["conversation_id"]
    thread = await asyncio.to_thread(cluster.call, "GET",
                                     f"/api/v1/conversations/{conversation}/messages")
    stored = {m["id"] for m in thread}  # type: ignore[attr-defined]
    assert set(ids) <= stored and len(set(ids)) == 30

    await asyncio.to_thread(cluster.restart, 2)

    async def back() -> bool:
        async with session() as http, http.get(cluster.url + "/healthz") as resp:
            assert resp.status == 200
        entries = cluster.nginx.served_by()
        return bool(entries) and entries[-1] == f"127.0.0.1:{dead.port}"
    await until(back, what="nginx to send requests to the restarted process")
