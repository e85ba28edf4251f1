"""Telegram through its public entry points, against a local fake of the Bot API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core.keys import ADAPTERS
from bot.models import Contact, Conversation, Message
from channels.telegram.parse import split_text
from tests.conftest import Shop, make_settings, start_shop
from tests.fakes.telegram_api import FakeBot, FakeTelegram

TOKEN = "424242:AAH-test-token"


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 10) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


class Telegram:
    def __init__(self, shop: Shop, fake: FakeTelegram, bot: FakeBot, account: dict[str, Any]
                 ) -> None:
        self.shop, self.fake, self.bot, self.account = shop, fake, bot, account

    async def webhook(self, update: dict[str, Any], secret: str | None = None) -> Any:
        return await self.shop.client.post(
            f"/api/v1/telegram/{self.account['id']}/webhook", json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": secret or self.account["secret"]})

    async def stored(self, external_id: str) -> Message:
        return await until(lambda: Message.filter(
            channel_account_id=self.account["id"], external_id=external_id).first())


@pytest.fixture
async def fake_api(aiohttp_server: Any) -> AsyncIterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram()
    server = await aiohttp_server(fake.app())
    yield fake, str(server.make_url("")).rstrip("/")


async def connect(shop: Shop, fake: FakeTelegram, base: str, mode: str) -> Telegram:
    bot = fake.add_bot(TOKEN)
    status, account = await shop.api("POST", "/api/v1/channels", json={
        "kind": "telegram", "name": "Shop bot",
        "settings": {"token": TOKEN, "api_base_url": base, "mode": mode}})
    assert status == 201, account
    assert account["settings"]["token"] == "…oken"  # never shown back in full
    return Telegram(shop, fake, bot, account)


@pytest.fixture
async def polling(shop: Shop, fake_api: tuple[FakeTelegram, str]) -> Telegram:
    return await connect(shop, *fake_api, "polling")


@pytest.fixture
async def webhook(shop: Shop, fake_api: tuple[FakeTelegram, str]) -> Telegram:
    tg = await connect(shop, *fake_api, "webhook")
    await until(lambda: asyncio.sleep(0, tg.bot.webhook))
    return tg


async def test_bad_token_is_refused_and_not_enabled(shop: Shop,
                                                    fake_api: tuple[FakeTelegram, str]) -> None:
    fake, base = fake_api
    before = await shop.api("GET", "/api/v1/channels")
    status, err = await shop.api("POST", "/api/v1/channels", json={
        "kind": "telegram", "name": "typo",
        "settings": {"token": "1:not-a-real-one", "api_base_url": base}})
    assert status == 400 and err["error"]["code"] == "invalid_auth"
    assert "Telegram rejected the token" in err["error"]["message"]
    assert await shop.api("GET", "/api/v1/channels") == before
    status, err = await shop.api("POST", "/api/v1/channels", json={
        "kind": "telegram", "name": "x", "settings": {"token": "nocolon"}})
    assert status == 400 and "token" in err["error"]["message"]


async def test_polling_picks_up_a_new_account_and_stores_private_messages(
        polling: Telegram) -> None:
    """Added while the server runs: the supervisor starts polling without a restart. The
    locale comes from language_code, photos are kept as metadata and fetched on demand,
    and an edit keeps the earlier text."""
    tg = polling
    tg.fake.files["PHOTO-1"] = b"\x89PNG fake"
    first = tg.fake.push(TOKEN, tg.fake.private_message(
        7001, "Xin chào, đơn hàng của tôi đâu?", language_code="vi", first_name="Bảo"))
    msg = await tg.stored(f"7001:{first['message']['message_id']}")
    conv = await Conversation.get(id=msg.conversation_id)  # type: ignore[attr-defined]
    contact = await Contact.get(id=conv.contact_id)  # type: ignore[attr-defined]
    assert conv.channel_kind == "telegram" and contact.locale == "vi"
    assert contact.name == "Bảo"

    photo = tg.fake.push(TOKEN, tg.fake.private_message(
        7001, None, language_code="vi", caption="this one",
        photo=[{"file_id": "PHOTO-small", "file_unique_id": "a", "width": 90, "height": 90,
                "file_size": 100},
               {"file_id": "PHOTO-1", "file_unique_id": "b", "width": 800, "height": 800,
                "file_size": 9000}]))
    pic = await tg.stored(f"7001:{photo['message']['message_id']}")
    assert pic.text == "this one" and pic.conversation_id == conv.id  # type: ignore[attr-defined]
    assert pic.attachments[0]["type"] == "photo" and pic.attachments[0]["file_id"] == "PHOTO-1"
    resp = await tg.shop.client.get(f"/api/v1/messages/{pic.id}/attachments/0",
                                    headers=tg.shop.auth())
    assert resp.status == 200 and await resp.read() == b"\x89PNG fake"
    assert any(m == "getFile" for _, m, _ in tg.fake.calls)

    edit = dict(first["message"], text="Xin chào, đơn hàng #42 của tôi đâu?", edit_date=1)
    tg.fake.push(TOKEN, {"edited_message": edit})
    await until(lambda: Message.filter(id=msg.id, text__contains="#42").exists())
    again = await Message.get(id=msg.id)
    assert [h["text"] for h in again.history] == ["Xin chào, đơn hàng của tôi đâu?"]
    status, items = await tg.shop.api("GET", f"/api/v1/conversations/{conv.id}/messages")
    assert status == 200
    shown = next(i for i in items if i["id"] == msg.id)
    assert shown["history"][0]["text"].startswith("Xin chào")


async def test_webhook_secret_and_duplicate_update(webhook: Telegram) -> None:
    tg = webhook
    assert tg.bot.webhook is not None
    assert tg.bot.webhook["url"].endswith(f"/api/v1/telegram/{tg.account['id']}/webhook")
    assert tg.bot.webhook["secret_token"] == tg.account["secret"]
    update = {"update_id": 900001, **tg.fake.private_message(7002, "Is it in stock?")}
    ext = f"7002:{update['message']['message_id']}"

    wrong = await tg.webhook(update, secret="not-the-secret")
    assert wrong.status == 403
    assert (await wrong.json())["error"]["code"] == "bad_secret"
    missing = await tg.shop.client.post(f"/api/v1/telegram/{tg.account['id']}/webhook",
                                        json=update)
    assert missing.status == 403
    assert not await Message.filter(external_id=ext).exists()

    for _ in range(3):  # Telegram redelivers when it did not see our 200 in time
        resp = await tg.webhook(update)
        assert resp.status == 200 and (await resp.json()) == {"ok": True}
    assert await Message.filter(external_id=ext).count() == 1

    bad = await tg.shop.client.post(
        f"/api/v1/telegram/{tg.account['id']}/webhook", data=b"{not json",
        headers={"X-Telegram-Bot-Api-Secret-Token": tg.account["secret"],
                 "Content-Type": "application/json"})
    assert bad.status == 400
    unknown = await tg.shop.client.post("/api/v1/telegram/99999/webhook", json=update)
    assert unknown.status == 404


async def _reply(tg: Telegram, text: str) -> tuple[int, dict[str, Any]]:
    update = {"update_id": 900000 + len(tg.fake.calls),
              **tg.fake.private_message(7003, "hello?")}
    resp = await tg.webhook(update)
    assert resp.status == 200
    msg = await tg.stored(f"7003:{update['message']['message_id']}")
    status, sent = await tg.shop.api(
        "POST", f"/api/v1/conversations/{msg.conversation_id}/reply",  # type: ignore[attr-defined]
        json={"text": text})
    assert status == 201, sent
    return msg.conversation_id, sent  # type: ignore[attr-defined]


async def _settled(message_id: int) -> Message:
    return await until(lambda: Message.filter(id=message_id,
                                              status__in=["sent", "failed"]).first())


async def test_long_reply_is_split_and_html_escaped(webhook: Telegram) -> None:
    tg = webhook
    text = "<b>Price</b> & terms: " + ("word " * 1200) + "\n\nend"
    _, sent = await _reply(tg, text)
    assert (await _settled(sent["id"])).status.value == "sent"
    parts = [s for s in tg.bot.sent if str(s["chat_id"]) == "7003"]
    assert len(parts) == len(split_text(text)) >= 2
    assert all(p["parse_mode"] == "HTML" for p in parts)
    shown = [p["result"]["text"] for p in parts]
    assert shown[0].startswith("<b>Price</b> & terms:")  # literal, not bold
    assert all(len(s) <= 4096 for s in shown)
    assert " ".join(" ".join(shown).split()) == " ".join(text.split())
    stored = await Message.get(id=sent["id"])
    assert stored.external_id == f"7003:{parts[-1]['result']['message_id']}"


async def test_429_is_retried_after_retry_after(webhook: Telegram) -> None:
    tg = webhook
    tg.fake.fail.append(("sendMessage", 429, 1))
    _, sent = await _reply(tg, "Your parcel left the warehouse.")
    retrying = await until(lambda: Message.filter(id=sent["id"], status="retrying").first())
    assert "wait" in retrying.error
    assert (await _settled(sent["id"])).status.value == "sent"
    assert [s["text"] for s in tg.bot.sent] == ["Your parcel left the warehouse."]


async def test_blocked_user_marks_the_contact_unreachable(webhook: Telegram) -> None:
    tg = webhook
    tg.fake.blocked.add(7003)
    conv_id, sent = await _reply(tg, "Are you still there?")
    failed = await _settled(sent["id"])
    assert failed.status.value == "failed" and "blocked" in failed.error
    conv = await Conversation.get(id=conv_id)
    contact = await Contact.get(id=conv.contact_id)  # type: ignore[attr-defined]
    assert "blocked" in contact.unreachable
    status, items = await tg.shop.api("GET", f"/api/v1/conversations/{conv_id}/messages")
    assert any(i["status"] == "failed" and "unreachable" in i["error"] for i in items)


def test_split_text_respects_utf16_and_breaks() -> None:
    assert split_text("short") == ["short"]
    emoji = "😀" * 3000  # 2 UTF-16 units each
    parts = split_text(emoji)
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts) and "".join(parts) == emoji
    lines = "\n".join(f"line {i}" for i in range(1500))
    assert all(not p.startswith("\n") and len(p) <= 4096 for p in split_text(lines))


async def test_account_added_on_another_server_shows_up(tmp_path: Path, aiohttp_client: Any,
                                                        fake_api: tuple[FakeTelegram, str]
                                                        ) -> None:
    """The CLI (another process) adds the bot to the database; the running server's
    supervisor starts it within channel_refresh_seconds."""
    fake, base = fake_api
    shop = await start_shop(aiohttp_client, make_settings(tmp_path))
    fake.add_bot(TOKEN)
    from bot.models import ChannelAccount

    acct = await ChannelAccount.create(kind="telegram", name="from cli",
                                       secret=uuid.uuid4().hex,
                                       settings={"token": TOKEN, "api_base_url": base})
    await until(lambda: asyncio.sleep(0, any(m == "getUpdates" for _, m, _ in fake.calls)))
    adapter = shop.client.server.app[ADAPTERS]["telegram"]
    assert acct.id in adapter.loops.running  # noqa: SLF001
    await ChannelAccount.filter(id=acct.id).update(enabled=False)
    await until(lambda: asyncio.sleep(0, acct.id not in adapter.loops.running))  # noqa: SLF001


async def test_webhook_updates_of_odd_shapes_are_skipped_not_failed(webhook: Telegram,
                                                                    ) -> None:
    """An update this code cannot read (a field missing or typed otherwise, a date past
    9999) is answered 200 and skipped: a 500 would make Telegram hold back every later
    update while it retried this one. The next good update is stored."""
    tg = webhook
    sample = tg.fake.private_message(7011, "odd")["message"]
    odd: list[dict[str, Any]] = [
        {"message": None}, {"message": 5}, {"message": {"chat": 5, "from": {"id": 1}}},
        {"message": {**sample, "date": 10**30}},
        {"message": {**sample, "chat": {"type": "private"}}},
        {"message": {**sample, "message_id": None, "from": {"id": None}}},
        {"edited_message": {"text": "x"}}, {"edited_message": 5},
        {"callback_query": {"data": "faq:1"}}, {"callback_query": None},
        {"message": {**sample, "photo": [{"width": 5}]}},
        {"message": {**sample, "photo": "big"}},
    ]
    for i, body in enumerate(odd):
        resp = await tg.webhook({"update_id": 910000 + i, **body})
        assert resp.status == 200, (body, await resp.text())
    good = tg.fake.private_message(7010, "hel\u0000lo")
    resp = await tg.webhook({"update_id": 910100, **good})
    assert resp.status == 200
    assert (await tg.stored(f"7010:{good['message']['message_id']}")).text == "hello"
