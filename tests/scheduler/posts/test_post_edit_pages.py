"""Editing a post on its page until it is published (issue 22, point 2): text, each
network's own text, images, time typed in the shop's timezone, recurrence, evergreen;
a published post is refused (409) without a form; roles, CSRF, bad input, the approval
policy; and the API's PATCH, which uses the same service."""

from __future__ import annotations

import html
import re
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from bot.models import Post, PostEvent, PostVariant
from config import Settings
from tests.channels.test_telegram import Telegram, connect, fake_api
from tests.conftest import Shop, make_settings, start_shop
from tests.fakes.telegram_api import FakeTelegram
from tests.scheduler.marketing.test_marketing_pages import login
from tests.web.test_web import as_admin

__all__ = ["fake_api"]


async def shop_with_channel(aiohttp_client: Any, settings: Settings,
                            fake: tuple[FakeTelegram, str]) -> Telegram:
    shop = await start_shop(aiohttp_client, settings)
    tg = await connect(shop, *fake, "polling")
    await shop.api("PATCH", f"/api/v1/channels/{tg.account['id']}",
                   json={"settings": {"channel": "@shopnews"}})
    return tg


@pytest.fixture
async def tg(aiohttp_client: Any, tmp_path: Path,
             fake_api: tuple[FakeTelegram, str]) -> Telegram:
    return await shop_with_channel(aiohttp_client, make_settings(
        tmp_path, shop_timezone="Asia/Bangkok"), fake_api)


async def scheduled(tg: Telegram, csrf: str, text: str = "Weekend sale") -> int:
    aid = tg.account["id"]
    resp = await tg.shop.client.post("/posts", allow_redirects=False, data={
        "csrf_token": csrf, "text": text, f"use_{aid}": "on", f"target_{aid}": "@shopnews",
        "when": "tomorrow 10:00", "action": "schedule"})
    assert resp.status == 302, await resp.text()
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def form(csrf: str, **over: Any) -> dict[str, Any]:
    return {"csrf_token": csrf, "text": "Weekend sale", "images": "", "when": "",
            "freq": "", "repeat_time": "", "repeat_day": "", "evergreen_days": "", **over}


async def test_edit_text_variant_images_time_recurrence_evergreen(tg: Telegram) -> None:
    shop = tg.shop
    csrf = await as_admin(shop)
    pid = await scheduled(tg, csrf)
    vid = (await PostVariant.get(post_id=pid)).id
    detail = await (await shop.client.get(f"/posts/{pid}")).text()
    assert f'href="/posts/{pid}/edit"' in detail
    page = await (await shop.client.get(f"/posts/{pid}/edit")).text()
    assert 'name="csrf_token"' in page and ">Weekend sale</textarea>" in page
    assert re.search(r'name="when" value="\d{4}-\d\d-\d\d 10:00"', page)  # Bangkok time
    resp = await shop.client.post(f"/posts/{pid}/edit", allow_redirects=False, data=[
        *form(csrf, text="Weekend sale: 20% off", images="https://shop.example/a.jpg",
              when="fri 18:00", freq="weekly", repeat_time="09:00",
              evergreen_days="30").items(),
        (f"vtext_{vid}", "Telegram only <b>"), ("repeat_days", "mon"), ("repeat_days", "thu")])
    assert resp.status == 302 and resp.headers["Location"] == f"/posts/{pid}"
    post = await Post.get(id=pid)
    assert post.status == "scheduled" and post.text == "Weekend sale: 20% off"
    assert post.media == [{"url": "https://shop.example/a.jpg"}]
    assert post.due_at is not None and post.due_at.astimezone(UTC).strftime(
        "%a %H:%M") == "Fri 11:00"  # 18:00 in Bangkok
    assert post.recurrence == {"freq": "weekly", "time": "09:00", "days": ["mon", "thu"]}
    assert post.evergreen_days == 30
    assert (await PostVariant.get(id=vid)).text == "Telegram only <b>"
    detail = await (await shop.client.get(f"/posts/{pid}")).text()
    assert "“edited; for " in detail and "Weekend sale: 20% off" in detail
    # the form shows what is stored; an empty own text means the post's text again
    page = await (await shop.client.get(f"/posts/{pid}/edit")).text()
    assert "Telegram only &lt;b&gt;</textarea>" in page and 'value="thu" checked' in page
    resp = await shop.client.post(f"/posts/{pid}/edit", allow_redirects=False, data={
        **form(csrf, text="Plain"), f"vtext_{vid}": ""})
    assert resp.status == 302
    post = await Post.get(id=pid)
    assert (await PostVariant.get(id=vid)).text is None and post.recurrence is None
    assert post.evergreen_days is None and post.media == [] and post.text == "Plain"
    assert post.due_at is not None and post.due_at.astimezone(UTC).strftime(
        "%H:%M") == "11:00"  # an unchanged time is kept


