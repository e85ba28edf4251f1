"""The customer bot: greeting and menu, FAQ answers, hand-off to a person, office hours
and CSAT. It is channel-agnostic: it reads stored messages and answers through the
outbox with :class:`~bot.core.channel.Button` quick replies, which Telegram shows as an
inline keyboard and the web-chat widget as buttons.

The bot stays out of the way of people:

* it never speaks in public conversations (groups, comment threads: rules do that);
* once the customer asked for a person (``needs_human``) or a staff member took the
  conversation (assigned), it is silent until the conversation is resolved;
* conversations it answered (an FAQ, a menu) wait in *pending*, so the open inbox holds
  only what needs a person; a question it could not answer stays *open*, and a hand-off
  makes the conversation *open* again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from bot.core.channel import Button
from bot.core.clean import db_id
from bot.core.events import (
    ConversationChanged,
    ConversationResolved,
    EventBus,
    HandoffRequested,
    MessageReceived,
)
from bot.core.time import utcnow
from bot.models import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    CsatRating,
    Direction,
    FaqEntry,
    FaqMiss,
    Followup,
    Message,
)
from bot.services.account_cache import channel_account
from bot.services.flows import faq, texts
from bot.services.replies import Outbox
from config import Settings, hours

log = logging.getLogger("switchboard.flows")
MENU_SIZE = 4
COMMENT_LEN = 2000  # of a CSAT comment
# Text is a CSAT comment only within this time after the rating (later it is a new
# question), and never when it asks for a person or the FAQ answers it.
COMMENT_WINDOW = timedelta(minutes=10)
# What people write when they want a person, in every language we serve (customers mix
# languages, so all lists are checked).
HUMAN_WORDS = (
    "talk to a person", "talk to someone", "real person", "human", "agent", "operator",
    "speak to someone", "speak to a person", "need a person",
    "nhân viên", "gặp người", "tư vấn viên", "คุยกับพนักงาน", "พนักงาน",
    "แอดมิน", "konsultant", "człowiek", "z człowiekiem", "оператор", "человек",
    "менеджер", "បុគ្គលិក", "និយាយជាមួយមនុស្ស",
)


def wants_human(text: str) -> bool:
    norm = f" {faq.normalize(text)} "
    return any(f" {faq.normalize(w)} " in norm or (len(w) > 6 and faq.normalize(w) in norm)
               for w in HUMAN_WORDS)


@dataclass
class Turn:
    """What the bot is answering: the message, its conversation and contact."""

    message: Message
    conv: Conversation
    locale: str
    key: str | None = None  # the followup this turn runs for: its replies are keyed by it

    @property
    def ref(self) -> str | None:
        """The ``source_ref`` of the turn's one message (each path sends one)."""
        return f"{self.key}:bot" if self.key is not None else None

    @property
    def lang(self) -> str:
        return texts.language(self.locale)


