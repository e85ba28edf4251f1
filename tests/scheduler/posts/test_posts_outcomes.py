"""Post outcomes are events: a post that fails tells the staff chat and the web inbox's
alerts exactly once, however often the outcome is heard again, and a new failure after a
retry is a new alert."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.events import PostFailed
from bot.core.keys import BUS
from bot.models import Post, PostEvent, PostStatus, PostVariant, StaffAlert, User
from scheduler.posts import service as posts
from scheduler.posts.publish import Publisher
from tests.channels.test_telegram import Telegram, connect, fake_api, until
from tests.conftest import make_settings, start_shop
from tests.fakes.telegram_api import FakeTelegram

__all__ = ["fake_api"]
STAFF_CHAT = -1009100
CHANNEL = "@shopnews"


@pytest.fixture
async def tg(aiohttp_client: Any, tmp_path: Path,
             fake_api: tuple[FakeTelegram, str]) -> Telegram:
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, post_max_attempts=1))
    tg = await connect(shop, *fake_api, "polling")
    status, _ = await shop.api("PATCH", f"/api/v1/channels/{tg.account['id']}", json={
        "settings": {"staff_chat_id": str(STAFF_CHAT), "staff_notify": "all"}})
    assert status == 200
    return tg


def in_staff_chat(tg: Telegram, post_id: int) -> list[str]:
    return [str(s["text"]) for s in tg.bot.sent if str(s["chat_id"]) == str(STAFF_CHAT)
            and f"Post #{post_id} failed" in str(s.get("text"))]


async def test_a_failed_post_reaches_the_staff_chat_once(tg: Telegram) -> None:
    shop = tg.shop
    admin = await User.get(email=shop.seed["email"])
    post = await Post.create(text="doomed", media=[], created_by=admin)
    await PostVariant.create(post=post, channel_account_id=tg.account["id"],
                             network="telegram", target=CHANNEL)
    tg.fake.fail.append(("sendMessage", 400, 0))  # Telegram rejects it: fails at once
    await posts.move(post.id, PostStatus.SCHEDULED, admin, due_at=datetime.now(UTC))

    [note] = await until(lambda: _nonempty(in_staff_chat(tg, post.id)))
    assert "Telegram rejected it" in note and f"/posts/{post.id}" in note
    failed = await Post.get(id=post.id)
    assert failed.status == "failed"

    # Heard again: the clock (or a second process) runs the post once more, and the
    # event itself is delivered a second time. Neither makes a second alert.
    assert await Publisher({}, bus=shop.client.app[BUS]).publish_post(post.id) == "failed"
    event = await PostEvent.filter(post_id=post.id, to_status="failed").get()
    shop.client.app[BUS].publish(PostFailed(post.id, event.id, failed.error))
    await asyncio.sleep(0.5)
    assert len(in_staff_chat(tg, post.id)) == 1
    assert await StaffAlert.filter(kind="post_failed").count() == 1
    status, alerts = await shop.api("GET", "/api/v1/alerts")
    assert status == 200 and [a["kind"] for a in alerts] == ["post_failed"]

    # A person retries it and it fails again: that is a new outcome, told once more.
    tg.fake.fail.append(("sendMessage", 400, 0))
    await posts.retry(post.id, admin)
    await until(lambda: _nonempty(in_staff_chat(tg, post.id)[1:]))
    await asyncio.sleep(0.3)
    assert len(in_staff_chat(tg, post.id)) == 2
    assert await StaffAlert.filter(kind="post_failed").count() == 2


async def _nonempty(items: list[str]) -> list[str] | None:
    return items or None
