"""Broadcasts: one mail to a segment, with an optional A/B subject test.

When a broadcast falls due, its segment is resolved (contacts that unsubscribed, bounced
or have not confirmed are left out). Without a test, everyone gets subject A. With one,
``split_percent`` of them (a stable random sample) get A or B, half each; the broadcast
waits ``decide_after_hours``, then the subject with the higher rate of opens (or clicks)
wins and goes to the rest. Each (broadcast, contact) is one MailSend row, committed
before its mail is sent, with the Message-ID derived from it: exactly once, as drips.

One process sends a broadcast at a time: it claims the broadcast with a lease and renews
the lease with each mail it records; a process whose lease ran out and was taken over
(it stalled, or it died) records and sends nothing more. The one that takes over sends
the mails not yet sent, again those recorded but not known to have gone (the same mail,
with the same Message-ID).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from jinja2 import TemplateError
from pydantic import ConfigDict, Field
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from bot.core import bounded, due
from bot.core.http import Strict
from bot.core.i18n import _, lazy
from bot.models import Broadcast, Contact, MailSend, Segment
from bot.services.flows.texts import LOCALES
from bot.services.replies import sample_context
from channels.email.mailer import Mailer, MailNotBuilt
from scheduler.marketing import consent, segments
from scheduler.marketing.clock import now
from scheduler.marketing.errors import Conflict, Invalid, Missing

log = logging.getLogger("switchboard.broadcasts")
BROADCASTS_DUE = due.DueTable("broadcasts", "due_at",
                              where="state IN ('scheduled', 'testing')")
SKIP_CONSENT = ("unsubscribed", "bounced", "pending")


class BroadcastIn(Strict):
    """A new broadcast, as the REST API and the compose page take it (the one check of
    its fields; :func:`create` then checks the segment and the templates)."""

    # the rule the service checks, stated for the document: a split needs subject_b
    model_config = ConfigDict(json_schema_extra={
        "if": {"required": ["split_percent"], "properties": {"split_percent": {"minimum": 1}}},
        "then": {"required": ["subject_b"], "properties": {"subject_b": {"minLength": 1}}}})

    name: Annotated[str, Field(min_length=1, max_length=120)]
    segment_id: int
    subject_a: Annotated[str, Field(min_length=1, max_length=300)]
    subject_b: Annotated[str, Field(max_length=300)] = ""
    body: Annotated[str, Field(min_length=1, max_length=50000,
                               description="Plain text; {{ contact.first_name }} and the "
                                           "other contact fields work as in canned replies")]
    split_percent: Annotated[int, Field(ge=0, le=100, description="A/B test sample: this "
                                        "percentage of the segment, half each subject")] = 0
    metric: Literal["opens", "clicks"] = "opens"
    decide_after_hours: Annotated[float, Field(gt=0, le=720)] = 4
    send_at: datetime | None = Field(None, description="Default: now")


async def create(name: str, segment_id: int, subject_a: str, body: str, subject_b: str = "",
                 split_percent: int = 0, metric: Literal["opens", "clicks"] = "opens",
                 decide_after_hours: float = 4, send_at: datetime | None = None
                 ) -> Broadcast:
    """A broadcast to a segment, due at ``send_at`` (default: now). Its subjects and body
    are templates (checked here, rendered per contact when sent)."""
    await _check(segment_id, subject_a, body, subject_b, split_percent)
    return await Broadcast.create(name=name, segment_id=segment_id, subject_a=subject_a,
                                  subject_b=subject_b, body=body,
                                  split_percent=split_percent, metric=metric,
                                  decide_after_hours=decide_after_hours,
                                  due_at=send_at or now())


async def _check(segment_id: int, subject_a: str, body: str, subject_b: str,
                 split_percent: int) -> None:
    """What :func:`create` and :func:`update` both check beyond the fields' own rules."""
    if not await Segment.filter(id=segment_id).exists():
        raise Invalid(lazy("no such segment"), "segment_id")
    if split_percent and not subject_b:
        raise Invalid(lazy("an A/B test needs subject_b"), "subject_b")
    for field, text in (("body", body), ("subject_a", subject_a), ("subject_b", subject_b)):
        await check_template(text, field)


async def editable(b: Broadcast) -> bool:
    """Whether ``b`` may still change: scheduled, and none of its mails recorded."""
    return b.state == "scheduled" and not await MailSend.filter(broadcast_id=b.id).exists()