class CustomerBot:
    def __init__(self, outbox: Outbox, bus: EventBus, settings: Settings) -> None:
        self.outbox, self.bus, self.settings = outbox, bus, settings
        self.hours = hours.parse(settings.office_hours, settings.shop_timezone)
        self.kinds = {k.strip() for k in settings.bot_channels.split(",") if k.strip()}

    def answers_on(self, kind: str, account_settings: dict[str, Any]) -> bool:
        flag = (account_settings or {}).get("bot")
        return bool(flag) if flag is not None else kind in self.kinds

    # --- entry points (event consumers) ------------------------------------------------

    async def on_message(self, event: MessageReceived, key: str | None = None) -> None:
        account = await channel_account(event.account_id)  # cached: no query per message
        if account is None or not self.answers_on(event.channel_kind, account.settings):
            return
        msg = await Message.filter(id=event.message_id).prefetch_related(
            "conversation__contact").first()
        if msg is None or msg.conversation.is_public:
            return
        conv = msg.conversation
        turn = Turn(msg, conv, conv.contact.locale or "", key)
        payload = msg.payload or ""
        if payload.startswith("csat:"):
            await self.rate(turn, payload)
        elif not payload and await self.comment(turn):
            return  # the words after a rating: kept with it
        elif conv.needs_human or (conv.assignee_id is not None  # type: ignore[attr-defined]
                                  and await self.rated_before(turn) is None):
            return  # a person has it (just after a rating the bot hears a new request)
        elif payload == "human" or wants_human(msg.text):
            await self.handoff(turn)
        elif payload.startswith("faq:"):
            entry = await FaqEntry.filter(id=_int(payload[4:])).first()
            await (self.answer(turn, entry) if entry else self.greet(turn, handled=True))
        elif payload == "menu" or msg.text.strip().lower().startswith("/start"):
            await self.greet(turn, handled=True)
        else:
            entry = await lookup(msg.text, turn.locale)
            if entry is None and (not event.new_conversation or len(msg.text.split()) >= 3):
                await record_miss(msg)  # the reports list it (a first "hi there" is no question)
            if entry is not None:
                await self.answer(turn, entry)
            elif event.new_conversation:  # maybe just "hi"; if not, staff see it open
                await self.greet(turn, handled=False)
            else:
                await self.say(turn, texts.text(turn.locale, "no_match"),
                               await self.menu(turn.lang), handled=False)

    async def on_resolved(self, event: ConversationResolved, key: str | None = None) -> None:
        """Ask for a rating after a person helped (not after the bot alone)."""
        conv = await Conversation.filter(id=event.conversation_id).prefetch_related(
            "contact").first()
        if conv is None or conv.is_public:
            return
        account = await channel_account(conv.channel_account_id)  # type: ignore[attr-defined]
        if account is None or not self.answers_on(conv.channel_kind, account.settings):
            return
        helped = await Message.filter(conversation_id=conv.id, direction=Direction.OUTBOUND,
                                      sender_id__isnull=False).exists()
        if not helped:
            return
        locale = conv.contact.locale
        await self.outbox.send(conv.id, texts.text(locale, "csat_ask"), None, origin="bot",
                               buttons=[Button(str(n), f"csat:{n}") for n in range(1, 6)],
                               source_ref=f"{key}:csat" if key is not None else None)

    # --- what the bot does ---------------------------------------------------------------

    async def say(self, turn: Turn, text: str, buttons: list[Button], handled: bool) -> None:
        """Send a bot message. ``handled``: the bot answered, so the conversation waits on
        the customer (pending); otherwise a person should look at it (open)."""
        await self.outbox.send(turn.conv.id, text, None, buttons=buttons, origin="bot",
                               source_ref=turn.ref)
        before, after = ((ConversationStatus.OPEN, ConversationStatus.PENDING) if handled
                         else (ConversationStatus.PENDING, ConversationStatus.OPEN))
        await Conversation.filter(id=turn.conv.id, status=before, needs_human=False,
                                  assignee_id__isnull=True).update(status=after)

    async def greet(self, turn: Turn, handled: bool) -> None:
        name = (turn.conv.contact.name or "").split(" ")[0]
        text = texts.text(turn.locale, "greeting", name=name, shop=self.settings.shop_name)
        away = self.away_line(turn.locale)
        await self.say(turn, f"{text}\n\n{away}" if away else text, await self.menu(turn.lang),
                       handled)

    async def answer(self, turn: Turn, entry: FaqEntry) -> None:
        await self.say(turn, entry.answer, [Button(texts.text(turn.locale, "talk_to_person"),
                                                   "human")], handled=True)

    async def handoff(self, turn: Turn) -> None:
        """Answer first (keyed), then flag the conversation and record the staff
        notification it owes in one transaction: a run cut short before the flag runs
        again whole (its answer is not sent twice); after it, the bot is silent."""
        text = texts.text(turn.locale, "handoff")
        away = self.away_line(turn.locale)
        await self.outbox.send(turn.conv.id, f"{text}\n\n{away}" if away else text, None,
                               origin="bot", source_ref=turn.ref)
        async with in_transaction() as conn:
            await Conversation.filter(id=turn.conv.id).using_db(conn).update(
                needs_human=True, status=ConversationStatus.OPEN)
            await Followup.create(using_db=conn, kind="handoff", conversation_id=turn.conv.id,
                                  due_at=utcnow())
            await ConversationEvent.create(using_db=conn, conversation_id=turn.conv.id,
                                           kind="handoff", at=utcnow())
        self.bus.publish(ConversationChanged(turn.conv.id, "status"))  # live inbox flag
        self.bus.publish(HandoffRequested(turn.conv.id))
        log.info("hand-off to a person", extra={"conversation_id": turn.conv.id})

    async def rate(self, turn: Turn, payload: str) -> None:
        rating = _int(payload[5:])
        if rating is None or not 1 <= rating <= 5:
            return
        conv = turn.conv
        since = conv.resolved_at or conv.created_at
        existing = await CsatRating.filter(conversation_id=conv.id,
                                           created_at__gte=since).first()
        async with in_transaction() as conn:
            if existing is not None:  # changed their mind: one rating per resolution (a new
                await existing.delete(using_db=conn)  # row, so the reports see the change)
            await CsatRating.create(using_db=conn, conversation_id=conv.id, rating=rating,
                                    assignee_id=conv.assignee_id)  # type: ignore[attr-defined]
        await self.outbox.send(conv.id, texts.text(turn.locale, "csat_thanks", rating=rating),
                               None, origin="bot", source_ref=turn.ref)

    async def rated_before(self, turn: Turn) -> Message | None:
        """The customer's previous message, when it was a rating's button at most
        :data:`COMMENT_WINDOW` before this one."""
        before = await Message.filter(conversation_id=turn.conv.id, id__lt=turn.message.id,
                                      direction=Direction.INBOUND).order_by("-id").first()
        if before is None or not (before.payload or "").startswith("csat:"):
            return None
        if turn.message.created_at - before.created_at > COMMENT_WINDOW:
            return None
        return before

    async def comment(self, turn: Turn) -> bool:
        """Keep the customer's text as the comment of the rating they gave just before
        (their previous message was the rating's button, at most :data:`COMMENT_WINDOW`
        earlier, and it has no comment yet). Asking for a person, or a question the FAQ
        answers, is no comment: the bot goes on as with any message."""
        text = turn.message.text
        if wants_human(text) or await self.rated_before(turn) is None:
            return False
        rating = await CsatRating.filter(conversation_id=turn.conv.id).order_by("-id").first()
        if rating is None or rating.comment or await lookup(text, turn.locale) is not None:
            return False
        rating.comment = turn.message.text[:COMMENT_LEN]
        await rating.save(update_fields=["comment"])
        return True

    # --- knowledge ---------------------------------------------------------------------

    async def menu(self, lang: str) -> list[Button]:
        entries = await FaqEntry.filter(locale=lang, in_menu=True).order_by(
            "position", "id").limit(MENU_SIZE)
        if not entries and lang != texts.FALLBACK:
            entries = await FaqEntry.filter(locale=texts.FALLBACK, in_menu=True).order_by(
                "position", "id").limit(MENU_SIZE)
        buttons = [Button(_label(e.question), f"faq:{e.id}") for e in entries]
        return [*buttons, Button(texts.text(lang, "talk_to_person"), "human")]

    def away_line(self, locale: str | None, now: datetime | None = None) -> str:
        """The away message with the next opening time, or "" during office hours."""
        now = now or utcnow()
        if self.hours.is_open(now):
            return ""
        when = self.hours.next_open(now).strftime("%Y-%m-%d %H:%M")  # the same in any language
        return texts.text(locale, "away", opens_at=f"{when} ({self.settings.shop_timezone})")


async def lookup(text: str, locale: str | None) -> FaqEntry | None:
    """The FAQ entry that answers ``text``, in the contact's language or English."""
    lang = texts.language(locale)
    entries = await FaqEntry.filter(locale__in=list({lang, texts.FALLBACK}))
    match = faq.best(text, [(e.id, [e.question, *e.variants]) for e in entries])
    return next((e for e in entries if match and e.id == match.entry_id), None)


async def record_miss(msg: Message) -> None:
    """Record a question the FAQ could not answer (once per message: a turn may run
    again after a crash)."""
    text = msg.text.strip()
    if not text:
        return
    await FaqMiss.get_or_create(
        message_id=msg.id, defaults={
            "conversation_id": msg.conversation_id,  # type: ignore[attr-defined]
            "question": text[:300], "normalized": faq.normalize(text)[:300] or text[:300],
            "created_at": msg.created_at})


def _label(question: str) -> str:
    return question if len(question) <= 40 else question[:39] + "…"


def _int(value: str) -> int | None:
    return db_id(value)