@pytest.mark.parametrize(("over", "message"), [
    ({"when": "31 feb 9:00"}, "31 Feb is not a date"),
    ({"when": "2020-01-01 09:00"}, "that time is in the past"),
    ({"images": "ftp://x/a.jpg"}, "not an image URL"),
    ({"freq": "weekly", "repeat_time": "09:00"}, "a weekly post needs days"),
    ({"freq": "daily", "repeat_time": "25:00"}, "Repeat: time"),
    ({"evergreen_days": "soon"}, "Evergreen: give a number of days"),
    ({"text": "x" * 4097}, "Telegram allows at most 4,096 characters"),
])
async def test_bad_input_shows_the_form_again(tg: Telegram, over: dict[str, str],
                                              message: str) -> None:
    shop = tg.shop
    csrf = await as_admin(shop)
    pid = await scheduled(tg, csrf)
    before = await Post.get(id=pid)
    resp = await shop.client.post(f"/posts/{pid}/edit", data=form(
        csrf, **{"text": "Typed, not saved", **over}))
    body = html.unescape(await resp.text())
    assert resp.status == 400 and message in body, body[:3000]
    assert 'id="post-edit"' in body and 'id="edit-error"' in body
    if "text" not in over:
        assert ">Typed, not saved</textarea>" in body  # what was typed is kept
    after = await Post.get(id=pid)
    assert (after.text, after.due_at, after.status) == (before.text, before.due_at,
                                                        before.status)


async def test_unknown_post_csrf_and_roles(tg: Telegram) -> None:
    shop = tg.shop
    csrf = await as_admin(shop)
    pid = await scheduled(tg, csrf)
    for path in ("/posts/999999/edit", "/posts/abc/edit"):
        assert (await shop.client.get(path)).status == 404, path
        assert (await shop.client.post(path, data=form(csrf))).status == 404, path
    for token in ("", "forged"):
        resp = await shop.client.post(f"/posts/{pid}/edit", data=form(token, text="Forged"))
        assert resp.status == 403 and "CSRF" in await resp.text()
    for role in ("agent",):
        user = await shop.add_user(role)
        other = await login(shop, user["email"], user["password"])
        assert (await shop.client.get(f"/posts/{pid}/edit")).status == 403, role
        resp = await shop.client.post(f"/posts/{pid}/edit", data=form(other, text="Forged"))
        assert resp.status == 403, role
    assert (await Post.get(id=pid)).text == "Weekend sale"


@pytest.mark.parametrize("status", ["publishing", "published", "cancelled"])
async def test_a_published_post_cannot_be_edited(tg: Telegram, status: str) -> None:
    shop = tg.shop
    csrf = await as_admin(shop)
    pid = await scheduled(tg, csrf)
    if status == "cancelled":  # through the page's own button
        resp = await shop.client.post(f"/posts/{pid}", allow_redirects=False, data={
            "csrf_token": csrf, "action": "cancel"})
        assert resp.status == 302
    else:  # as the publisher leaves it
        await Post.filter(id=pid).update(status=status)
    detail = await (await shop.client.get(f"/posts/{pid}")).text()
    assert f"/posts/{pid}/edit" not in detail and 'id="post-locked"' in detail
    resp = await shop.client.get(f"/posts/{pid}/edit")
    body = await resp.text()
    assert resp.status == 409 and 'id="post-edit"' not in body
    if status != "cancelled":
        assert "can no longer be edited" in body
    resp = await shop.client.post(f"/posts/{pid}/edit", data=form(csrf, text="Too late"))
    assert resp.status == 409
    assert (await Post.get(id=pid)).text == "Weekend sale"
    status_code, err = await shop.api("PATCH", f"/api/v1/posts/{pid}", json={"text": "No"})
    assert status_code == 409, err


