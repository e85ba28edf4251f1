"""The unified inbox: the single way messages come in, and what staff do to conversations.

:func:`ingest` is idempotent on ``(channel_account, external_id)`` and commits before it
returns, so an adapter that acknowledges after it can never lose an acknowledged message,
and a redelivery never makes a duplicate.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from tortoise.expressions import Q, Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from bot.core import metrics
from bot.core.channel import InboundMessage, IngestResult
from bot.core.clean import db_id, fit_key, without_nul
from bot.core.errors import InboxError, NotFound
from bot.core.events import ConversationChanged, ConversationResolved, EventBus, MessageReceived
from bot.core.i18n import lazy
from bot.core.ingest import ID_LEN, Writer, fit_inbound
from bot.core.time import utcnow
from bot.models import (
    ChannelAccount,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Followup,
    Label,
    Message,
    Note,
    NoteRevision,
    Role,
    User,
)
from bot.services import inbox_urgency

log = logging.getLogger("switchboard.inbox")



_kind_cache: dict[int, str] = {}  # account id -> kind; kinds never change


def forget_kinds() -> None:
    _kind_cache.clear()


async def account_kind(account_id: int) -> str:
    """The kind of an enabled channel account, cached (kinds never change)."""
    kind = _kind_cache.get(account_id)
    if kind is None:
        row = await ChannelAccount.filter(id=account_id).first().values("kind", "enabled")
        if row is None:
            raise NotFound("channel account")
        kind = _kind_cache[account_id] = row["kind"]
    return kind


class Intake:
    """The inbound path of one app: its ingest writer (the SQLite writer thread, or the
    ORM's connection on PostgreSQL), the reopen window, and the bus that hears of each new
    message. The composition root builds it when the database opens and closes it last."""

    def __init__(self, writer: Writer, bus: EventBus | None,
                 reopen_window: timedelta = timedelta(hours=72)) -> None:
        self.writer, self.bus, self.reopen_window = writer, bus, reopen_window
        # started right after each commit that stored a new message: its followup row
        # (bot.services.followups) runs at once; the clock's sweep is the safety net
        self.kick: Callable[[], None] | None = None

    async def ingest(self, msg: InboundMessage) -> IngestResult:
        """Store an inbound message exactly once and thread it into a conversation.

        Returns the stored ids; ``created`` is False when ``external_id`` was seen before.
        The transaction is committed when this returns (see ``bot.core.ingest``).
        """
        started = time.perf_counter()
        if _may_hold_nul(msg):
            msg = without_nul(msg)
        msg = fit_inbound(msg)
        kind = await account_kind(msg.channel_account_id)
        result = await self.writer.submit(msg, kind, self.reopen_window)
        if result.created:
            metrics.child(metrics.MESSAGES_INGESTED, kind).inc()
            metrics.child(metrics.INGEST_SECONDS, kind).observe(time.perf_counter() - started)
            if self.kick is not None:
                self.kick()
            if self.bus is not None:
                self.bus.publish(MessageReceived(
                    result.message_id, result.conversation_id, kind,
                    result.new_conversation, msg.channel_account_id))
        return result

    async def close(self) -> None:
        await self.writer.close()


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL, or a lone surrogate


def _may_hold_nul(msg: InboundMessage) -> bool:
    """A quick look (ingest is the hot path): False when no field can hold NUL or a lone
    surrogate (which PostgreSQL cannot store either: see bot.core.clean)."""
    c = msg.contact
    return bool(msg.meta or msg.attachments or msg.author) or _UNSTORABLE.search(
        f"{msg.text}{msg.external_id}{c.external_id}{c.name}{c.email}{c.phone}{c.locale}"
        f"{msg.thread_id}{msg.payload}") is not None


async def edit_inbound(account_id: int, external_id: str, text: str,
                       edited_at: datetime | None = None, bus: EventBus | None = None
                       ) -> int | None:
    """The customer edited a message: store the new text and keep the old one in its
    history. Returns the message id, or None if the original was never stored. A
    redelivered edit (same text) changes nothing."""
    text, external_id = without_nul(text), fit_key(without_nul(external_id), ID_LEN)
    async with in_transaction():
        msg = await Message.select_for_update().filter(
            channel_account_id=account_id, external_id=external_id).first()
        if msg is None:
            return None
        if msg.text != text:
            msg.history = [*msg.history, {"text": msg.text,
                                          "replaced_at": (edited_at or utcnow()).isoformat()}]
            msg.text = text
            await msg.save(update_fields=["text", "history"])
    if bus is not None:
        bus.publish(ConversationChanged(msg.conversation_id,  # type: ignore[attr-defined]
                                        "message"))
    return msg.id


# --- listing --------------------------------------------------------------------------------

@dataclass
class ListFilter:
    status: ConversationStatus | None = ConversationStatus.OPEN
    channel: str | None = None  # a channel kind
    account_id: int | None = None
    assignee: str | None = None  # user id, "me", or "none"
    label: str | None = None
    q: str | None = None
    sort: str = "recent"  # or "urgent": see bot.services.inbox_urgency
    page: int = 1
    per_page: int = 25


def _filtered(f: ListFilter, me: User | None) -> QuerySet[Conversation]:
    qs = Conversation.all()
    if f.channel:
        qs = qs.filter(channel_kind=f.channel)
    if f.account_id:
        qs = qs.filter(channel_account_id=f.account_id)
    if f.assignee == "none":
        qs = qs.filter(assignee_id__isnull=True)
    elif f.assignee == "me" and me is not None:
        qs = qs.filter(assignee_id=me.id)
    elif f.assignee and (user_id := db_id(f.assignee)) is not None:
        qs = qs.filter(assignee_id=user_id)
    if f.label:
        qs = qs.filter(labels__name=f.label)
    if f.q:
        q = f.q.strip()
        qs = qs.filter(
            Q(contact__name__icontains=q) | Q(contact__email__icontains=q)
            | Q(id__in=Subquery(Message.filter(text__icontains=q).values("conversation_id")))
        )
    return qs


async def list_conversations(f: ListFilter, me: User | None = None) -> dict[str, Any]:
    """One page of conversations in ``f.sort`` order (newest activity first, or most
    urgent first), each with its sentiment and waiting time, with counts per status."""
    qs = _filtered(f, me)
    counts = {s.value: 0 for s in ConversationStatus}
    for row in await qs.annotate(n=Count("id")).group_by("status").values("status", "n"):
        counts[str(row["status"])] = row["n"]
    if f.status is not None:
        qs = qs.filter(status=f.status)
    rows = await inbox_urgency.page_rows(qs, f.sort, (f.page - 1) * f.per_page, f.per_page)
    ids = [r["id"] for r in rows]
    labels: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        through = await Conversation.filter(id__in=ids).values("id", "labels__name")
        for t in through:
            if t["labels__name"]:
                labels[t["id"]].append(t["labels__name"])
    items = [{
        "id": r["id"], "status": str(r["status"]), "channel": r["channel_kind"],
        "channel_account_id": r["channel_account_id"],
        "contact": {"id": r["contact_id"], "name": r["contact__name"],
                    "email": r["contact__email"]},
        "assignee_id": r["assignee_id"], "unread_count": r["unread_count"],
        "last_message_at": r["last_message_at"], "preview": r["last_message_preview"],
        "snoozed_until": r["snoozed_until"], "thread_id": r["thread_key"],
        "needs_human": r["needs_human"], "public": r["is_public"],
        "labels": sorted(labels[r["id"]]),
        "sentiment": r["sentiment"], "waiting_since": r["waiting_since"],
    } for r in rows]
    unread = sum(r["unread_count"] for r in items)
    return {"items": items, "counts": counts, "page": f.page, "per_page": f.per_page,
            "unread_on_page": unread,
            "inbox_zero": f.status == ConversationStatus.OPEN and counts["open"] == 0}


async def get_conversation(conversation_id: int) -> Conversation:
    conv = await Conversation.filter(id=conversation_id).prefetch_related(
        "contact", "labels", "assignee", "channel_account").first()
    if conv is None:
        raise NotFound("conversation", "conversation_id")
    return conv


async def thread(conversation_id: int, shown: bool = False) -> list[dict[str, Any]]:
    """Messages and notes of one conversation in time order; notes are marked private.
    ``shown``: for a page, which also shows a failed reply's ``error_i18n``
    (:mod:`bot.core.said`; the API sends the ``error`` text only)."""
    msgs = await Message.filter(conversation_id=conversation_id).order_by("id").values(
        "id", "direction", "text", "attachments", "history", "status", "error", "attempts",
        "sender__name", "sender__email", "author_id", "author__name", "payload", "buttons",
        "origin", "reply_to_id", "created_at", "sent_at", *(("error_i18n",) if shown else ()))
    notes = await Note.filter(conversation_id=conversation_id, deleted_at=None).values(
        "id", "text", "author_id", "author__name", "author__email", "created_at", "updated_at")
    revs: dict[int, int] = {}
    if notes:
        for r in await NoteRevision.filter(note_id__in=[n["id"] for n in notes]).annotate(
                n=Count("id")).group_by("note_id").values("note_id", "n"):
            revs[r["note_id"]] = r["n"]
    items: list[dict[str, Any]] = [{"type": "message", **m, "direction": str(m["direction"]),
                                    "status": str(m["status"])} for m in msgs]
    items += [{"type": "note", **n, "edits": revs.get(n["id"], 0)} for n in notes]
    items.sort(key=lambda i: (i["created_at"], 0 if i["type"] == "message" else 1, i["id"]))
    return items


async def mark_read(conversation_id: int, bus: EventBus | None = None) -> None:
    n = await Conversation.filter(id=conversation_id, unread_count__gt=0).update(unread_count=0)
    if n and bus:
        bus.publish(ConversationChanged(conversation_id, "read"))


# --- staff actions --------------------------------------------------------------------------

async def set_status(conversation_id: int, status: ConversationStatus,
                     snoozed_until: datetime | None = None,
                     bus: EventBus | None = None,
                     actor_id: int | None = None) -> Conversation:
    """Change a conversation's status; ``actor_id``: the staff member who did it (the
    activity log's, :class:`~bot.models.ConversationEvent`)."""
    conv = await get_conversation(conversation_id)
    now = utcnow()
    if status == ConversationStatus.SNOOZED:
        if snoozed_until is None:
            raise InboxError(lazy("snoozing needs a time to wake up"), "invalid",
                             "snoozed_until")
        if snoozed_until.tzinfo is None:
            snoozed_until = snoozed_until.replace(tzinfo=UTC)
        if snoozed_until <= now:
            raise InboxError(lazy("snooze time must be in the future"), "invalid",
                             "snoozed_until")
    newly_resolved = (status == ConversationStatus.RESOLVED
                      and conv.status != ConversationStatus.RESOLVED)
    # Only resolved -> open is a reopen (the reports count it). Setting a resolved
    # conversation aside (pending, snoozed) is logged as nothing: nobody took it back yet.
    reopened = (conv.status == ConversationStatus.RESOLVED
                and status == ConversationStatus.OPEN)
    conv.status = status
    conv.snoozed_until = snoozed_until if status == ConversationStatus.SNOOZED else None
    conv.resolved_at = now if status == ConversationStatus.RESOLVED else None
    if status == ConversationStatus.RESOLVED:
        conv.needs_human = False  # the bot may speak again
    async with in_transaction() as conn:
        if newly_resolved:  # only the one change that resolved it owes the followup
            newly_resolved = bool(await Conversation.filter(id=conv.id).exclude(
                status=ConversationStatus.RESOLVED).using_db(conn).update(status=status))
        if reopened:  # a staff member took a resolved conversation back (once)
            reopened = bool(await Conversation.filter(
                id=conv.id, status=ConversationStatus.RESOLVED).using_db(conn).update(
                    status=status))
        await conv.save(using_db=conn, update_fields=["status", "snoozed_until",
                                                      "resolved_at", "needs_human"])
        if newly_resolved:  # rules on resolving and the bot's CSAT question
            await Followup.create(using_db=conn, kind="resolved", conversation_id=conv.id,
                                  due_at=now)
        if newly_resolved or reopened:  # the reports' history, with the change itself
            await ConversationEvent.create(
                using_db=conn, conversation_id=conv.id, actor_id=actor_id,
                kind="resolved" if newly_resolved else "reopened", at=now)
    if bus:
        bus.publish(ConversationChanged(conversation_id, "status"))
        if newly_resolved:
            bus.publish(ConversationResolved(conversation_id))
    return conv


async def wake_snoozed(bus: EventBus | None = None) -> int:
    """Reopen snoozed conversations whose time has come. Called by the clock."""
    now = utcnow()
    due = await Conversation.filter(status=ConversationStatus.SNOOZED,
                                    snoozed_until__lte=now).values_list("id", flat=True)
    woke = 0
    for cid in due:
        conv_id = int(cid)  # type: ignore[call-overload]
        woke += await Conversation.filter(id=conv_id, status=ConversationStatus.SNOOZED).update(
            status=ConversationStatus.OPEN, snoozed_until=None)
        if bus:
            bus.publish(ConversationChanged(conv_id, "status"))
    return woke


async def assign(conversation_id: int, assignee: int | str | None,
                 bus: EventBus | None = None) -> Conversation:
    """Assign to a user id, to nobody (None), or ``"round_robin"`` over active staff."""
    conv = await get_conversation(conversation_id)
    user: User | None = None
    if assignee == "round_robin":
        user = await next_round_robin()
    elif assignee is not None:
        user = await User.filter(id=int(assignee), is_active=True,
                                 role__in=[Role.ADMIN, Role.AGENT]).first()
        if user is None:
            raise NotFound("active agent or admin", "assignee_id")
    conv.assignee = user
    await conv.save(update_fields=["assignee_id"])
    if bus:
        bus.publish(ConversationChanged(conversation_id, "assignee"))
    return conv


async def next_round_robin() -> User:
    """The active agent or admin who was assigned longest ago (never assigned first)."""
    async with in_transaction() as conn:
        staff = await User.filter(is_active=True, role__in=[Role.ADMIN, Role.AGENT]).using_db(
            conn).order_by("id")
        if not staff:
            raise InboxError(lazy("there is no active agent to assign to"), "no_agents")
        epoch = datetime.min.replace(tzinfo=UTC)
        user = min(staff, key=lambda u: (u.last_assigned_at or epoch, u.id))
        user.last_assigned_at = utcnow()
        await user.save(using_db=conn, update_fields=["last_assigned_at"])
    return user


async def set_labels(conversation_id: int, names: list[str],
                     bus: EventBus | None = None) -> list[str]:
    conv = await get_conversation(conversation_id)
    clean = sorted({n.strip() for n in names if n.strip()})
    labels = [(await Label.get_or_create(name=n))[0] for n in clean]
    async with in_transaction():
        await conv.labels.clear()
        if labels:
            await conv.labels.add(*labels)
    if bus:
        bus.publish(ConversationChanged(conversation_id, "labels"))
    return clean


async def add_note(conversation_id: int, author: User, text: str,
                   bus: EventBus | None = None) -> Note:
    await get_conversation(conversation_id)
    if not text.strip():
        raise InboxError(lazy("a note needs some text"), "invalid", "text")
    note = await Note.create(conversation_id=conversation_id, author=author, text=text)
    if bus:
        bus.publish(ConversationChanged(conversation_id, "note"))
    return note


async def edit_note(note_id: int, editor: User, text: str,
                    bus: EventBus | None = None) -> Note:
    """Replace a note's text, keeping the old text as a revision. Any staff may edit."""
    if not text.strip():
        raise InboxError(lazy("a note needs some text"), "invalid", "text")
    async with in_transaction() as conn:
        note = await Note.filter(id=note_id, deleted_at=None).using_db(conn).first()
        if note is None:
            raise NotFound("note", "note_id")
        if note.text != text:
            await NoteRevision.create(using_db=conn, note_id=note.id, text=note.text,
                                      edited_by=editor)
            note.text = text
            await note.save(using_db=conn, update_fields=["text", "updated_at"])
    if bus:
        bus.publish(ConversationChanged(note.conversation_id, "note"))  # type: ignore[attr-defined]
    return note


INTAKE: web.AppKey[Intake] = web.AppKey("intake")
