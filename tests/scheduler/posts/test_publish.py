"""Publishing due posts through the clock, against the fake Bot API: on time, once, retried
on 429, failed visibly on 5xx and retried by a person; a crash mid-call is not guessed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.models import ChannelAccount, Post, PostEvent, PostStatus, PostVariant, User
from scheduler.posts import service as posts
from scheduler.posts.networks import PostError, check_variant
from scheduler.posts.publish import Publisher
from tests.channels.test_telegram import Telegram, connect, fake_api, until
from tests.conftest import make_settings, start_shop
from tests.fakes.telegram_api import FakeTelegram

__all__ = ["fake_api"]
CHANNEL = "@shopnews"


@pytest.fixture
async def tg(aiohttp_client: Any, tmp_path: Path,
             fake_api: tuple[FakeTelegram, str]) -> Telegram:
    shop = await start_shop(aiohttp_client, make_settings(
        tmp_path, post_backoff_seconds=0.2, post_max_attempts=3))
    return await connect(shop, *fake_api, "polling")


async def queue(tg: Telegram, text: str, due_in: float = 0.0,
                media: list[dict[str, str]] | None = None) -> Post:
    marketer = await User.get(email=tg.shop.seed["email"])
    post = await Post.create(text=text, media=media or [], created_by=marketer)
    await PostVariant.create(post=post, channel_account_id=tg.account["id"],
                             network="telegram", target=CHANNEL)
    return await posts.move(post.id, PostStatus.SCHEDULED, marketer,
                            due_at=datetime.now(UTC) + timedelta(seconds=due_in))


def on_channel(tg: Telegram) -> list[dict[str, Any]]:
    return [s for s in tg.bot.sent if s["chat_id"] == CHANNEL]


async def status_of(post_id: int, want: str) -> Post:
    async def check() -> Post | None:
        post = await Post.get(id=post_id)
        return post if post.status == want else None
    return await until(check)  # type: ignore[no-any-return]


async def test_post_goes_out_at_its_time_exactly_once(tg: Telegram) -> None:
    post = await queue(tg, "Spring sale starts <today>!", due_in=0.6)
    photo = await queue(tg, "New boots", media=[{"url": "https://shop.example/b.jpg"}])
    await asyncio.sleep(0.3)
    assert not [s for s in on_channel(tg) if "Spring" in str(s.get("text"))]  # not early
    done = await status_of(post.id, "published")
    await status_of(photo.id, "published")
    sent = on_channel(tg)
    assert [s.get("text") for s in sent if s.get("text")] == [
        "Spring sale starts &lt;today&gt;!"]
    assert [s.get("caption") for s in sent if s.get("photo")] == ["New boots"]
    variant = await PostVariant.get(post_id=done.id)
    assert variant.state == "done" and variant.remote_id and variant.published_at
    events = await PostEvent.filter(post_id=post.id).order_by("id").values_list(
        "to_status", flat=True)
    assert events == ["scheduled", "publishing", "published"]
    await asyncio.sleep(0.5)
    assert len(on_channel(tg)) == 2  # and never again


async def test_429_is_retried_5xx_fails_visibly_then_a_person_retries(tg: Telegram) -> None:
    tg.fake.fail.append(("sendMessage", 429, 1))
    post = await queue(tg, "after a 429")
    await status_of(post.id, "published")
    assert [s["text"] for s in on_channel(tg)] == ["after a 429"]
    assert (await Post.get(id=post.id)).attempts == 1

    tg.fake.fail.extend([("sendMessage", 502, 0)] * 3)
    failing = await queue(tg, "never makes it")
    failed = await status_of(failing.id, "failed")
    assert failed.error.startswith("gave up after 3 attempts: telegram:")
    assert not [s for s in on_channel(tg) if s["text"] == "never makes it"]
    await posts.retry(failing.id, await User.get(email=tg.shop.seed["email"]))
    await status_of(failing.id, "published")
    assert [s["text"] for s in on_channel(tg)].count("never makes it") == 1


async def test_a_crash_mid_call_is_not_guessed_and_late_posts_are_missed(
        tg: Telegram) -> None:
    post = await queue(tg, "was in flight", due_in=3600)
    await Post.filter(id=post.id).update(status=PostStatus.PUBLISHING,
                                         due_at=datetime.now(UTC) - timedelta(seconds=5))
    await PostVariant.filter(post_id=post.id).update(state="sending")  # the dead process's
    failed = await status_of(post.id, "failed")
    assert "may or may not have gone out" in failed.error
    assert (await PostVariant.get(post_id=post.id)).state == "unknown"
    assert not [s for s in on_channel(tg) if s["text"] == "was in flight"]

    late = await queue(tg, "too late", due_in=3600)
    await Post.filter(id=late.id).update(due_at=datetime.now(UTC) - timedelta(hours=3))
    missed = await status_of(late.id, "missed")
    assert "later than the 60 min allowed" in missed.error
    assert not [s for s in on_channel(tg) if s["text"] == "too late"]


async def test_an_account_that_cannot_publish_fails_the_post(tg: Telegram) -> None:
    api = await ChannelAccount.get(kind="api")
    post = await Post.create(text="x", status=PostStatus.SCHEDULED,  # not due: the clock
                             due_at=datetime.now(UTC) + timedelta(hours=1))  # leaves it
    await PostVariant.create(post=post, channel_account=api, network="telegram",
                             target=CHANNEL)
    publisher = Publisher({}, max_attempts=1)
    assert await publisher.publish_post(post.id) == PostStatus.FAILED
    assert "cannot publish" in (await Post.get(id=post.id)).error


async def test_recurring_post_schedules_its_next_occurrence(tg: Telegram) -> None:
    post = await queue(tg, "Daily deal", due_in=0.3)
    await Post.filter(id=post.id).update(recurrence={"freq": "daily", "time": "09:00"})
    await status_of(post.id, "published")
    follow = await until(lambda: Post.filter(text="Daily deal", status="scheduled").first())
    assert follow.id != post.id and follow.recurrence == {"freq": "daily", "time": "09:00"}
    assert follow.due_at is not None and follow.due_at.astimezone(UTC).strftime(
        "%H:%M") == "09:00"  # the shop's timezone is UTC in this test
    assert 0 < (follow.due_at - datetime.now(UTC)).total_seconds() <= 86400
    assert await PostVariant.filter(post_id=follow.id, state="waiting").count() == 1


async def test_several_images_go_out_as_one_album(tg: Telegram) -> None:
    pics = [{"url": f"https://shop.example/{i}.jpg"} for i in range(3)]
    post = await queue(tg, "The new collection <3", media=pics)
    await status_of(post.id, "published")
    album = [s for s in on_channel(tg) if s["result"].get("media_group_id")]
    assert [s["result"]["photo"][0]["file_id"] for s in album] == [p["url"] for p in pics]
    assert [s["result"].get("caption") for s in album] == ["The new collection &lt;3", None,
                                                          None]
    with pytest.raises(PostError, match="at most 10 images in a post; this one has 11"):
        check_variant("telegram", "x", [{"url": "u"}] * 11)
