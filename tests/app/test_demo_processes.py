"""The demo banner on several processes (PostgreSQL): removing the demo content on one
process takes the banner away on the others too, without a restart (``DemoRemoved``
crosses the relay)."""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Postgres, ServerProcess

pytestmark = pytest.mark.slow  # two server processes on PostgreSQL

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BANNER = "Remove all demo data"


async def log_in(http: aiohttp.ClientSession, srv: ServerProcess, seed: dict[str, str]) -> str:
    page = await (await http.get(srv.url + "/login")).text()
    token = CSRF.search(page)
    assert token, page[:300]
    resp = await http.post(srv.url + "/login", allow_redirects=False, data={
        "email": seed["email"], "password": seed["password"], "csrf_token": token.group(1)},
        headers={"Origin": srv.url})
    assert resp.status in (302, 303), (await resp.text())[:300]
    inbox = await (await http.get(srv.url + "/inbox")).text()
    found = CSRF.search(inbox)
    assert found, inbox[:300]
    return found.group(1)


async def test_removing_the_demo_on_one_process_drops_the_banner_on_the_other(
        postgres: Postgres, tmp_path: Path) -> None:
    env = {"SWITCHBOARD_DATABASE_URL": postgres.create_db(migrated=True),
           "SWITCHBOARD_SECRET_KEY": secrets.token_hex(32),
           "SWITCHBOARD_DEMO_CONTENT": "true"}
    a, b = ServerProcess(tmp_path / "a", **env), ServerProcess(tmp_path / "b", **env)
    try:
        a.start()  # creates the shop, with its demo content
        b.start()
        jar_a, jar_b = aiohttp.CookieJar(unsafe=True), aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar_a) as on_a, \
                aiohttp.ClientSession(cookie_jar=jar_b) as on_b:
            csrf = await log_in(on_a, a, a.seed)
            await log_in(on_b, b, a.seed)
            assert BANNER in await (await on_b.get(b.url + "/inbox")).text()
            resp = await on_a.post(a.url + "/admin/demo/remove", allow_redirects=False,
                                   data={"csrf_token": csrf}, headers={"Origin": a.url})
            assert resp.status == 302
            assert BANNER not in await (await on_a.get(a.url + "/inbox")).text()
            for _ in range(600):  # B hears of it through the relay (best effort, quick)
                if BANNER not in await (await on_b.get(b.url + "/inbox")).text():
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("process B still shows the demo banner after a minute")
    finally:
        for srv in (a, b):
            if srv.proc is not None:
                srv.stop()
