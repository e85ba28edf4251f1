"""The outbound path: store first, then deliver, then record the outcome.

A reply is stored as an outbound ``Message`` with status ``pending`` before any network I/O,
so a crash never loses it: the clock's sweep (:func:`deliver_due`) picks up anything pending
or retrying whose time has come. A delivery attempt first claims the row with a lease
(a compare-and-set ``UPDATE``), so two workers or a sweep racing a fresh send never deliver
the same message twice at the same time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.core import due, metrics, vault
from bot.core.attachments import rows as file_rows
from bot.core.channel import (
    AccountInfo,
    Button,
    ChannelAdapter,
    DeliveryError,
    OutboundMessage,
    OutcomeUnknown,
    PermanentDeliveryError,
    RecipientUnreachable,
)
from bot.core.errors import InboxError, NotFound
from bot.core.events import EventBus, MessageStored
from bot.core.i18n import N_, lazy
from bot.core.ingest import PREVIEW_LEN
from bot.core.outfiles import SentParts
from bot.core.said import Said, Value, data, english
from bot.core.time import utcnow
from bot.models import (
    ChannelAccount,
    Contact,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Identity,
    Message,
    MessageAttachment,
    User,
)
from bot.services import attachments
from config import Settings

log = logging.getLogger("switchboard.replies")
_DUE = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
OUTBOX_DUE = due.DueTable("messages", "next_attempt_at",
                          where="direction = 'out' AND status IN ('pending', 'retrying')")


class Outbox:
    """Delivers stored outbound messages through the channel adapters."""

    def __init__(self, adapters: Mapping[str, ChannelAdapter], bus: EventBus | None,
                 max_attempts: int = 6, backoff_seconds: float = 2.0,
                 lease_seconds: float = 60.0, settings: Settings | None = None) -> None:
        self.adapters = adapters
        self.settings = settings  # where attached files are kept (None: no files)
        self.bus = bus
        self.max_attempts = max_attempts
        self.backoff = backoff_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def send(self, conversation_id: int, text: str, sender: User | None, *,
                   buttons: Sequence[Button] = (), origin: str = "",
                   reply_to_id: int | None = None, source_ref: str | None = None,
                   files: Sequence[dict[str, Any]] = ()) -> Message:
        """Store a reply as pending and return it; delivery follows (see :meth:`deliver`).

        Args:
            buttons: Quick replies offered with the text (the bot's menus, CSAT).
            origin: Who wrote it when not staff in the inbox: "bot", "rule", "telegram".
            reply_to_id: In a public or threaded conversation (comments, an e-mail
                thread), the message this answers; by default the latest one, so a reply
                lands in the right thread.
            source_ref: Where it was written, if outside the inbox (a staff chat message);
                the same ref again returns the stored message and sends nothing.
            files: Files already kept on disk (:func:`bot.services.attachments.keep_uploads`),
                stored with the reply in its transaction; a reply with files may have no
                text. Only where the channel carries them (else InboxError), and only as
                large as it takes them (else TooLarge, 413: the adapter's file_limits).
        """
        conv = await Conversation.filter(id=conversation_id).first()
        if conv is None:
            raise NotFound("conversation", "conversation_id")
        if reply_to_id is not None:
            if not await Message.filter(id=reply_to_id, conversation_id=conv.id,
                                        direction=Direction.INBOUND).exists():
                raise InboxError(lazy("reply_to_message_id is not a message of this conversation"),
                                 "invalid", "reply_to_message_id")
        elif conv.is_public or conv.thread_key is not None:
            reply_to_id = await Message.filter(
                conversation_id=conv.id, direction=Direction.INBOUND).order_by("-id").first(
            ).values_list("id", flat=True)  # type: ignore[assignment]
        if not text.strip() and not files:
            raise InboxError(lazy("a reply needs some text"), "invalid", "text")
        adapter = self.adapters.get(conv.channel_kind)
        if adapter is None:
            raise InboxError(lazy("channel %(kind)r cannot send", kind=conv.channel_kind),
                             "unknown_channel")
        if files:
            if self.settings is None or not self.can_attach(conv):
                raise InboxError(lazy("Files cannot be sent in this conversation: its "
                                      "channel carries text only here."),
                                 "files_not_supported", "files")
            # the page checked them before it kept them; this holds for every caller
            attachments.check_sizes(self.settings, files, adapter)
        if len(text) > adapter.max_text_length:
            raise InboxError(lazy("%(channel)s allows at most %(limit)s characters",
                                  channel=adapter.display_name,
                                  limit=adapter.max_text_length), "too_long", "text")
        try:  # the reply, its files and the conversation's preview: all or nothing
            async with in_transaction() as conn:
                msg = await Message.create(
                    using_db=conn, conversation_id=conv.id,
                    channel_account_id=conv.channel_account_id,  # type: ignore[attr-defined]
                    direction=Direction.OUTBOUND, text=text, sender=sender,
                    buttons=[{"label": b.label, "payload": b.payload} for b in buttons],
                    origin=origin, reply_to_id=reply_to_id, source_ref=source_ref,
                    status=DeliveryStatus.PENDING, next_attempt_at=utcnow())
                if files:
                    await MessageAttachment.bulk_create(
                        [MessageAttachment(message_id=msg.id, file_name=n, content_type=t,
                                           size=size, sha256=digest)
                         for n, t, size, digest in file_rows(files)], using_db=conn)
                await Conversation.filter(id=conv.id).using_db(conn).update(
                    last_message_at=msg.created_at,
                    last_message_preview=(text or " ".join(
                        f["file_name"] for f in files))[:PREVIEW_LEN])
        except IntegrityError:
            if source_ref is None:
                raise
            return await Message.get(source_ref=source_ref)  # already stored and on its way
        self._changed(msg)
        self._deliver_soon(msg.id)
        return msg

    def can_attach(self, conv: Conversation) -> bool:
        """Whether a reply in this conversation may carry files (the channel's declaration;
        never in a public thread)."""
        return self.settings is not None and attachments.carries_files(
            self.adapters.get(conv.channel_kind), conv)

    def _deliver_soon(self, message_id: int) -> None:
        """First attempt right away, off the request; the clock's sweep is the safety net."""
        task = asyncio.get_running_loop().create_task(self.deliver(message_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def retry(self, message_id: int) -> Message:
        """Send a failed reply again, from a fresh count of attempts."""
        updated = await Message.filter(
            id=message_id, direction=Direction.OUTBOUND, status=DeliveryStatus.FAILED
        ).update(status=DeliveryStatus.PENDING, attempts=0, error="", error_i18n=None,
                 lease_until=None, next_attempt_at=utcnow())
        msg = await Message.filter(id=message_id).first()
        if msg is None:
            raise NotFound("message", "message_id")
        if not updated:
            raise InboxError(lazy("only a failed reply can be retried"), "not_failed",
                             "message_id")
        self._changed(msg)
        self._deliver_soon(msg.id)
        return msg

    async def drain(self) -> None:
        """Let deliveries in flight finish (shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=30)

    async def deliver(self, message_id: int) -> DeliveryStatus | None:
        """Make one delivery attempt if the message is due and not leased by someone else.

        Returns the new status, or None when another worker holds it or it is not due.
        """
        now = utcnow()
        due = Message.filter(id=message_id, status__in=_DUE, direction=Direction.OUTBOUND,
                             next_attempt_at__lte=now)
        # Compare-and-set: only one worker's UPDATE matches a free (or expired) lease.
        claimed = await due.filter(lease_until__isnull=True).update(lease_until=now + self.lease)
        if not claimed:
            claimed = await due.filter(lease_until__lt=now).update(lease_until=now + self.lease)
        if not claimed:
            return None
        return await self._deliver_leased(message_id)

    async def _deliver_leased(self, message_id: int) -> DeliveryStatus:
        """One attempt on a message this worker holds the lease of; records the outcome."""
        msg = await Message.get(id=message_id).prefetch_related("conversation",
                                                                "channel_account")
        status, said, retry_at = await self._attempt(msg)
        msg.attempts += 1
        msg.status, msg.next_attempt_at, msg.lease_until = status, retry_at, None
        msg.error, msg.error_i18n = english(said)[:500], data(said)  # why, for API and page
        if status == DeliveryStatus.SENT:
            msg.sent_at = utcnow()
        await msg.save(update_fields=["attempts", "status", "error", "error_i18n",
                                      "next_attempt_at", "lease_until", "sent_at",
                                      "external_id"])
        metrics.child(metrics.REPLIES, msg.conversation.channel_kind, status.value).inc()
        self._changed(msg)
        return status

    async def _attempt(self, msg: Message) -> tuple[DeliveryStatus, Value, datetime | None]:
        conv: Conversation = msg.conversation
        account: ChannelAccount = msg.channel_account
        adapter = self.adapters.get(account.kind)
        if adapter is None:
            return DeliveryStatus.FAILED, Said(N_("no adapter for channel %(kind)r"),
                                               kind=account.kind), None
        identity = await Identity.filter(contact_id=conv.contact_id,  # type: ignore[attr-defined]
                                         channel_account_id=account.id).first()
        reply_to: str | None = None
        reply_meta: dict[str, Any] = {}
        if msg.reply_to_id is not None:  # type: ignore[attr-defined]
            row = await Message.filter(id=msg.reply_to_id).first(  # type: ignore[attr-defined]
            ).values("external_id", "meta")
            if row:
                reply_to, reply_meta = row["external_id"], row["meta"] or {}
        files = await attachments.outbound(self.settings, msg.id) if self.settings else ()
        if missing := [f.file_name for f in files if not f.path.is_file()]:
            return DeliveryStatus.FAILED, Said(N_("files no longer kept: %(files)s"),
                                               files=", ".join(missing)), None
        out = OutboundMessage(
            message_id=msg.id, conversation_id=conv.id, account=account_info(account),
            contact_external_id=identity.external_id if identity else "",
            thread_id=conv.thread_key, text=msg.text, created_at=msg.created_at,
            buttons=tuple(Button(b["label"], b["payload"]) for b in msg.buttons or ()),
            reply_to_external_id=reply_to, reply_to_meta=reply_meta,
            files=files, parts=self._parts(msg) if files else SentParts())
        try:
            result = await adapter.send(out)
        except RecipientUnreachable as exc:
            await Contact.filter(id=conv.contact_id).update(  # type: ignore[attr-defined]
                unreachable=exc.reason[:200])
            return DeliveryStatus.FAILED, Said(N_("contact unreachable: %(problem)s"),
                                               problem=exc.said), None
        except PermanentDeliveryError as exc:
            return DeliveryStatus.FAILED, exc.said, None
        except DeliveryError as exc:
            return self._retry(msg, exc.said, exc.retry_after)
        except OutcomeUnknown as exc:  # a reply twice beats a reply lost: try again
            return self._retry(msg, exc.said, None)
        except Exception as exc:  # an adapter bug must not wedge the message
            log.exception("adapter send crashed", extra={"message_id": msg.id})
            return self._retry(msg, Said(N_("internal error: %(error)s"),
                                         error=type(exc).__name__), None)
        if result is not None and result.external_id:
            msg.external_id = result.external_id  # saved with the status, by deliver()
        return DeliveryStatus.SENT, "", None

    @staticmethod
    def _parts(msg: Message) -> SentParts:
        """What earlier attempts of this reply sent; each part sent now is recorded at
        once, so no later attempt sends it again."""
        meta = dict(msg.meta or {})
        sent = dict(meta.get("sent_parts") or {})

        async def record(part: str, external_id: str) -> None:
            sent[part] = external_id
            await Message.filter(id=msg.id).update(meta={**meta, "sent_parts": dict(sent)})
        return SentParts(sent, record)

    def _retry(self, msg: Message, reason: Value,
               retry_after: float | None) -> tuple[DeliveryStatus, Value, datetime | None]:
        attempt = msg.attempts + 1
        if attempt >= self.max_attempts:
            return DeliveryStatus.FAILED, Said(N_("gave up after %(attempts)s attempts: "
                                                  "%(problems)s"), attempts=attempt,
                                               problems=reason), None
        delay = self.backoff * (2 ** (attempt - 1))
        if retry_after is not None:
            delay = max(delay, retry_after)
        return DeliveryStatus.RETRYING, reason, utcnow() + timedelta(seconds=delay)

    async def deliver_due(self, limit: int = 100) -> int:
        """Claim every message whose (re)try time has come, and attempt each. Called by
        the clock; safe with several processes (see bot.core.due)."""
        ids = await due.claim(OUTBOX_DUE, self.lease, limit)
        for mid in ids:
            await self._deliver_leased(mid)
        return len(ids)

    async def reply_privately(self, message_id: int, text: str, sender: User | None,
                              origin: str = "", source_ref: str | None = None) -> Message:
        """Answer a public comment in a private conversation with its author, on the same
        channel account (a Telegram private chat, a Messenger DM). ``source_ref`` as in
        :meth:`send`: the same ref again returns the stored message."""
        if source_ref is not None:
            stored = await Message.filter(source_ref=source_ref).first()
            if stored is not None:
                return stored
        comment = await Message.filter(id=message_id, direction=Direction.INBOUND).first()
        if comment is None:
            raise NotFound("message", "message_id")
        author_id = comment.author_id  # type: ignore[attr-defined]
        if author_id is None:
            raise InboxError(lazy("only a public comment can be answered privately; reply in its "
                             "conversation instead"), "not_a_comment", "message_id")
        account_id = comment.channel_account_id  # type: ignore[attr-defined]
        conv = await Conversation.filter(
            contact_id=author_id, channel_account_id=account_id, thread_key__isnull=True,
            is_public=False).order_by("-last_message_at").first()
        if conv is None:
            account = await ChannelAccount.get(id=account_id)
            conv = await Conversation.create(
                channel_account_id=account_id, channel_kind=account.kind, contact_id=author_id,
                status=ConversationStatus.PENDING, last_message_at=utcnow())
        elif conv.status == ConversationStatus.RESOLVED:
            conv.status, conv.resolved_at = ConversationStatus.PENDING, None
            await conv.save(update_fields=["status", "resolved_at"])
        return await self.send(conv.id, text, sender, origin=origin, source_ref=source_ref)

    def _changed(self, msg: Message) -> None:
        if self.bus is not None:
            self.bus.publish(MessageStored(msg.id, msg.conversation_id))  # type: ignore[attr-defined]


def account_info(account: ChannelAccount) -> AccountInfo:
    """What an adapter needs of the account, its secrets opened (sealed at rest,
    :mod:`bot.core.vault`)."""
    return AccountInfo(id=account.id, kind=account.kind, name=account.name,
                       callback_url=account.callback_url,
                       settings=vault.unseal_settings(account.settings),
                       secret=vault.unseal(account.secret))


# --- canned replies ---------------------------------------------------------------------------

def contact_context(contact: Contact) -> dict[str, Any]:
    name = contact.name or ""
    return {"contact": {
        "id": contact.id, "name": name, "first_name": name.split(" ")[0] if name else "",
        "email": contact.email or "", "phone": contact.phone or "",
        "locale": contact.locale or "", "attributes": dict(contact.attributes or {}),
        "tags": list(contact.tags or []),
    }}


def sample_context() -> dict[str, Any]:
    """The sample contact a template is tried with when it is saved
    (:func:`bot.core.bounded.check_template`)."""
    return contact_context(Contact(id=0, name="Ann Example", email="ann@example.com"))


OUTBOX: web.AppKey[Outbox] = web.AppKey("outbox")
