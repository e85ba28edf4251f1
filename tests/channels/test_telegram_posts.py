"""Marketers' chat commands in Telegram against the fake Bot API: /post in one line with
natural times, /queue, /reschedule, /calendar, /cancel, /approve, /reject, /retry; bad
times answered and nothing queued; non-marketers refused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.models import Post, User
from tests.channels.test_telegram import TOKEN, Telegram, connect, fake_api, until
from tests.conftest import make_settings, start_shop
from tests.fakes.telegram_api import FakeTelegram

__all__ = ["fake_api"]
ME = 7700  # the marketer's Telegram id


@pytest.fixture
async def tg(aiohttp_client: Any, tmp_path: Path,
             fake_api: tuple[FakeTelegram, str]) -> Telegram:
    shop = await start_shop(aiohttp_client, make_settings(
        tmp_path, shop_timezone="Asia/Bangkok", posts_require_approval=True))
    tg = await connect(shop, *fake_api, "polling")
    status, _ = await shop.api("PATCH", f"/api/v1/channels/{tg.account['id']}",
                               json={"settings": {"channel": "@shopnews"}})
    assert status == 200
    marketer = await shop.add_user("marketer")
    await shop.api("PATCH", f"/api/v1/users/{marketer['id']}", json={"telegram_user_id": ME})
    admin = await User.get(email=shop.seed["email"])
    await shop.api("PATCH", f"/api/v1/users/{admin.id}", json={"telegram_user_id": ME + 1})
    return tg


async def say(tg: Telegram, text: str, user: int = ME) -> str:
    before = len([s for s in tg.bot.sent if str(s["chat_id"]) == str(user)])
    tg.fake.push(TOKEN, tg.fake.private_message(user, text))

    async def answered() -> str | None:
        mine = [s for s in tg.bot.sent if str(s["chat_id"]) == str(user)]
        return str(mine[-1]["text"]) if len(mine) > before else None
    return str(await until(answered))


async def test_marketer_commands(tg: Telegram) -> None:
    answer = await say(tg, "/post tomorrow 9:00 #tg Spring sale starts!")
    assert "is waiting for an admin's approval" in answer and "(+07)" in answer
    pid = int(answer.split("#", 1)[1].split(" ", 1)[0])
    post = await Post.get(id=pid)
    assert post.status == "in_review" and post.due_at is not None
    assert post.due_at.astimezone().strftime("%M") == "00"

    assert "your role (marketer) cannot do that" in await say(tg, f"/approve {pid}")
    assert "back to draft: add the price" in await say(tg, f"/reject {pid} add the price",
                                                       user=ME + 1)
    await say(tg, "/post in 2h #tg Second post")  # a marketer: review again
    approved = await say(tg, f"/approve {pid + 1}", user=ME + 1)
    assert "approved and scheduled for" in approved

    queue = await say(tg, "/queue")
    assert f"#{pid + 1}" in queue and "Second post" in queue
    assert "now goes out" in await say(tg, f"/reschedule {pid + 1} fri 18:00")
    assert "18:00" in await say(tg, "/queue")
    calendar = await say(tg, "/calendar week")
    assert "📅" in calendar and f"#{pid + 1}" in calendar

    for bad, why in (("/post 31 feb 9:00 #tg x", "31 Feb is not a date"),
                     ("/post yesterday #tg x", "I do not understand 'yesterday'"),
                     ("/post 2020-01-01 10:00 #tg x", "that time is in the past"),
                     ("/post tomorrow #fb x", "no facebook channel is set up")):
        reply = await say(tg, bad)
        assert why in reply and "Nothing was queued" in reply, reply
    assert await Post.all().count() == 2
    assert "Usage: /post" in await say(tg, "/post")
    assert "is cancelled" in await say(tg, f"/cancel {pid + 1}")
    assert (await Post.get(id=pid + 1)).status == "cancelled"
    assert "only a failed or missed post" in await say(tg, f"/retry {pid + 1}")

    # A customer (not linked) is refused and nothing changes.
    assert "only the shop's staff" in await say(tg, "/queue", user=5151)
    await asyncio.sleep(0.1)