async def test_a_marketers_edit_needs_approval_again(
        aiohttp_client: Any, tmp_path: Path, fake_api: tuple[FakeTelegram, str]) -> None:
    tg = await shop_with_channel(aiohttp_client, make_settings(
        tmp_path, shop_timezone="Asia/Bangkok", posts_require_approval=True), fake_api)
    shop = tg.shop
    admin_csrf = await as_admin(shop)
    pid = await scheduled(tg, admin_csrf)  # an admin's post needs no review
    resp = await shop.client.post(f"/posts/{pid}/edit", allow_redirects=False,
                                  data=form(admin_csrf, text="Admin's change"))
    assert resp.status == 302 and (await Post.get(id=pid)).status == "scheduled"
    marketer = await shop.add_user("marketer")
    csrf = await login(shop, marketer["email"], marketer["password"])
    resp = await shop.client.post(f"/posts/{pid}/edit", allow_redirects=False,
                                  data=form(csrf, text="Marketer's change"))
    assert resp.status == 302
    post = await Post.get(id=pid)
    assert post.status == "in_review" and post.text == "Marketer's change"
    last = await PostEvent.filter(post_id=pid).order_by("-id").first()
    assert last is not None and (last.from_status, last.to_status) == ("scheduled",
                                                                       "in_review")
    assert last.reason == "edited; needs approval again"
    # the approval schedules it again for its time
    await as_admin(shop)
    status, out = await shop.api("POST", f"/api/v1/posts/{pid}/approve", json={})
    assert status == 200 and out["status"] == "scheduled", out


@pytest.fixture
async def tg_any_db(aiohttp_client: Any, any_db: Settings,
                    fake_api: tuple[FakeTelegram, str]) -> Telegram:
    return await shop_with_channel(aiohttp_client, any_db, fake_api)


async def test_api_patch_uses_the_same_service(tg_any_db: Telegram) -> None:
    shop: Shop = tg_any_db.shop
    aid = tg_any_db.account["id"]
    status, post = await shop.api("POST", "/api/v1/posts", json={
        "text": "Draft", "variants": [{"channel_account_id": aid, "target": "@shopnews"}]})
    assert status == 201, post
    pid, vid = post["id"], post["variants"][0]["id"]
    status, out = await shop.api("PATCH", f"/api/v1/posts/{pid}", json={
        "text": "Changed", "media": [{"url": "https://shop.example/b.png"}],
        "variants": [{"id": vid, "text": "Own"}], "due_at": "2099-01-01T09:00:00+07:00",
        "recurrence": {"freq": "monthly", "time": "09:00", "day": 31},
        "evergreen_days": 7})
    assert status == 200, out
    assert (out["text"], out["status"], out["evergreen_days"]) == ("Changed", "draft", 7)
    assert out["media"] == [{"url": "https://shop.example/b.png"}]
    assert out["recurrence"] == {"freq": "monthly", "time": "09:00", "day": 31}
    assert out["variants"][0]["text"] == "Own" and out["due_at"].startswith("2099-01-01T02")
    status, out = await shop.api("PATCH", f"/api/v1/posts/{pid}", json={"recurrence": None})
    assert status == 200 and out["recurrence"] is None and out["evergreen_days"] == 7
    for body, code in (({"text": None}, 422), ({"variants": [{"id": 999999, "text": "x"}]},
                                                400),
                       ({"due_at": "2020-01-01T00:00:00Z"}, 400)):
        status, err = await shop.api("PATCH", f"/api/v1/posts/{pid}", json=body)
        assert status == code, (body, err)
    status, err = await shop.api("PATCH", "/api/v1/posts/999999", json={"text": "x"})
    assert status == 404, err
