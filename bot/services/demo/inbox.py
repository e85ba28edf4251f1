"""The demo inbox: conversations on several channels and in six languages, some waiting
for a person, some negative (scored as the listening pipeline stores scores), with
replies, notes, labels, an assignee and CSAT ratings. Customer texts are content, not UI:
they are not translated."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.models import (
    ChannelAccount,
    Contact,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    CsatRating,
    DeliveryStatus,
    Direction,
    Identity,
    Label,
    Message,
    Note,
    SentimentScore,
    User,
)
from bot.services.demo.marks import LABEL, MODEL, SUFFIX, ago
from bot.services.flows import texts

# kind -> the demo account's name; all disabled (no network), marked by the suffix
ACCOUNTS = {"webchat": "Web chat", "telegram": "Telegram", "email": "E-mail",
            "facebook": "Facebook Page", "instagram": "Instagram"}


@dataclass
class Chat:
    kind: str
    who: str
    locale: str
    # (direction, text, minutes ago); "out" is a staff reply, "bot" the bot's
    lines: list[tuple[str, str, int]]
    status: str = "open"
    handoff: bool = False
    negative: bool = False
    public: bool = False
    labels: list[str] = field(default_factory=list)
    assign: bool = False
    note: str = ""
    csat: int | None = None


CHATS = [
    Chat("webchat", "Nguyễn Thị Lan", "vi", [
        ("in", "Chào shop, áo sơ mi lụa còn size M màu xanh không ạ?", 48),
        ("out", "Chào chị Lan, size M màu xanh vẫn còn ạ. Chị muốn đặt mấy chiếc?", 41),
        ("in", "Cho em 2 chiếc, giao về Quận 3 mất mấy ngày ạ?", 12)],
        labels=["sales"], assign=True, note="Khách quen, đã mua 3 lần."),
    Chat("telegram", "Somchai Prasert", "th", [
        ("in", "สั่งของไปตั้งแต่อาทิตย์ที่แล้ว ยังไม่ได้รับเลย ช้ามาก ไม่พอใจครับ", 95),
        ("bot", "ขออภัยค่ะ กำลังส่งต่อให้เจ้าหน้าที่ดูแลนะคะ", 94)],
        handoff=True, negative=True, labels=["delivery"]),
    Chat("email", "Agnieszka Kowalska", "pl", [
        ("in", "Dzień dobry, otrzymałam uszkodzoną paczkę. Proszę o zwrot pieniędzy.", 300),
        ("out", "Bardzo przepraszamy! Wysłaliśmy etykietę zwrotną na Pani adres e-mail.",
         240),
        ("in", "Dziękuję, paczka już wysłana.", 60)],
        negative=True, labels=["returns"], assign=True,
        note="Zwrot zatwierdzony, czekamy na paczkę."),
    Chat("instagram", "Дмитрий Соколов", "ru", [
        ("in", "Здравствуйте! Есть ли доставка в Алматы?", 30)],
        handoff=True, labels=["sales"]),
    Chat("facebook", "Sok Dara", "km", [
        ("in", "តើអាវនេះមានពណ៌ខ្មៅទេ?", 20)], public=True),
    Chat("webchat", "Emily Carter", "en", [
        ("in", "Hi, can I change the delivery address on order #1042?", 60 * 26),
        ("out", "Of course, Emily - done. It ships tomorrow.", 60 * 25),
        ("in", "Perfect, thank you so much!", 60 * 25 - 5)],
        status="resolved", assign=True, csat=5),
    Chat("telegram", "Trần Minh Quân", "vi", [
        ("in", "Hàng giao sai màu, rất thất vọng!", 60 * 30),
        ("out", "Xin lỗi anh Quân, shop gửi đổi hàng mới ngay hôm nay ạ.", 60 * 29),
        ("in", "Ok, cảm ơn shop.", 60 * 28)],
        status="resolved", negative=True, assign=True, csat=3),
    Chat("email", "Marek Nowak", "pl", [
        ("in", "Czy mogę zapłacić przy odbiorze?", 60 * 50),
        ("out", "Tak, płatność przy odbiorze jest dostępna.", 60 * 49)],
        status="resolved", assign=True, csat=4),
    Chat("webchat", "Chanida Srisuk", "th", [
        ("in", "ใช้โค้ดส่วนลดไม่ได้ค่ะ", 60 * 70),
        ("out", "ขออภัยค่ะ ใช้โค้ด SPRING10 ได้แล้วนะคะ", 60 * 69)],
        status="resolved", assign=True, csat=2),
]


async def accounts() -> dict[str, ChannelAccount]:
    return {kind: await ChannelAccount.create(
        kind=kind, name=name + SUFFIX, secret=secrets.token_hex(16),
        settings={"demo": True}, enabled=False) for kind, name in ACCOUNTS.items()}


async def seed_inbox(admin: User | None, accts: dict[str, ChannelAccount]) -> list[Contact]:
    """The conversations; returns their contacts."""
    labels = {name: (await Label.get_or_create(name=name, defaults={"color": color}))[0]
              for name, color in ((LABEL, "#a855f7"), ("sales", "#16a34a"),
                                  ("delivery", "#f59e0b"), ("returns", "#dc2626"))}
    people: list[Contact] = []
    for n, chat in enumerate(CHATS):
        people.append(await _chat(n, chat, accts[chat.kind], admin, labels))
    return people


async def _chat(n: int, chat: Chat, account: ChannelAccount, admin: User | None,
                labels: dict[str, Label]) -> Contact:
    first, last = chat.lines[0][2], chat.lines[-1][2]
    contact = await Contact.create(name=chat.who + SUFFIX, locale=chat.locale, tags=["demo"],
                                   email=f"customer{n + 1}@demo.invalid")
    await Identity.create(contact=contact, channel_account=account, external_id=f"demo-{n}")
    resolved = chat.status == "resolved"
    conv = await Conversation.create(
        channel_account=account, channel_kind=chat.kind, contact=contact,
        status=ConversationStatus(chat.status), needs_human=chat.handoff,
        is_public=chat.public, thread_key=f"demo-post-{n}" if chat.public else None,
        assignee=admin if chat.assign else None, last_message_at=ago(minutes=last),
        last_message_preview=chat.lines[-1][1][:200],
        unread_count=0 if resolved or chat.lines[-1][0] != "in" else 1,
        resolved_at=ago(minutes=last - 2) if resolved else None)
    await Conversation.filter(id=conv.id).update(created_at=ago(minutes=first))
    await conv.labels.add(labels[LABEL], *(labels[x] for x in chat.labels))
    for way, text, minutes in chat.lines:
        msg = await _message(conv, account, way, text, admin)
        await Message.filter(id=msg.id).update(created_at=ago(minutes=minutes))
        if way == "in" and chat.negative:
            await SentimentScore.create(item_kind="message", item_id=msg.id,
                                        label="negative", score=0.91, model_version=MODEL,
                                        scores=_scores(0.91))
        elif way == "in":
            await SentimentScore.create(item_kind="message", item_id=msg.id,
                                        label="neutral", score=0.74, model_version=MODEL,
                                        scores={"negative": 0.08, "neutral": 0.74,
                                                "positive": 0.18})
    if chat.note:
        note = await Note.create(conversation=conv, author=admin, text=chat.note)
        await Note.filter(id=note.id).update(created_at=ago(minutes=first - 1))
    await _events(conv.id, chat, admin)
    if chat.csat is not None:  # the bot's question after resolving, then the answer
        ask = await Message.create(
            conversation=conv, channel_account=account, direction=Direction.OUTBOUND,
            text=texts.text(chat.locale, "csat_ask"), status=DeliveryStatus.SENT,
            origin="bot", buttons=[{"label": str(n), "payload": f"csat:{n}"}
                                   for n in range(1, 6)])
        await Message.filter(id=ask.id).update(created_at=ago(minutes=last - 3))
        rating = await CsatRating.create(conversation=conv, rating=chat.csat, assignee=admin)
        await CsatRating.filter(id=rating.id).update(created_at=ago(minutes=last - 10))
    return contact


async def _message(conv: Conversation, account: ChannelAccount, way: str, text: str,
                   admin: User | None) -> Message:
    inbound = way == "in"
    values: dict[str, Any] = {
        "conversation": conv, "channel_account": account, "text": text,
        "direction": Direction.INBOUND if inbound else Direction.OUTBOUND,
        "status": DeliveryStatus.RECEIVED if inbound else DeliveryStatus.SENT}
    if way == "out":
        values.update(sender=admin, origin="")
    elif way == "bot":
        values.update(origin="bot")
    return await Message.create(**values)


async def _events(conv_id: int, chat: Chat, admin: User | None) -> None:
    """The reports' history: hand-offs and resolutions, as the inbox records them."""
    at: list[tuple[str, datetime, int | None]] = []
    if chat.handoff:
        at.append(("handoff", ago(minutes=chat.lines[-1][2]), None))
    if chat.status == "resolved":
        at.append(("resolved", ago(minutes=chat.lines[-1][2] - 2),
                   admin.id if admin else None))
    for kind, when, actor in at:
        await ConversationEvent.create(conversation_id=conv_id, kind=kind, at=when,
                                       actor_id=actor)


def _scores(negative: float) -> dict[str, float]:
    rest = round((1 - negative) / 2, 4)
    return {"negative": negative, "neutral": rest, "positive": rest}