async def update(broadcast_id: int, name: str, segment_id: int, subject_a: str, body: str,
                 subject_b: str = "", split_percent: int = 0,
                 metric: Literal["opens", "clicks"] = "opens", decide_after_hours: float = 4,
                 send_at: datetime | None = None) -> Broadcast:
    """Change a broadcast before any of its mails is sent, with :func:`create`'s checks
    (``send_at`` None: as soon as possible). Conflict (409) once it has started, or while
    a process holds its lease (it is being sent just now): as :func:`cancel`, a
    compare-and-set on the state and the lease, so a runner that claims it either reads
    the new content or the edit is refused."""
    b = await get(broadcast_id)
    if not await editable(b):
        raise Conflict(_("The broadcast has started: only one not yet sent can be "
                         "changed."), "state")
    await _check(segment_id, subject_a, body, subject_b, split_percent)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now())
    if not await Broadcast.filter(free, id=b.id, state="scheduled").update(
            name=name, segment_id=segment_id, subject_a=subject_a, subject_b=subject_b,
            body=body, split_percent=split_percent, metric=metric,
            decide_after_hours=decide_after_hours, due_at=send_at or now()):
        raise Conflict(_("The broadcast is being sent just now: it was not changed."),
                       "state")
    return await get(broadcast_id)


async def check_template(text: str, field: str) -> None:
    """:func:`bot.core.bounded.check_template` for a subject or body the marketer typed;
    Invalid (422) naming it."""
    try:
        await bounded.check_template(text, sample_context())
    except TemplateError as exc:
        raise Invalid(lazy("template error: %(problem)s", problem=str(exc)), field) from None


async def get(broadcast_id: int) -> Broadcast:
    row = await Broadcast.filter(id=broadcast_id).first()
    if row is None:
        raise Missing(lazy("no such broadcast"), "broadcast_id")
    return row


async def recent(limit: int = 200) -> list[Broadcast]:
    """The latest broadcasts, newest first, each with its segment."""
    return await Broadcast.all().order_by("-id").limit(limit).prefetch_related("segment")


async def cancel(broadcast_id: int) -> Broadcast:
    """Stop a broadcast before any of its mails is sent: it becomes *cancelled* and is
    never due again. Conflict (409) once it has started (an A/B test sample went out, or
    a process is sending it now: it holds the broadcast's lease)."""
    b = await get(broadcast_id)
    if b.state != "scheduled" or await MailSend.filter(broadcast_id=b.id).exists():
        raise Conflict(f"the broadcast is {b.state if b.state != 'scheduled' else 'sending'}"
                       ": only one not yet started can be cancelled", "state")
    # Not while claimed; the lease cleared so that a stalled sender records nothing more.
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now())
    if not await Broadcast.filter(free, id=b.id, state="scheduled").update(
            state="cancelled", due_at=None, lease_until=None):
        raise Conflict(lazy("the broadcast is being sent just now"), "state")
    return await get(broadcast_id)


@dataclass(frozen=True)
class Preview:
    locale: str
    subject: str
    text: str


# The sample contact of each language the mails speak (bot.services.flows.texts.LOCALES).
SAMPLE_NAMES = {"en": "Ann Example", "vi": "Lan Nguyễn", "th": "Somchai Jaidee",
                "pl": "Anna Kowalska", "ru": "Анна Иванова", "km": "Sokha Chan"}


async def preview(mailer: Mailer, subject: str, body: str,
                  subject_field: str = "subject_a") -> list[Preview]:
    """The mail as a sample contact of each language would get it (the subject and body
    rendered with the contact's fields, the footer in its language). Invalid (422) when
    they cannot be rendered."""
    await check_template(subject, subject_field)
    await check_template(body, "body")
    out = []
    for lang in LOCALES:
        sample = Contact(id=0, name=SAMPLE_NAMES.get(lang, "Ann Example"), locale=lang,
                         email=f"{lang}@example.com")
        try:
            rendered = await mailer.render_custom(sample, subject, body)
        except MailNotBuilt as exc:
            raise Invalid(str(exc), "body") from None
        out.append(Preview(lang, rendered[0], rendered[1]))
    return out


