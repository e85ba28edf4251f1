"""Issue 19 point 17, the account half: a staff member changes their own password (the
current one first; their other sessions end), rotates their API token (shown once) and
signs out everywhere else."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Shop, make_settings, start_shop
from tests.web.test_web import CSRF, login

TOKEN = re.compile(r'id="new-token".*?<code>(sbt_[^<]+)</code>', re.S)


class Browser:
    """Another browser (its own cookies) on the same server."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def get(self, path: str) -> int:
        async with self.session.get(self.shop.client.make_url(path),
                                    allow_redirects=False) as resp:
            return resp.status

    async def login(self, email: str, password: str) -> None:
        async with self.session.get(self.shop.client.make_url("/login")) as page:
            token = CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]
        async with self.session.post(self.shop.client.make_url("/login"), data={
                "email": email, "password": password, "csrf_token": token},
                allow_redirects=False) as resp:
            assert resp.status == 302


@pytest.fixture
async def browsers() -> AsyncIterator[list[Browser]]:
    opened: list[Browser] = []
    yield opened
    for b in opened:
        await b.session.close()


async def _second_browser(shop: Shop, browsers: list[Browser], email: str,
                          password: str) -> Browser:
    browsers.append(Browser(shop))
    await browsers[-1].login(email, password)
    return browsers[-1]


async def test_change_password_ends_the_other_sessions(shop: Shop,
                                                      browsers: list[Browser]) -> None:
    user = await shop.add_user("agent")
    other = await _second_browser(shop, browsers, user["email"], user["password"])
    csrf = await login(shop, user["email"], user["password"])
    page = await shop.client.get("/account")
    text = await page.text()
    assert page.status == 200 and text.count("<tr>") == 3 and "this one" in text
    assert page.headers["Cache-Control"] == "no-store"
    bad = await shop.client.post("/account/password", data={
        "csrf_token": csrf, "current": "wrong", "new": "n3w-password!", "confirm":
        "n3w-password!"})
    assert bad.status == 400 and "current password is wrong" in await bad.text()
    short = await shop.client.post("/account/password", data={
        "csrf_token": csrf, "current": user["password"], "new": "short", "confirm": "short"})
    assert short.status == 400
    differ = await shop.client.post("/account/password", data={
        "csrf_token": csrf, "current": user["password"], "new": "n3w-password!",
        "confirm": "n3w-password?"})
    assert differ.status == 400
    assert await other.get("/contacts") == 200
    ok = await shop.client.post("/account/password", data={
        "csrf_token": csrf, "current": user["password"], "new": "n3w-password!",
        "confirm": "n3w-password!"})
    assert ok.status == 200 and "1 other session ended" in await ok.text()
    assert await other.get("/contacts") == 302  # to /login
    assert (await shop.client.get("/contacts")).status == 200  # this session stays
    shop.client.session.cookie_jar.clear()
    page = await shop.client.get("/login")
    token = CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]
    old = await shop.client.post("/login", data={"email": user["email"], "csrf_token": token,
                                                 "password": user["password"]})
    assert old.status == 401
    await login(shop, user["email"], "n3w-password!")


async def test_without_csrf_or_session_nothing_changes(shop: Shop) -> None:
    resp = await shop.client.post("/account/token", data={})
    assert resp.status == 401
    await login(shop, shop.seed["email"], shop.seed["password"])
    for path in ("/account/token", "/account/password", "/account/sessions/end"):
        resp = await shop.client.post(path, data={"csrf_token": "nope"})
        assert resp.status == 403, path
    assert (await shop.api("GET", "/api/v1/users"))[0] == 200  # the token still works


async def test_rotate_api_token_shows_the_new_one_once(shop: Shop) -> None:
    csrf = await login(shop, shop.seed["email"], shop.seed["password"])
    resp = await shop.client.post("/account/token", data={"csrf_token": csrf})
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    new = TOKEN.search(await resp.text()).group(1)  # type: ignore[union-attr]
    assert (await shop.api("GET", "/api/v1/users"))[0] == 401
    assert (await shop.api("GET", "/api/v1/users", token=new))[0] == 200
    again = await shop.client.get("/account")
    assert new not in await again.text()


async def test_sign_out_everywhere_else(shop: Shop, browsers: list[Browser]) -> None:
    others = [await _second_browser(shop, browsers, shop.seed["email"], shop.seed["password"])
              for _ in range(2)]
    csrf = await login(shop, shop.seed["email"], shop.seed["password"])
    page = await shop.client.get("/account")
    assert (await page.text()).count("<tr>") == 4
    resp = await shop.client.post("/account/sessions/end", data={"csrf_token": csrf,
                                                                 "confirm": "yes"})
    assert resp.status == 200 and "2 sessions ended" in await resp.text()
    assert (await resp.text()).count("<tr>") == 2
    for other in others:
        assert await other.get("/inbox") == 302
    assert (await shop.client.get("/inbox")).status == 200


@pytest.fixture
async def strict(aiohttp_client: Any, tmp_path: Path, still_limits: None) -> Shop:
    return await start_shop(aiohttp_client, make_settings(tmp_path,
                                                          login_limit_account="2/minute"))


async def test_guessing_the_current_password_is_limited(strict: Shop) -> None:
    csrf = await login(strict, strict.seed["email"], strict.seed["password"])
    for _ in range(2):
        resp = await strict.client.post("/account/password", data={
            "csrf_token": csrf, "current": "guess", "new": "n3w-password!",
            "confirm": "n3w-password!"})
        assert resp.status == 400
    resp = await strict.client.post("/account/password", data={
        "csrf_token": csrf, "current": strict.seed["password"], "new": "n3w-password!",
        "confirm": "n3w-password!"})
    assert resp.status == 429 and "Retry-After" in resp.headers


async def test_a_login_clears_the_users_expired_sessions(shop: Shop) -> None:
    from datetime import timedelta

    from bot.core.time import utcnow
    from bot.models import Session, User

    admin = await User.get(email=shop.seed["email"])
    await Session.create(id="e" * 64, user=admin, csrf_token="x",
                         expires_at=utcnow() - timedelta(hours=1))
    await login(shop, shop.seed["email"], shop.seed["password"])
    assert not await Session.filter(id="e" * 64).exists()
    assert await Session.filter(user_id=admin.id).count() == 1
