"""The customer bot (bot/flows) on the web-chat widget, its knowledge base and rules API,
and the pure parts: FAQ matching, office hours, texts per locale, rule conditions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.models import Conversation, CsatRating, FaqEntry, Message
from bot.services.flows import faq, texts
from bot.services.flows.customer import wants_human
from bot.services.rule_spec import Conditions, holds
from config import hours
from tests.channels.test_telegram import until
from tests.conftest import Shop, make_settings, start_shop

# --- pure parts ------------------------------------------------------------------------------

KB = [(1, ["How long does delivery take?", "delivery time", "when will my order arrive"]),
      (2, ["What is your return policy?", "can I return an item", "refund"]),
      (3, ["ส่งของกี่วัน", "ระยะเวลาจัดส่ง"]),
      (4, ["Сколько стоит доставка?", "цена доставки"])]


@pytest.mark.parametrize(("text", "want"), [
    ("How long does delivery take?", 1),
    ("how long delivry takes", 1),                 # typo
    ("take delivery long how", 1),                 # word order
    ("can i get a refund pls", 2),
    ("ส่งของกี่วันคะ", 3),                            # Thai, no spaces
    ("сколько стоит доставка в Минск", 4),
    ("hello", None),
    ("what are your opening hours", None),
])
def test_faq_matching_tolerates_typos_and_order(text: str, want: int | None) -> None:
    match = faq.best(text, KB)
    assert (match.entry_id if match else None) == want


def test_office_hours_open_closed_and_next_opening() -> None:
    oh = hours.parse("mon-fri 09:00-18:00, sat 10:00-14:00", "Asia/Bangkok")
    tue_noon = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 12:00 in Bangkok
    assert oh.is_open(tue_noon)
    sat_night = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # Sat 22:00 local
    assert not oh.is_open(sat_night)
    assert oh.next_open(sat_night).strftime("%a %H:%M") == "Mon 09:00"
    overnight = hours.parse("fri 22:00-02:00", "UTC")
    assert overnight.is_open(datetime(2026, 11, 28, 1, 0, tzinfo=UTC))  # Sat 01:00
    assert hours.parse("", "UTC").is_open(sat_night)
    with pytest.raises(hours.HoursError, match="not a day"):
        hours.parse("someday 09:00-10:00")
    with pytest.raises(hours.HoursError, match="timezone"):
        hours.parse("mon 09:00-10:00", "Mars/Base")


def test_office_hours_follow_dst() -> None:
    oh = hours.parse("mon-sun 09:00-17:00", "Europe/Warsaw")
    summer = datetime(2026, 7, 1, 7, 30, tzinfo=UTC)   # 09:30 CEST
    winter = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)  # 08:30 CET
    assert oh.is_open(summer) and not oh.is_open(winter)


def test_every_locale_has_every_text_and_falls_back_to_english() -> None:
    wanted = texts.names()
    assert {"greeting", "handoff", "away", "csat_ask", "csat_thanks", "no_match",
            "talk_to_person"} <= wanted
    for lang in texts.LOCALES:
        assert texts.defined(lang) == wanted, lang
    greetings = {texts.text(lang, "greeting", name="", shop="X") for lang in texts.LOCALES}
    assert len(greetings) == len(texts.LOCALES)  # really translated, not copies
    assert texts.text("vi-VN", "talk_to_person") == "Nói chuyện với nhân viên"
    assert texts.text("de", "talk_to_person") == "Talk to a person"  # fallback
    assert texts.text(None, "csat_thanks", rating=4) == "Thank you for rating us 4/5!"


def test_wanting_a_person_in_any_language() -> None:
    for said in ("Can I talk to a person?", "cho tôi gặp nhân viên", "позовите оператора",
                 "Chcę rozmawiać z konsultantem", "ขอคุยกับพนักงานหน่อย"):
        assert wants_human(said), said
    assert not wants_human("how long is delivery")


def test_rule_conditions() -> None:
    facts: dict[str, Any] = dict(kind="telegram", public=True, text="What is the ціна?",
                                 locale="uk", labels={"vip"}, attributes={"tier": "gold"},
                                 local_time=datetime(2026, 1, 1, 20, 0).time())
    assert holds(Conditions(), **facts)
    assert holds(Conditions(keywords=["price", "ціна"], public=True), **facts)
    assert not holds(Conditions(keywords=["pric"]), **facts)  # whole words only
    assert not holds(Conditions(public=False), **facts)
    assert holds(Conditions(regex=r"\?$", channels=["telegram"]), **facts, matches={r"\?$"})
    assert not holds(Conditions(regex=r"\?$"), **facts, matches=set())
    assert not holds(Conditions(channels=["webchat"]), **facts)
    assert holds(Conditions.model_validate({"time_of_day": {"from": "18:00", "to": "09:00"}}),
                 **facts)
    assert not holds(Conditions.model_validate({"time_of_day": {"from": "09:00",
                                                                "to": "18:00"}}), **facts)
    assert holds(Conditions(labels=["vip"], attributes={"tier": "gold"}), **facts)
    assert not holds(Conditions(languages=["en"]), **facts)


# --- the bot on the web-chat widget ------------------------------------------------------------

class Visitor:
    """A customer in the web-chat widget, speaking its websocket protocol."""

    def __init__(self, shop: Shop) -> None:
        self.shop, self.frames = shop, []  # type: ignore[var-annotated]

    async def open(self, locale: str = "en") -> Visitor:
        self.account = self.shop.seed["webchat_account_id"]
        self.locale = locale
        await self.shop.client.get(f"/chat?account={self.account}")
        self.ws = await self.shop.client.ws_connect(f"/chat/ws?account={self.account}")
        assert (await self.ws.receive_json(timeout=5))["type"] == "hello"
        return self

    async def say(self, text: str, payload: str | None = None) -> int:
        frame: dict[str, Any] = {"type": "button" if payload else "message", "text": text,
                                 "client_id": uuid.uuid4().hex, "locale": self.locale}
        if payload:
            frame["payload"] = payload
        await self.ws.send_json(frame)
        while True:
            f = await self.ws.receive_json(timeout=5)
            if f["type"] == "ack":
                return int(f["id"])
            self.frames.append(f)

    async def reply(self) -> dict[str, Any]:
        """The next message the shop sends."""
        while True:
            f = self.frames.pop(0) if self.frames else await self.ws.receive_json(timeout=10)
            if f["type"] == "message":
                return dict(f)

    async def silence(self) -> None:
        try:
            f = await self.ws.receive_json(timeout=0.6)
        except TimeoutError:
            return
        raise AssertionError(f"the bot should be silent, got {f}")


async def bot_shop(aiohttp_client: Any, tmp_path: Path, **over: Any) -> Shop:
    shop = await start_shop(aiohttp_client, make_settings(
        tmp_path, bot_channels="webchat,telegram", shop_name="Linh's Shoes", **over))
    await FaqEntry.all().delete()  # this knowledge base, not the demo's
    for entry in (
        {"locale": "en", "question": "How long does delivery take?", "in_menu": True,
         "variants": ["delivery time", "when will my order arrive"],
         "answer": "Delivery takes 2-3 days."},
        {"locale": "en", "question": "What is your return policy?", "in_menu": True,
         "variants": ["refund"], "answer": "30 days, free returns."},
        {"locale": "vi", "question": "Giao hàng mất bao lâu?", "in_menu": True,
         "variants": ["thời gian giao hàng"], "answer": "Giao hàng mất 2-3 ngày."},
    ):
        status, body = await shop.api("POST", "/api/v1/faq", json=entry)
        assert status == 201, body
    return shop


async def conversation_of(message_id: int) -> Conversation:
    msg = await Message.get(id=message_id)
    return await Conversation.get(id=msg.conversation_id)  # type: ignore[attr-defined]


async def test_webchat_greeting_menu_faq_handoff_and_csat(aiohttp_client: Any,
                                                          tmp_path: Path) -> None:
    shop = await bot_shop(aiohttp_client, tmp_path)
    v = await Visitor(shop).open()
    first = await v.say("hi there")
    greeting = await v.reply()
    assert greeting["text"].startswith("Hi! Welcome to Linh's Shoes.")
    assert [b["label"] for b in greeting["buttons"]] == [
        "How long does delivery take?", "What is your return policy?", "Talk to a person"]
    conv = await conversation_of(first)
    assert conv.status == "open"  # a bare "hi" is not answered: staff still see it

    # A menu button, then a typed question with a typo: both answered from the FAQ.
    await v.say("What is your return policy?", payload=greeting["buttons"][1]["payload"])
    assert (await v.reply())["text"] == "30 days, free returns."
    await v.say("how long delivry takes?")
    answer = await v.reply()
    assert answer["text"] == "Delivery takes 2-3 days."
    assert answer["buttons"] == [{"label": "Talk to a person", "payload": "human"}]
    conv = await conversation_of(first)
    assert conv.status == "pending"  # answered by the bot, waiting on the customer
    await v.say("do you sell gift cards?")
    assert "did not understand" in (await v.reply())["text"]
    assert (await conversation_of(first)).status == "open"  # unanswered: staff see it
    await v.say("and the delivery time?")
    await v.reply()
    assert (await conversation_of(first)).status == "pending"

    # Talk to a person: needs a human, open again, then the bot stays silent.
    await v.say("Talk to a person", payload="human")
    assert "A person will answer you here" in (await v.reply())["text"]
    conv = await conversation_of(first)
    assert conv.needs_human and conv.status == "open"
    await v.say("how long does delivery take?")
    await v.silence()

    # Staff answer from the inbox API, then resolve: CSAT with five buttons.
    status, _ = await shop.api("POST", f"/api/v1/conversations/{conv.id}/reply",
                               json={"text": "Hi, I am Mai. Your order ships today."})
    assert status == 201
    assert (await v.reply())["text"] == "Hi, I am Mai. Your order ships today."
    status, _ = await shop.api("POST", f"/api/v1/conversations/{conv.id}/status",
                               json={"status": "resolved"})
    ask = await v.reply()
    assert "Rate us from 1" in ask["text"]
    assert [b["payload"] for b in ask["buttons"]] == [f"csat:{n}" for n in range(1, 6)]
    await v.say("4", payload="csat:4")
    assert (await v.reply())["text"] == "Thank you for rating us 4/5!"
    await v.say("5", payload="csat:5")  # changed their mind: still one rating
    await v.reply()
    conv = await Conversation.get(id=conv.id)
    assert conv.status == "resolved" and not conv.needs_human  # a rating does not reopen
    assert [r.rating for r in await CsatRating.filter(conversation_id=conv.id)] == [5]
    _, detail = await shop.api("GET", f"/api/v1/conversations/{conv.id}")
    assert [r["rating"] for r in detail["ratings"]] == [5]
    page = await shop.client.get(f"/inbox/{conv.id}", headers=shop.auth())
    assert page.status in (200, 302)


async def test_vietnamese_customer_gets_vietnamese_texts(aiohttp_client: Any,
                                                         tmp_path: Path) -> None:
    shop = await bot_shop(aiohttp_client, tmp_path)
    v = await Visitor(shop).open(locale="vi-VN")
    await v.say("xin chào")
    greeting = await v.reply()
    assert greeting["text"].startswith("Xin chào! Chào mừng bạn đến với Linh's Shoes.")
    assert [b["label"] for b in greeting["buttons"]] == [
        "Giao hàng mất bao lâu?", "Nói chuyện với nhân viên"]
    await v.say("thoi gian giao hang")  # without diacritics
    assert (await v.reply())["text"] == "Giao hàng mất 2-3 ngày."


async def test_away_message_outside_office_hours(aiohttp_client: Any, tmp_path: Path) -> None:
    later = datetime.now(UTC) + timedelta(days=2)
    day = later.strftime("%a").lower()
    shop = await bot_shop(aiohttp_client, tmp_path, office_hours=f"{day} 10:00-11:00")
    v = await Visitor(shop).open()
    await v.say("I need a human please")
    text = (await v.reply())["text"]
    assert "A person will answer you here" in text
    assert f"We are away right now. Our team will answer from {later:%Y-%m-%d} 10:00 (UTC)" \
        in text


async def test_bot_off_for_an_account(aiohttp_client: Any, tmp_path: Path) -> None:
    shop = await bot_shop(aiohttp_client, tmp_path)
    status, _ = await shop.api("PATCH", f"/api/v1/channels/{shop.seed['webchat_account_id']}",
                               json={"settings": {"bot": False}})
    assert status == 200
    v = await Visitor(shop).open()
    await v.say("how long does delivery take?")
    await v.silence()


# --- managing the knowledge base and rules -----------------------------------------------------

async def test_faq_and_rules_api(aiohttp_client: Any, tmp_path: Path) -> None:
    shop = await bot_shop(aiohttp_client, tmp_path)
    status, hit = await shop.api("GET", "/api/v1/faq/match?q=refund%20please&locale=en")
    assert status == 200 and hit["entry"]["answer"] == "30 days, free returns."
    status, err = await shop.api("POST", "/api/v1/faq", json={
        "locale": "de", "question": "x", "answer": "y"})
    assert status == 422 and err["error"]["field"] == "locale"
    _, entries = await shop.api("GET", "/api/v1/faq")
    eid = entries[0]["id"]
    status, changed = await shop.api("PATCH", f"/api/v1/faq/{eid}",
                                     json={"variants": ["shipping time", " "]})
    assert status == 200 and changed["variants"] == ["shipping time"]
    assert (await shop.api("DELETE", f"/api/v1/faq/{eid}"))[0] == 200
    assert (await shop.api("DELETE", f"/api/v1/faq/{eid}"))[0] == 404

    rule = {"name": "Price question", "event": "message_received",
            "conditions": {"public": True, "keywords": ["price", "ціна"]},
            "actions": [{"type": "reply", "template": "Prices: shop.example/catalogue"},
                        {"type": "reply_private",
                         "template": "Hi {{ contact.first_name }}, here is our price list."}]}
    status, created = await shop.api("POST", "/api/v1/rules", json=rule)
    assert status == 201, created
    assert created["conditions"] == rule["conditions"] and created["fired"] == 0
    for bad, where in (
        ({"actions": [{"type": "explode"}]}, "actions"),
        ({"actions": []}, "actions"),
        ({"conditions": {"regex": "("}}, "regex"),
        ({"conditions": {"colour": "red"}}, "colour"),
        ({"actions": [{"type": "reply", "template": "{{ broken"}]}, "template"),
        ({"actions": [{"type": "assign", "to": 999}]}, "active user"),
    ):
        status, err = await shop.api("POST", "/api/v1/rules", json={**rule, **bad})
        assert status in (400, 422), (bad, err)
        assert where in err["error"]["message"] or where == err["error"].get("field"), err
    status, off = await shop.api("PATCH", f"/api/v1/rules/{created['id']}",
                                 json={"enabled": False})
    assert status == 200 and off["enabled"] is False and off["actions"] == rule["actions"]
    agent = await shop.add_user("agent")
    status, _ = await shop.api("POST", "/api/v1/rules", token=agent["api_token"], json=rule)
    assert status == 403
    status, listed = await shop.api("GET", "/api/v1/rules", token=agent["api_token"])
    assert status == 200 and len(listed) == 1


async def test_rules_on_created_received_and_resolved(shop: Shop) -> None:
    """Each event runs its rules: created assigns round-robin, a regex on a received
    message labels and resolves, and resolving adds a label."""
    agent = await shop.add_user("agent")
    for rule in (
        {"name": "Share the work", "event": "conversation_created",
         "conditions": {"channels": ["api"]},
         "actions": [{"type": "assign", "to": "round_robin"}]},
        {"name": "Thanks closes", "event": "message_received",
         "conditions": {"regex": r"(?i)^thanks?[.!]*$", "languages": ["en"]},
         "actions": [{"type": "add_label", "label": "thanked"}, {"type": "resolve"}]},
        {"name": "Mark done", "event": "conversation_resolved", "conditions": {},
         "actions": [{"type": "add_label", "label": "done"}]},
    ):
        status, body = await shop.api("POST", "/api/v1/rules", json=rule)
        assert status == 201, body
    resp = await shop.inbound({"external_id": "r1", "text": "Where is my order?",
                               "contact": {"external_id": "c-9", "locale": "en-GB"}})
    conv_id = (await resp.json())["conversation_id"]

    async def conv() -> dict[str, Any]:
        return dict((await shop.api("GET", f"/api/v1/conversations/{conv_id}"))[1])
    await until(lambda: _async(lambda c: c["assignee_id"] is not None, conv))
    assert (await conv())["status"] == "open"
    await shop.inbound({"external_id": "r2", "text": "Thanks!",
                        "contact": {"external_id": "c-9"}})
    done = await until(lambda: _async(lambda c: "done" in c["labels"], conv))
    assert done["status"] == "resolved" and done["labels"] == ["done", "thanked"]
    assert done["assignee_id"] in {agent["id"], 1}
    _, rules = await shop.api("GET", "/api/v1/rules")
    assert [r["fired"] for r in rules] == [1, 1, 1]


async def _async(pred: Any, get: Any) -> Any:
    value = await get()
    return value if pred(value) else None