class BroadcastRunner:
    """Sends due broadcasts with ``mailer`` (``prepare_custom``, then ``deliver``)."""

    def __init__(self, mailer: Mailer, concurrency: int = 16, lease_seconds: float = 300) -> None:
        self.mailer, self.concurrency = mailer, concurrency
        self.lease = timedelta(seconds=lease_seconds)
        self.commits = due.GroupCommit()
        self._held: dict[int, datetime] = {}  # broadcast id -> our lease, as last renewed

    async def run_due(self) -> int:
        at = now()
        ids = await due.claim(BROADCASTS_DUE, self.lease, 10, now=at)
        for bid in ids:
            self._held[bid] = at + self.lease
            try:
                await self.advance(bid)
            except Exception:
                log.exception("broadcast failed", extra={"broadcast": bid})
            finally:
                self._held.pop(bid, None)
        return len(ids)

    def _mine(self, broadcast_id: int) -> QuerySet[Broadcast]:
        """The broadcast, if we still hold its lease (or it was advanced unclaimed)."""
        held = self._held.get(broadcast_id)
        rows = Broadcast.filter(id=broadcast_id)
        return rows if held is None else rows.filter(lease_until=held)

    async def _renew(self, broadcast_id: int, conn: BaseDBAsyncClient) -> bool:
        """Renew our lease in ``conn``'s transaction; False when another process holds
        it now. (If that transaction rolls back, the lease kept in memory is one the row
        never got: this process stops sending the broadcast, and it is taken over when
        the lease runs out.)"""
        if broadcast_id not in self._held:
            return True
        renewed = now() + self.lease
        if not await self._mine(broadcast_id).using_db(conn).update(lease_until=renewed):
            return False
        self._held[broadcast_id] = renewed
        return True

    async def audience(self, b: Broadcast) -> list[Contact]:
        seg = await Segment.get(id=b.segment_id)  # type: ignore[attr-defined]
        ids = await segments.members(segments.Rules.model_validate(seg.rules))
        people = [c for c in await Contact.filter(id__in=ids).order_by("id")
                  if c.email_consent not in SKIP_CONSENT]
        left = await consent.left_addresses(c.email for c in people)  # by another contact
        return [c for c in people if not (c.email and c.email.strip().lower() in left)]

    async def advance(self, broadcast_id: int) -> None:
        b = await Broadcast.get(id=broadcast_id)
        people = await self.audience(b)
        if b.state == "scheduled" and b.split_percent and b.subject_b:
            # at least one each, never more than there are ("Sample larger than
            # population" crashed the runner on a segment of 0 or 1)
            size = min(len(people), max(2, len(people) * b.split_percent // 100))
            sample = random.Random(b.id).sample(people, size)
            half = len(sample) // 2
            await self._send(b, [(c, "a") for c in sample[:half]] +
                             [(c, "b") for c in sample[half:]])
            await self._mine(b.id).update(
                state="testing", lease_until=None,
                due_at=now() + timedelta(hours=b.decide_after_hours))
            return
        winner = "a"
        if b.state == "testing":
            winner = await self.winner(b)
        # Done: sent or failed. A mail recorded but not known to have gone (its process
        # died mid-send) is sent again, with the same Message-ID.
        done: set[int] = {int(i) for i in await MailSend.filter(  # type: ignore[call-overload]
            broadcast_id=b.id, state__in=("sent", "failed")).values_list(
                "contact_id", flat=True)}
        await self._send(b, [(c, winner) for c in people if c.id not in done])
        await self._mine(b.id).update(state="sent", winner=winner, due_at=None,
                                      lease_until=None)

    async def winner(self, b: Broadcast) -> str:
        """The subject with the higher rate (ties and no data: A)."""
        field = "opened_at" if b.metric == "opens" else "clicked_at"
        rate = {}
        for v in ("a", "b"):
            sent = await MailSend.filter(broadcast_id=b.id, variant=v, state="sent").count()
            hit = await MailSend.filter(broadcast_id=b.id, variant=v, state="sent",
                                        **{f"{field}__isnull": False}).count()
            rate[v] = hit / sent if sent else 0.0
        return "b" if rate["b"] > rate["a"] else "a"

    async def _send(self, b: Broadcast, who: list[tuple[Contact, str]]) -> None:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(contact: Contact, variant: str) -> None:
            async with gate:
                await self._send_one(b, contact, variant)
        await asyncio.gather(*(one(c, v) for c, v in who))

    async def _send_one(self, b: Broadcast, contact: Contact, variant: str) -> None:
        key = f"bc:{b.id}:{contact.id}"
        mail = await MailSend.filter(key=key).first()
        if mail is not None and mail.state == "sent":
            return
        subject = b.subject_b if variant == "b" else b.subject_a
        try:
            prepared = await self.mailer.prepare_custom(key, contact, subject, b.body)
        except MailNotBuilt as exc:  # this contact's mail cannot be made: recorded
            log.warning("broadcast mail not rendered", extra={"broadcast": b.id,
                                                              "error": str(exc)[:300]})
            if mail is None:
                await MailSend.create(key=key, broadcast_id=b.id, variant=variant,
                                      template="broadcast", contact_id=contact.id,
                                      to=contact.email, subject=subject[:300], message_id="",
                                      state="failed", error=str(exc)[:500], attempts=1)
            return
        fields = {"key": key, "broadcast_id": b.id, "variant": variant,
                  "template": "broadcast", "contact_id": contact.id,
                  "to": contact.email, "subject": subject[:300],
                  "message_id": prepared.message_id}

        async def record(conn: BaseDBAsyncClient) -> Any:
            if not await self._renew(b.id, conn):
                return None  # taken over: the other process sends it
            return mail if mail is not None else await MailSend.create(using_db=conn,
                                                                       **fields)
        mail = await self.commits.run(record)
        if mail is None:
            return
        try:
            await self.mailer.deliver(prepared)
        except Exception as exc:
            await MailSend.filter(id=mail.id).update(state="failed", error=str(exc)[:500],
                                                     attempts=mail.attempts + 1)
            return
        sent_at = now()
        await self.commits.run(lambda conn: MailSend.filter(id=mail.id).using_db(conn).update(
            state="sent", sent_at=sent_at))
