"""Issue 22: the delivery errors Switchboard writes itself (a post that failed or was
missed, a reply that could not be delivered) are shown on the staff pages in the staff
member's language, with the remote service's own words quoted as they are; the REST API
keeps the English ``error`` text; a row written before (no data beside its text) shows
its text."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.models import Message, Post, PostStatus, PostVariant, User
from config import Settings
from scheduler.posts import service as posts
from scheduler.posts.edit import edit
from tests.channels.test_telegram import Telegram, connect, fake_api, until
from tests.conftest import Shop, make_settings, start_shop
from tests.fakes.telegram_api import FakeTelegram
from tests.web.test_web import as_admin

__all__ = ["fake_api"]
CHANNEL = "@shopnews"


@pytest.fixture
async def tg(aiohttp_client: Any, tmp_path: Path, any_db: Settings,
             fake_api: tuple[FakeTelegram, str]) -> Telegram:
    """The shop on SQLite, then on PostgreSQL (migrated: the new columns are the
    migration's), with a Telegram account on the fake Bot API."""
    shop = await start_shop(aiohttp_client, make_settings(
        tmp_path, post_max_attempts=1, database_url=any_db.database_url))
    return await connect(shop, *fake_api, "webhook")


async def _speak(shop: Shop, language: str) -> None:
    await User.filter(email=shop.seed["email"]).update(language=language)


async def _queue(tg: Telegram, text: str, due: datetime) -> Post:
    marketer = await User.get(email=tg.shop.seed["email"])
    post = await Post.create(text=text, created_by=marketer)
    await PostVariant.create(post=post, channel_account_id=tg.account["id"],
                             network="telegram", target=CHANNEL)
    return await posts.move(post.id, PostStatus.SCHEDULED, marketer, due_at=due)


async def _settled(post_id: int, status: str) -> Post:
    post: Post = await until(lambda: Post.filter(id=post_id, status=status).first())
    return post


async def test_a_failed_post_is_shown_in_the_staff_language(tg: Telegram) -> None:
    tg.fake.fail.append(("sendMessage", 400, 0))  # Telegram refuses it, in its own words
    post = await _queue(tg, "Spring sale", datetime.now(UTC))
    failed = await _settled(post.id, "failed")
    english = "telegram: Telegram rejected it: Injected failure"
    assert failed.error == english

    await as_admin(tg.shop)
    await _speak(tg.shop, "vi")
    page = html.unescape(await (await tg.shop.client.get(f"/posts/{post.id}")).text())
    frame = "Telegram không chấp nhận: «Injected failure»"
    assert f'id="post-error">Telegram: {frame}</div>' in page, page
    assert f"<td>{frame}</td>" in page  # the target's own row
    assert f"“Telegram: {frame}”" in page  # the history
    assert english not in page and "rejected it" not in page
    listing = html.unescape(await (await tg.shop.client.get("/posts")).text())
    assert f"Telegram: {frame}" in listing
    home = html.unescape(await (await tg.shop.client.get("/")).text())
    assert f"<td>Telegram: {frame}</td>" in home  # the dashboard's failed posts

    status, body = await tg.shop.api("GET", f"/api/v1/posts/{post.id}")
    assert status == 200 and body["error"] == english
    assert body["variants"][0]["error"] == "Telegram rejected it: Injected failure"
    assert body["events"][-1]["reason"] == english
    assert "error_i18n" not in body and "error_i18n" not in body["variants"][0]
    status, board = await tg.shop.api("GET", "/api/v1/dashboard")
    tile = next(t for t in board["tiles"] if t["key"] == "posts")
    failed_rows = next(t for t in tile["tables"] if t["key"] == "failed")["rows"]
    assert status == 200 and [r["error"] for r in failed_rows] == [english]


async def test_a_missed_post_and_an_older_row_on_the_page(tg: Telegram) -> None:
    late = await _queue(tg, "too late", datetime.now(UTC) + timedelta(hours=1))
    await Post.filter(id=late.id).update(due_at=datetime.now(UTC) - timedelta(hours=3))
    missed = await _settled(late.id, "missed")
    assert missed.error == ("due 180 min ago while the server was not running; later than "
                            "the 60 min allowed")
    old = await Post.create(text="from before", status=PostStatus.FAILED,
                            error="telegram: written before the data was kept")

    await as_admin(tg.shop)
    await _speak(tg.shop, "ru")
    page = await (await tg.shop.client.get(f"/posts/{late.id}")).text()
    assert ("срок наступил 180 мин назад, когда сервер не работал; это позже допустимых "
            "60 мин") in page, page
    assert "while the server was not running" not in page
    before = await (await tg.shop.client.get(f"/posts/{old.id}")).text()
    assert "telegram: written before the data was kept" in before

    status, body = await tg.shop.api("GET", f"/api/v1/posts/{late.id}")
    assert status == 200 and body["error"] == missed.error


async def test_a_failed_reply_is_shown_in_the_staff_language(tg: Telegram) -> None:
    tg.fake.blocked.add(7003)
    update = {"update_id": 900001, **tg.fake.private_message(7003, "hello?")}
    assert (await tg.webhook(update)).status == 200
    inbound = await tg.stored(f"7003:{update['message']['message_id']}")
    cid = inbound.conversation_id  # type: ignore[attr-defined]
    status, sent = await tg.shop.api("POST", f"/api/v1/conversations/{cid}/reply",
                                     json={"text": "Are you still there?"})
    assert status == 201, sent
    failed = await until(lambda: Message.filter(id=sent["id"], status="failed").first())
    english = "contact unreachable: Telegram refused: Forbidden: bot was blocked by the user"
    assert failed.error == english

    await as_admin(tg.shop)
    await _speak(tg.shop, "vi")
    view = html.unescape(await (await tg.shop.client.get(f"/inbox/{cid}")).text())
    assert ('<span class="delivery-error">không liên lạc được với khách này: Telegram từ '
            'chối: «Forbidden: bot was blocked by the user»</span>') in view, view
    assert "contact unreachable" not in view

    status, items = await tg.shop.api("GET", f"/api/v1/conversations/{cid}/messages")
    assert status == 200 and [i["error"] for i in items if i["id"] == sent["id"]] == [english]
    assert all("error_i18n" not in i for i in items)


async def test_a_posts_history_is_in_the_staff_language(tg: Telegram) -> None:
    """Switchboard's own reasons in a post's history (composed, the time it is for, a
    retry, a reschedule, a bulk retry, an edit, a move from the chat commands) are in the reader's
    language on the page; the API's events keep their English reasons."""
    admin = await User.get(email=tg.shop.seed["email"])
    soon = datetime.now(UTC) + timedelta(days=2)
    post = await posts.compose(admin, "Autumn sale", [], [
        {"channel_account_id": tg.account["id"], "target": CHANNEL}])
    first = await posts.schedule(post.id, admin, soon, False)
    later = await posts.reschedule(post.id, admin, soon + timedelta(hours=1))
    await Post.filter(id=post.id).update(status=PostStatus.FAILED)
    await posts.retry(post.id, admin, due_at=soon)
    await Post.filter(id=post.id).update(status=PostStatus.FAILED)
    again = await posts.reschedule(post.id, admin, soon + timedelta(hours=2))
    await Post.filter(id=post.id).update(status=PostStatus.FAILED)
    await posts.retry(post.id, admin, posts.BULK_RETRY, due_at=soon)
    edited = await edit(post.id, admin, False, text="Autumn sale!",
                        due_at=soon + timedelta(hours=3))
    await posts.move(post.id, PostStatus.CANCELLED, admin, posts.FROM_TELEGRAM)
    times = [p.due_at.isoformat() for p in (first, later, again, edited)
             if p.due_at is not None]

    await as_admin(tg.shop)
    await _speak(tg.shop, "vi")
    page = html.unescape(await (await tg.shop.client.get(f"/posts/{post.id}")).text())
    history = page.split('<ul id="history">', 1)[1].split("</ul>", 1)[0]
    assert [r.split(" · “", 1)[1] for r in history.split("</li>")[:-1]] == [
        "đã soạn”", f"đăng lúc {times[0]}”", f"dời lịch sang {times[1]}”", "thử lại”",
        f"dời lịch sang {times[2]}”", "thử lại hàng loạt”", f"đã sửa; đăng lúc {times[3]}”",
        "từ Telegram”"], history

    status, body = await tg.shop.api("GET", f"/api/v1/posts/{post.id}")
    assert status == 200 and [e["reason"] for e in body["events"]] == [
        "composed", f"for {times[0]}", f"rescheduled for {times[1]}", "retry",
        f"rescheduled for {times[2]}", "bulk retry", f"edited; for {times[3]}",
        "from Telegram"]
