"""Issue 3's Telegram scenarios: the customer bot on Telegram, public comments in groups
and discussion threads with rules, and staff working from the staff chat. All against the
local fake Bot API (tests/fakes/telegram_api.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.models import Contact, Conversation, CsatRating, FaqEntry, Message, Rule, User
from config import Settings
from tests.channels.test_telegram import TOKEN, Telegram, connect, fake_api, until
from tests.conftest import Shop, make_settings, start_shop
from tests.fakes.telegram_api import FakeBot, FakeTelegram
from tests.services.test_bot import Visitor
from tests.web.test_web import as_admin

__all__ = ["fake_api"]  # the fixture, shared with test_telegram.py
GROUP = -1001500
STAFF_CHAT = -1009000


@pytest.fixture
async def tg(aiohttp_client: Any, tmp_path: Path,
             fake_api: tuple[FakeTelegram, str]) -> AsyncIterator[Telegram]:
    yield await bot_on_telegram(aiohttp_client, make_settings(tmp_path), fake_api)


@pytest.fixture
async def tg_any_db(aiohttp_client: Any, any_db: Settings,
                    fake_api: tuple[FakeTelegram, str]) -> AsyncIterator[Telegram]:
    """The same on SQLite, then on PostgreSQL."""
    yield await bot_on_telegram(aiohttp_client, any_db, fake_api)


async def bot_on_telegram(aiohttp_client: Any, settings: Settings,
                          fake_api: tuple[FakeTelegram, str]) -> Telegram:
    shop = await start_shop(aiohttp_client, settings.with_(
        bot_channels="webchat,telegram", shop_name="Linh's Shoes"))
    await FaqEntry.all().delete()  # each test brings its own answers, not the demo's
    return await connect(shop, *fake_api, "polling")


async def sent_to(bot: FakeBot, chat_id: int, count: int = 1) -> list[dict[str, Any]]:
    """Wait until the bot has sent ``count`` messages to ``chat_id``; return them all."""
    async def check() -> list[dict[str, Any]]:
        got = [s for s in bot.sent if int(s["chat_id"]) == chat_id]
        return got if len(got) >= count else []
    return list(await until(check))


def buttons(sent: dict[str, Any]) -> list[tuple[str, str]]:
    rows = (sent.get("reply_markup") or {}).get("inline_keyboard", [])
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


async def test_start_in_vietnamese_gets_the_vietnamese_greeting(tg: Telegram) -> None:
    """Scenario 1."""
    tg.fake.push(TOKEN, tg.fake.private_message(5101, "/start", language_code="vi",
                                                first_name="Bảo"))
    [greeting] = await sent_to(tg.bot, 5101)
    assert greeting["text"].startswith("Xin chào Bảo! Chào mừng bạn đến với Linh's Shoes.")
    assert buttons(greeting) == [("Nói chuyện với nhân viên", "human")]  # an inline keyboard


async def test_faq_person_staff_reply_resolve_and_csat(tg: Telegram) -> None:
    """Scenario 2: an FAQ is answered; the customer asks for a person; staff reply from
    the web inbox; the conversation is resolved and the rating is stored."""
    shop = tg.shop
    status, _ = await shop.api("POST", "/api/v1/faq", json={
        "locale": "en", "question": "How long does delivery take?",
        "variants": ["delivery time"], "answer": "Delivery takes 2-3 days.", "in_menu": True})
    assert status == 201
    tg.fake.push(TOKEN, tg.fake.private_message(5202, "how long does delivry take?"))
    [answer] = await sent_to(tg.bot, 5202)
    assert answer["text"] == "Delivery takes 2-3 days."
    assert answer["parse_mode"] == "HTML"

    press = tg.fake.push(TOKEN, tg.fake.press(5202, answer, "human"))
    handoff = (await sent_to(tg.bot, 5202, 2))[1]
    assert "A person will answer you here" in handoff["text"]
    assert any(str(a["callback_query_id"]) == press["callback_query"]["id"]
               for a in tg.bot.answered)  # the button stopped spinning
    pressed = await Message.get(external_id=f"cb:{press['callback_query']['id']}")
    assert pressed.text == "Talk to a person" and pressed.payload == "human"
    conv = await Conversation.get(id=pressed.conversation_id)  # type: ignore[attr-defined]
    assert conv.needs_human and conv.status == "open"

    # Staff reply from the web inbox (the page's form).
    csrf = await as_admin(shop)
    resp = await shop.client.post(f"/inbox/{conv.id}/reply",
                                  data={"text": "Hi! Mai here <3 — it ships today.",
                                        "csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 302
    reply = (await sent_to(tg.bot, 5202, 3))[2]
    assert reply["text"] == "Hi! Mai here &lt;3 — it ships today."  # escaped for HTML mode

    resp = await shop.client.post(f"/inbox/{conv.id}/status",
                                  data={"status": "resolved", "csrf_token": csrf},
                                  allow_redirects=False)
    assert resp.status == 302
    ask = (await sent_to(tg.bot, 5202, 4))[3]
    assert buttons(ask) == [(str(n), f"csat:{n}") for n in range(1, 6)]
    assert len(ask["reply_markup"]["inline_keyboard"]) == 1  # one row of five
    tg.fake.push(TOKEN, tg.fake.press(5202, ask, "csat:5"))
    thanks = (await sent_to(tg.bot, 5202, 5))[4]
    assert thanks["text"] == "Thank you for rating us 5/5!"
    assert [r.rating for r in await CsatRating.filter(conversation_id=conv.id)] == [5]
    assert (await Conversation.get(id=conv.id)).status == "resolved"
    page = await shop.client.get(f"/inbox/{conv.id}")
    html = await page.text()
    assert "5/5" in html and "★★★★★" in html


async def test_group_comment_with_keyword_gets_reply_and_private_message(
        tg_any_db: Telegram) -> None:
    """Scenario 3: the typical rule, on a group comment in Ukrainian."""
    tg = tg_any_db
    status, _ = await tg.shop.api("POST", "/api/v1/rules", json={
        "name": "Price question", "event": "message_received",
        "conditions": {"public": True, "keywords": ["price", "ціна"]},
        "actions": [
            {"type": "reply", "template": "Prices are on shop.example/catalogue"},
            {"type": "reply_private",
             "template": "Hi {{ contact.first_name }}, I sent you our price list."},
            {"type": "add_label", "label": "pricing"}]})
    assert status == 201
    plain = tg.fake.push(TOKEN, tg.fake.group_message(GROUP, 4242, "Nice boots!",
                                                      first_name="Оля", language_code="uk"))
    comment = tg.fake.push(TOKEN, tg.fake.group_message(
        GROUP, 4242, "Яка ціна червоних чобіт?", first_name="Оля", language_code="uk"))
    [in_thread] = await sent_to(tg.bot, GROUP)
    assert in_thread["text"] == "Prices are on shop.example/catalogue"
    assert in_thread["reply_parameters"]["message_id"] == comment["message"]["message_id"]
    [private] = await sent_to(tg.bot, 4242)
    assert private["text"] == "Hi Оля, I sent you our price list."

    stored = await Message.get(external_id=f"{GROUP}:{comment['message']['message_id']}")
    first = await Message.get(external_id=f"{GROUP}:{plain['message']['message_id']}")
    assert first.conversation_id == stored.conversation_id  # type: ignore[attr-defined]
    conv = await Conversation.get(id=stored.conversation_id).prefetch_related(  # type: ignore[attr-defined]
        "contact")
    assert conv.is_public and conv.contact.name == "Shop fans"
    author = await Contact.get(id=stored.author_id)  # type: ignore[attr-defined]
    assert author.name == "Оля" and author.locale == "uk"

    async def labels() -> list[str]:
        # the label is the rule's last action; the replies it queued before it may be
        # delivered (and seen above) before the label is stored
        return [lb.name for lb in await conv.labels.all()]
    assert await until(labels) == ["pricing"]
    dm = await Conversation.get(contact_id=author.id, is_public=False)
    assert dm.channel_kind == "telegram"
    assert (await Rule.get(name="Price question")).fired == 1
    await asyncio.sleep(0.3)  # nothing else: no bot greeting in groups, no reply to "Nice"
    assert len([s for s in tg.bot.sent if int(s["chat_id"]) == GROUP]) == 1


async def test_discussion_threads_and_staff_replies_in_thread_or_privately(
        tg: Telegram) -> None:
    fake = tg.fake
    post = fake.channel_post_copy(GROUP, -1007777, "New collection is out!")
    fake.push(TOKEN, {"message": post})
    c1 = fake.push(TOKEN, fake.group_message(GROUP, 61, "Love the red ones", reply_to=post))
    c2 = fake.push(TOKEN, fake.group_message(GROUP, 62, "Same!", first_name="Chi",
                                             reply_to=c1["message"]))
    other = fake.push(TOKEN, fake.group_message(GROUP, 63, "When is the next sale?"))
    topic = fake.push(TOKEN, fake.group_message(GROUP, 64, "Sizes?", thread_id=88, topic=True))
    ids = [f"{GROUP}:{u['message']['message_id']}" for u in (c1, c2, other, topic)]
    stored = [await tg.stored(i) for i in ids]
    convs = [await Conversation.get(id=m.conversation_id) for m in stored]  # type: ignore[attr-defined]
    assert convs[0].thread_key == f"{GROUP}/post/{post['message_id']}"
    assert convs[1].id == convs[0].id  # a reply to a comment stays in the post's thread
    assert convs[2].thread_key is None and convs[2].id != convs[0].id
    assert convs[3].thread_key == f"{GROUP}/topic/88"
    assert not await Message.filter(external_id=f"{GROUP}:{post['message_id']}").exists()

    shop = tg.shop
    status, out = await shop.api("POST", f"/api/v1/conversations/{convs[0].id}/reply",
                                 json={"text": "Thanks both!", "reply_to_message_id":
                                       stored[0].id})
    assert status == 201
    [sent] = await sent_to(tg.bot, GROUP)
    assert sent["reply_parameters"]["message_id"] == c1["message"]["message_id"]
    status, _ = await shop.api("POST", f"/api/v1/conversations/{convs[3].id}/reply",
                               json={"text": "S to XL"})
    topic_reply = (await sent_to(tg.bot, GROUP, 2))[1]
    assert topic_reply["message_thread_id"] == 88  # stays in the forum topic
    assert topic_reply["reply_parameters"]["message_id"] == topic["message"]["message_id"]

    status, dm = await shop.api("POST", f"/api/v1/messages/{stored[1].id}/reply-privately",
                                json={"text": "Chi, a 10% code for you: RED10"})
    assert status == 201
    [private] = await sent_to(tg.bot, 62)
    assert private["text"] == "Chi, a 10% code for you: RED10"
    status, err = await shop.api("POST", f"/api/v1/messages/{dm['id']}/reply-privately",
                                 json={"text": "x"})
    assert status in (400, 404), err
    status, err = await shop.api("POST", f"/api/v1/conversations/{convs[2].id}/reply",
                                 json={"text": "x", "reply_to_message_id": stored[0].id})
    assert status == 400 and err["error"]["field"] == "reply_to_message_id"


async def link(shop: Shop, telegram_id: int, role: str = "admin") -> dict[str, Any]:
    if role == "admin":
        user = await User.get(email=shop.seed["email"])
        uid = user.id
    else:
        uid = (await shop.add_user(role))["id"]
    status, body = await shop.api("PATCH", f"/api/v1/users/{uid}",
                                  json={"telegram_user_id": telegram_id})
    assert status == 200 and body["telegram_user_id"] == telegram_id, body
    return dict(body)


async def test_staff_chat_reply_reaches_web_chat_customer_live(
        tg: Telegram, caplog: pytest.LogCaptureFixture) -> None:
    """Scenario 4, plus the staff commands and who may use them."""
    shop, fake = tg.shop, tg.fake
    await link(shop, 900)
    fake.push(TOKEN, fake.group_message(STAFF_CHAT, 900, "/staffchat", title="Staff"))
    [made] = await sent_to(tg.bot, STAFF_CHAT)
    assert "This chat is now the staff chat (notified: every new message)" in made["text"]
    _, accounts = await shop.api("GET", "/api/v1/channels")
    tg_account = next(a for a in accounts if a["kind"] == "telegram")
    assert tg_account["settings"]["staff_chat_id"] == str(STAFF_CHAT)

    visitor = await Visitor(shop).open()
    await visitor.say("Where is my parcel? Order 1042")
    await visitor.reply()  # the bot's greeting
    note = (await sent_to(tg.bot, STAFF_CHAT, 2))[1]
    assert note["text"].startswith("🆕 New conversation #")
    assert "Where is my parcel? Order 1042" in note["text"]
    conv_id = int(note["text"].split("#", 1)[1].split(" ", 1)[0])

    answer = fake.group_message(STAFF_CHAT, 900, "It left our shop today!", title="Staff",
                                reply_to=note["result"])
    fake.push(TOKEN, answer)
    live = await visitor.reply()
    assert live["text"] == "It left our shop today!"  # on the customer's own channel
    confirm = (await sent_to(tg.bot, STAFF_CHAT, 3))[2]
    assert confirm["text"].startswith("✅ Sent to")
    fake.push(TOKEN, answer)  # the same update again (a redelivery): not sent twice
    await asyncio.sleep(0.5)
    sent = await Message.filter(conversation_id=conv_id, origin="telegram")
    assert len(sent) == 1 and sent[0].sender_id is not None  # type: ignore[attr-defined]

    # Someone in the chat who is not linked: refused, logged, nothing reaches the customer.
    with caplog.at_level(logging.WARNING, logger="switchboard.commands"):
        fake.push(TOKEN, fake.group_message(STAFF_CHAT, 901, "I can answer too",
                                            title="Staff", reply_to=note["result"]))
        refusal = (await sent_to(tg.bot, STAFF_CHAT, 4))[3]
    assert "only the shop's staff" in refusal["text"] and "901" in refusal["text"]
    assert any(r.getMessage() == "staff command refused" for r in caplog.records)
    assert await Message.filter(conversation_id=conv_id, text="I can answer too").count() == 0

    fake.push(TOKEN, fake.group_message(STAFF_CHAT, 900, "/inbox", title="Staff"))
    summary = (await sent_to(tg.bot, STAFF_CHAT, 5))[4]["text"]
    assert "1 open" in summary and f"#{conv_id}" in summary
    fake.push(TOKEN, fake.group_message(STAFF_CHAT, 900, f"/assign {conv_id}", title="Staff"))
    assert "is assigned to you" in (await sent_to(tg.bot, STAFF_CHAT, 6))[5]["text"]
    conv = await Conversation.get(id=conv_id)
    assert conv.assignee_id == (await User.get(email=shop.seed["email"])).id  # type: ignore[attr-defined]
    fake.push(TOKEN, fake.group_message(STAFF_CHAT, 900, f"/resolve {conv_id}", title="Staff"))
    assert "is resolved" in (await sent_to(tg.bot, STAFF_CHAT, 7))[6]["text"]
    assert (await Conversation.get(id=conv_id)).status == "resolved"
    assert "Rate us" in (await visitor.reply())["text"]  # a person helped: CSAT follows
    fake.push(TOKEN, fake.group_message(STAFF_CHAT, 900, "/resolve", title="Staff"))
    assert "give a conversation number" in (await sent_to(tg.bot, STAFF_CHAT, 8))[7]["text"]

    # A customer trying a staff command in a private chat: refused, not stored.
    fake.push(TOKEN, fake.private_message(5303, "/inbox"))
    [no] = await sent_to(tg.bot, 5303)
    assert "only the shop's staff" in no["text"]
    assert not await Message.filter(text="/inbox").exists()
    # A linked marketer may not work the inbox.
    await link(shop, 902, role="marketer")
    fake.push(TOKEN, fake.private_message(902, f"/assign {conv_id}"))
    [role] = await sent_to(tg.bot, 902)
    assert "your role (marketer) cannot do that" in role["text"]


async def test_notification_modes(tg: Telegram) -> None:
    shop, fake = tg.shop, tg.fake
    account = next(a for a in (await shop.api("GET", "/api/v1/channels"))[1]
                   if a["kind"] == "telegram")
    status, err = await shop.api("PATCH", f"/api/v1/channels/{account['id']}",
                                 json={"settings": {"staff_notify": "sometimes"}})
    assert status == 400 and "staff_notify" in err["error"]["message"]
    status, changed = await shop.api("PATCH", f"/api/v1/channels/{account['id']}", json={
        "settings": {"staff_chat_id": str(STAFF_CHAT), "staff_notify": "needs_human",
                     "token": account["settings"]["token"]}})  # masked token: kept
    assert status == 200 and changed["settings"]["token"] == account["settings"]["token"]
    fake.push(TOKEN, fake.private_message(5404, "hello"))
    await sent_to(tg.bot, 5404)  # greeted, but no notification for a new conversation
    fake.push(TOKEN, fake.private_message(5404, "I want to talk to a person"))
    [note] = await sent_to(tg.bot, STAFF_CHAT)
    assert note["text"].startswith("🙋 #") and "needs a person" in note["text"]
    assert "I want to talk to a person" in note["text"]
    assert len([s for s in tg.bot.sent if int(s["chat_id"]) == STAFF_CHAT]) == 1
