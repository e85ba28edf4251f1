"""Marketers' chat commands in Telegram against the fake Bot API: /post in one line with
natural times, /queue, /reschedule, /calendar, /cancel, /approve, /reject, /retry; bad
times answered and nothing queued; non-marketers refused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.core.keys import SETTINGS
from bot.models import ChatFlow, Message, Post, User
from config import Settings
from tests.channels.test_telegram import TOKEN, Telegram, connect, fake_api, until
from tests.conftest import Postgres, make_settings, start_shop
from tests.fakes.telegram_api import FakeTelegram

__all__ = ["fake_api"]
ME = 7700  # the marketer's Telegram id
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489000000"
                    "0d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@pytest.fixture
async def tg(aiohttp_client: Any, tmp_path: Path,
             fake_api: tuple[FakeTelegram, str]) -> Telegram:
    return await marketers_shop(aiohttp_client, fake_api, make_settings(
        tmp_path, shop_timezone="Asia/Bangkok", posts_require_approval=True))


async def marketers_shop(aiohttp_client: Any, fake_api: tuple[FakeTelegram, str],
                         settings: Settings) -> Telegram:
    """A shop with a Telegram account (polling, channel @shopnews), a marketer linked as
    ``ME`` and the admin as ``ME + 1``."""
    shop = await start_shop(aiohttp_client, settings)
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


def post_id(answer: str) -> int:
    """The post's id in the bot's answer ("… Post #12 scheduled …")."""
    return int(answer.split("#", 1)[1].split(" ", 1)[0])


async def test_marketer_commands(tg: Telegram) -> None:
    answer = await say(tg, "/post tomorrow 9:00 #tg Spring sale starts!")
    assert "is waiting for an admin's approval" in answer and "(+07)" in answer
    pid = post_id(answer)
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
    assert "Fri" in (queued := await say(tg, "/queue")) and "6:00\u202fPM (+07)" in queued
    calendar = await say(tg, "/calendar week")
    assert "📅" in calendar and f"#{pid + 1}" in calendar

    for bad, why in (("/post 31 feb 9:00 #tg x", "31 Feb is not a date"),
                     ("/post yesterday #tg x", "I do not understand 'yesterday'"),
                     ("/post 2020-01-01 10:00 #tg x", "that time is in the past"),
                     ("/post tomorrow #fb x", "no facebook channel is set up")):
        reply = await say(tg, bad)
        assert why in reply and "Nothing was queued" in reply, reply
    assert await Post.all().count() == 2
    assert "Usage: /post" in await say(tg, "/post tomorrow big sale")
    assert "is cancelled" in await say(tg, f"/cancel {pid + 1}")
    assert (await Post.get(id=pid + 1)).status == "cancelled"
    assert "only a failed or missed post" in await say(tg, f"/retry {pid + 1}")

    # A customer (not linked) is refused and nothing changes.
    assert "only the shop's staff" in await say(tg, "/queue", user=5151)
    await asyncio.sleep(0.1)


async def test_a_post_command_holding_nul_is_queued_on_postgresql(
        aiohttp_client: Any, tmp_path: Path, fake_api: tuple[FakeTelegram, str],
        postgres: Postgres) -> None:
    """PostgreSQL stores no NUL in text. A chat command is staff input that never goes
    through ingest, so the update is cleaned as it comes in: the post is queued with
    the text the marketer meant (before, the INSERT failed and the command went
    unanswered)."""
    tg = await marketers_shop(aiohttp_client, fake_api, make_settings(
        tmp_path, database_url=postgres.create_db(migrated=True), shop_timezone="Asia/Bangkok"))
    answer = await say(tg, "/post tomorrow 9:00 #tg Spring\u0000 sale\u0000!")
    assert "scheduled for" in answer, answer
    post = await Post.get(id=post_id(answer))
    assert post.text == "Spring sale!" and post.status == "scheduled"


async def last_to(tg: Telegram, user: int, before: int) -> dict[str, Any]:
    async def answered() -> dict[str, Any] | None:
        mine = [s for s in tg.bot.sent if str(s["chat_id"]) == str(user)]
        return mine[-1] if len(mine) > before else None
    return await until(answered)  # type: ignore[no-any-return]


async def step(tg: Telegram, update: dict[str, Any], user: int = ME + 1) -> dict[str, Any]:
    before = len([s for s in tg.bot.sent if str(s["chat_id"]) == str(user)])
    tg.fake.push(TOKEN, update)
    return await last_to(tg, user, before)


def buttons(sent: dict[str, Any]) -> dict[str, str]:
    markup = sent.get("reply_markup") or {}
    if isinstance(markup, str):
        import json
        markup = json.loads(markup)
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", [])
            for b in row}


async def test_interactive_post_text_photo_channels_time(tg: Telegram) -> None:
    """/post alone: text, then a photo, then channels ticked with buttons, then a time
    pressed or typed; a bad time is answered and nothing queued until a good one."""
    admin = ME + 1
    asked = await step(tg, tg.fake.private_message(admin, "/post"))
    assert "step 1 of 4" in asked["text"] and "✖ Cancel" in buttons(asked)
    asked = await step(tg, tg.fake.private_message(admin, "Winter boots are in!"))
    assert "Step 2 of 4" in asked["text"] and "Skip ➡" in buttons(asked)
    assert await Message.all().count() == 0  # the answers are not customer messages

    tg.fake.files["PHOTO-W"] = PNG
    asked = await step(tg, tg.fake.private_message(admin, None, photo=[
        {"file_id": "PHOTO-W", "file_unique_id": "w", "width": 800, "height": 600,
         "file_size": len(PNG)}]))
    assert "Step 3 of 4" in asked["text"]
    keys = buttons(asked)
    assert keys == {"☐ Telegram": "flow:net:telegram", "Next ➡": "flow:next",
                    "✖ Cancel": "flow:cancel"}
    asked = await step(tg, tg.fake.press(admin, asked, "flow:next"))
    assert "Choose at least one channel" in asked["text"]
    asked = await step(tg, tg.fake.press(admin, asked, "flow:net:telegram"))
    assert "☑ Telegram" in buttons(asked)
    asked = await step(tg, tg.fake.press(admin, asked, "flow:next"))
    assert "Step 4 of 4" in asked["text"] and "Tomorrow 9:00" in buttons(asked)

    asked = await step(tg, tg.fake.private_message(admin, "31 feb 9:00"))
    assert "31 Feb is not a date" in asked["text"] and "Nothing is queued yet" in asked["text"]
    assert await Post.all().count() == 0
    done = await step(tg, tg.fake.press(admin, asked, "flow:when:tomorrow 9:00"))
    assert "scheduled for" in done["text"] and "telegram" in done["text"]
    post = await Post.get()
    assert post.text == "Winter boots are in!" and post.status == "scheduled"
    assert len(post.media) == 1 and "/media/" in post.media[0]["url"]
    kept = tg.shop.client.server.app[SETTINGS].data_dir / "uploads" / post.media[0][
        "url"].rsplit("/", 1)[1]
    assert kept.read_bytes() == PNG  # kept under a public URL Telegram or Meta can fetch
    assert await ChatFlow.all().count() == 0  # finished

    # After the flow, private messages are customer messages again... for a customer,
    # and a pressed button of a finished flow is answered, not stored.
    late = await step(tg, tg.fake.press(admin, done, "flow:next"))
    assert "no longer open" in late["text"]


async def test_interactive_post_cancel_and_refusals(tg: Telegram) -> None:
    asked = await step(tg, tg.fake.private_message(ME, "/post"), user=ME)
    asked = await step(tg, tg.fake.press(ME, asked, "flow:cancel"), user=ME)
    assert "Cancelled. Nothing was queued" in asked["text"]
    # Once cancelled, the marketer's next message is theirs again (an inbox message).
    tg.fake.push(TOKEN, tg.fake.private_message(ME, "hello shop"))
    await until(lambda: Message.filter(text="hello shop").exists())
    # A customer pressing a forged flow button is refused; nothing is stored or queued.
    refused = await step(tg, tg.fake.press(5151, asked, "flow:next"), user=5151)
    assert "only the shop's staff" in refused["text"]
    # A marketer whose post needs approval goes to review from the flow too.
    await step(tg, tg.fake.private_message(ME, "/post"), user=ME)
    await step(tg, tg.fake.private_message(ME, "Flash sale"), user=ME)
    asked = await step(tg, tg.fake.press(ME, asked, "flow:skip"), user=ME)
    asked = await step(tg, tg.fake.press(ME, asked, "flow:net:telegram"), user=ME)
    asked = await step(tg, tg.fake.press(ME, asked, "flow:next"), user=ME)
    done = await step(tg, tg.fake.private_message(ME, "in 2h"), user=ME)
    assert "waiting for an admin's approval" in done["text"]
    assert (await Post.get(text="Flash sale")).status == "in_review"
