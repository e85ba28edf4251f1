"""Drip sending: each enrolment in a sequence (``scheduler.marketing.sequences``) walks
its steps as due work (claimed with a lease, like posts), sending each mail exactly once.

Exactly once per (enrolment, step): the :class:`~bot.models.MailSend` row with key
``enr:<id>:step:<n>`` is committed before the SMTP call, and the Message-ID comes from
that key. A crash between the server accepting the mail and our record of it resends the
*same* mail (same Message-ID) on restart, never a different second one.

With several processes, each claims its own enrolments (``due.claim``: ``SKIP LOCKED`` on
PostgreSQL). A mail is recorded, and so sent, only while its process still holds the
enrolment's lease, which that record renews: a process whose lease ran out under it (a
claimed batch that outlasts the lease) and was taken over sends nothing more of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from time import monotonic as time_monotonic
from zoneinfo import ZoneInfo

from aiohttp import web
from tortoise.backends.base.client import BaseDBAsyncClient

from bot.core import due
from bot.models import Contact, Enrollment, MailSend, Sequence, ShopEvent
from channels.email.mailer import Mailer, MailNotBuilt
from scheduler.marketing import consent
from scheduler.marketing.clock import now
from scheduler.marketing.sequences import Branch, Step, Steps, Wait

log = logging.getLogger("switchboard.drips")
ENROLLMENTS_DUE = due.DueTable("enrollments", "due_at", where="state = 'active'")
# Enrolments advanced at once. Each has at most one mail between "handed to SMTP" and
# "recorded as sent", so a crash resends at most this many (with the same Message-ID).
CONCURRENCY = 16


# --- running steps -------------------------------------------------------------------------------

@dataclass
class _Batch:
    """What the steps of a claimed batch read, loaded in a few queries for the whole
    batch instead of a few per mail: the enrolments, their contacts, the MailSend rows of
    their current steps, and the contacts' events that may end their sequences."""

    enrollments: dict[int, Enrollment] = field(default_factory=dict)
    contacts: dict[int, Contact] = field(default_factory=dict)
    mails: dict[str, MailSend | None] = field(default_factory=dict)
    events: dict[int, list[tuple[str, datetime]]] = field(default_factory=dict)
    # The lease each claimed enrolment holds (its ``lease_until``, as claimed or as last
    # renewed): a mail is recorded, and so sent, only while it is still this one.
    leases: dict[int, datetime] = field(default_factory=dict)

    @classmethod
    async def load(cls, ids: list[int]) -> _Batch:
        batch = cls()
        enrollments = await Enrollment.filter(id__in=ids)
        if not enrollments:
            return batch
        batch.enrollments = {e.id: e for e in enrollments}
        contact_ids = {e.contact_id for e in enrollments}  # type: ignore[attr-defined]
        batch.contacts = {c.id: c for c in await Contact.filter(id__in=contact_ids)}
        keys = [_key(e) for e in enrollments]
        batch.mails = dict.fromkeys(keys)
        batch.mails.update({m.key: m for m in await MailSend.filter(key__in=keys)})
        earliest = min(e.started_at for e in enrollments)
        for contact_id, kind, at in await ShopEvent.filter(
                contact_id__in=contact_ids, occurred_at__gte=earliest).values_list(
                    "contact_id", "kind", "occurred_at"):
            batch.events.setdefault(contact_id, []).append((kind, at))
        return batch

    def event_since(self, contact_id: int, kinds: list[str], since: datetime) -> bool:
        return any(kind in kinds and at >= since for kind, at in
                   self.events.get(contact_id, ()))


def _held(enr: Enrollment, batch: _Batch) -> dict[str, datetime]:
    """The filter that makes a write to a claimed enrolment land only while its process
    still holds the lease (the one claimed, or as last renewed): a process whose lease
    ran out under it and was taken over neither moves the step back nor clears the new
    holder's lease. Empty for an enrolment advanced directly, not claimed (tests)."""
    held = batch.leases.get(enr.id)
    return {} if held is None else {"lease_until": held}


def _key(enr: Enrollment) -> str:
    return f"enr:{enr.id}:step:{enr.step}"


class DripRunner:
    """Advances due enrolments. ``mailer`` builds a step's mail (``prepare``: its key,
    contact, template and context -> ``Prepared`` with ``subject`` and ``message_id``)
    and sends it (``deliver``, raising on failure; ``exc.permanent`` when retrying cannot
    help). ``clock`` is injectable so tests move time instead of sleeping."""

    def __init__(self, mailer: Mailer, timezone: str = "UTC",
                 clock: Callable[[], datetime] = now, lease_seconds: float = 120.0,
                 max_attempts: int = 5, concurrency: int = CONCURRENCY) -> None:
        self.mailer, self.tz, self.clock = mailer, ZoneInfo(timezone), clock
        self.concurrency = concurrency
        self.commits = due.GroupCommit()
        self._sequences: dict[int, tuple[float, Sequence, list[Step]]] = {}
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts

    async def run_due(self, limit: int = 200) -> int:
        """Advance every enrolment due now (by the runner's clock); how many moved. The
        claimed ones run concurrently (their mails share the account's SMTP connections,
        whose pool bounds concurrency and rate)."""
        moved = 0
        gate = asyncio.Semaphore(self.concurrency)

        async def one(eid: int, batch: _Batch) -> None:
            async with gate:
                try:
                    await self.advance(eid, batch)
                except Exception:
                    log.exception("drip step crashed", extra={"enrollment": eid})
        while True:
            at = self.clock()
            ids = await due.claim(ENROLLMENTS_DUE, self.lease, limit, now=at)
            if not ids:
                return moved
            batch = await _Batch.load(ids)
            batch.leases = dict.fromkeys(ids, at + self.lease)
            await asyncio.gather(*(one(eid, batch) for eid in ids))
            moved += len(ids)

    async def advance(self, enrollment_id: int, batch: _Batch | None = None) -> None:
        """Run steps of one claimed enrolment until it has to wait (or ends). ``batch``:
        rows already read for the claimed batch (read here when absent)."""
        batch = batch if batch is not None else await _Batch.load([enrollment_id])
        enr = batch.enrollments.get(enrollment_id)
        if enr is None:
            return  # deleted since it was claimed
        seq, steps = await self._sequence(enr.sequence_id)  # type: ignore[attr-defined]
        enr.sequence = seq
        at = self.clock()
        sent = False
        for _ in range(len(steps) + 1):  # a branch loop cannot spin forever
            if enr.state != "active":
                return
            if enr.step >= len(steps):
                await self._end(enr, "completed", "all steps done", batch)
                return
            step = steps[enr.step]
            if step.wait is not None:
                if enr.due_at is not None and enr.context.get("_waited") == enr.step:
                    enr.step += 1  # this wait is over
                    enr.context = {k: v for k, v in enr.context.items() if k != "_waited"}
                    continue
                # A wait counts from the mail just sent (when it really went), else from
                # when this step fell due (the enrolment's start): late ticks do not
                # add up, and after a long outage the mails still keep their spacing.
                base = at if sent or enr.due_at is None else enr.due_at
                enr.due_at = await self._after(step.wait, enr, base)
                enr.context = {**enr.context, "_waited": enr.step}
                changes = {"step": enr.step, "due_at": enr.due_at, "context": enr.context,
                           "lease_until": None}
                where = {"id": enr.id, "state": "active", **_held(enr, batch)}
                await self.commits.run(lambda conn, c=changes, w=where: Enrollment.filter(  # type: ignore[misc]
                    **w).using_db(conn).update(**c))
                return
            if step.exit is not None:
                await self._end(enr, "exited", step.exit, batch)
                return
            if step.branch is not None:
                enr.step = step.branch.goto if await self._holds(step.branch, enr) \
                    else enr.step + 1
                continue
            assert step.send is not None
            if await self._send_step(enr, step.send, at, batch) != "sent":
                return  # to be tried again later, or the enrolment ended
            sent = True
            enr.step += 1
        await Enrollment.filter(id=enr.id, **_held(enr, batch)).update(step=enr.step,
                                                                       lease_until=None)

    async def _sequence(self, sequence_id: int) -> tuple[Sequence, list[Step]]:
        """A sequence with its parsed steps, read again after a few seconds (edits show
        quickly; thousands of due steps do not each read and parse it)."""
        now = time_monotonic()
        hit = self._sequences.get(sequence_id)
        if hit is None or hit[0] < now:
            seq = await Sequence.get(id=sequence_id)
            hit = self._sequences[sequence_id] = (now + 5.0, seq,
                                                  Steps.validate_python(seq.steps))
        return hit[1], hit[2]

    async def _after(self, wait: Wait, enr: Enrollment, now: datetime) -> datetime:
        when = now + timedelta(minutes=wait.minutes, hours=wait.hours, days=wait.days)
        if wait.until:
            tz = self.tz
            contact = await Contact.get(id=enr.contact_id)  # type: ignore[attr-defined]
            tz_name = (contact.attributes or {}).get("timezone")
            if tz_name:
                try:
                    tz = ZoneInfo(str(tz_name))
                except (KeyError, ValueError):
                    pass
            hh, mm = (int(x) for x in wait.until.split(":"))
            local = when.astimezone(tz)
            target = datetime.combine(local.date(), time(hh, mm), tz)
            if target <= local:
                target = datetime.combine(local.date() + timedelta(days=1), time(hh, mm), tz)
            when = target.astimezone(UTC)
        return when

    async def _holds(self, branch: Branch, enr: Enrollment) -> bool:
        contact_id = enr.contact_id  # type: ignore[attr-defined]
        if branch.event:
            return await ShopEvent.filter(contact_id=contact_id, kind=branch.event,
                                          occurred_at__gte=enr.started_at).exists()
        if branch.attribute:
            contact = await Contact.get(id=contact_id)
            value = (contact.attributes or {}).get(branch.attribute)
            return str(value) == str(branch.equals) if branch.equals is not None \
                else bool(value)
        return False

    async def _end(self, enr: Enrollment, state: str, reason: str, batch: _Batch) -> None:
        changes = {"state": state, "step": enr.step, "ended_reason": reason[:200],
                   "due_at": None, "lease_until": None}
        held = _held(enr, batch)
        await self.commits.run(lambda conn: Enrollment.filter(
            id=enr.id, state="active", **held).using_db(conn).update(**changes))
        enr.state = state

    async def _send_step(self, enr: Enrollment, template: str, now: datetime,
                         batch: _Batch) -> str:
        """Send one step's mail exactly once. "sent" (or already sent), "retry" (try again
        later: the enrolment stays due), or "stop" (the enrolment ended).

        Two writes, each shared with the other enrolments advancing at the same time
        (``due.GroupCommit``): the MailSend row with its Message-ID before the SMTP call,
        and "sent" after it."""
        contact = batch.contacts.get(enr.contact_id)  # type: ignore[attr-defined]
        if contact is None:
            contact = await Contact.get(id=enr.contact_id)  # type: ignore[attr-defined]
        if contact.email_consent in ("unsubscribed", "bounced") or not contact.email:
            await self._end(enr, "exited",
                            f"e-mail consent: {contact.email_consent or 'no address'}",
                            batch)
            return "stop"
        if await consent.left_addresses([contact.email]):  # left as another contact
            await self._end(enr, "exited", "e-mail consent: the address left", batch)
            return "stop"
        exit_on = enr.sequence.exit_on
        if exit_on and batch.event_since(contact.id, exit_on, enr.started_at):
            await self._end(enr, "exited", f"{exit_on[0]} before this mail", batch)
            return "stop"
        key = _key(enr)
        mail = batch.mails[key] if key in batch.mails else \
            await MailSend.filter(key=key).first()
        if mail is not None and mail.state == "sent":
            return "sent"  # a crash after sending, before the enrolment moved on
        try:
            prepared = await self.mailer.prepare(key, contact, template, enr.context)
        except MailNotBuilt as exc:  # its address can never take a mail: ended, not retried
            await self._end(enr, "exited", f"mail not built: {exc}", batch)
            return "stop"
        fields = {"key": key, "enrollment_id": enr.id, "step": enr.step,
                  "template": template, "contact_id": contact.id, "to": contact.email,
                  "subject": prepared.subject[:300], "message_id": prepared.message_id}

        held, renewed = batch.leases.get(enr.id), self.clock() + self.lease

        async def record(conn: BaseDBAsyncClient) -> MailSend | None:
            # In the same transaction as the record: an unsubscribe or an exit event
            # committed before it (both end the enrolment) stops this mail, and so does
            # the loss of our lease (it ran out and another process claimed the step:
            # that one sends it). Holding it, we renew it to cover the send.
            active = Enrollment.filter(id=enr.id, state="active").using_db(conn)
            if held is None:  # advanced directly, not claimed (tests)
                if not await active.exists():
                    return None
            elif not await active.filter(lease_until=held).update(lease_until=renewed):
                return None
            return mail if mail is not None else await MailSend.create(using_db=conn,
                                                                       **fields)
        mail = await self.commits.run(record)
        if mail is None:
            enr.state = "exited"  # or taken over: either way, nothing more here
            return "stop"
        if held is not None:
            batch.leases[enr.id] = renewed
        try:
            await self.mailer.deliver(prepared)
        except Exception as exc:  # the mail is not known to have gone
            attempts = mail.attempts + 1
            permanent = getattr(exc, "permanent", False) or attempts >= self.max_attempts
            await MailSend.filter(id=mail.id).update(
                attempts=attempts, error=str(exc)[:500],
                state="failed" if permanent else "sending")
            if permanent:
                log.warning("drip mail failed", extra={"key": key, "error": str(exc)})
                return "sent"  # recorded as failed; the sequence goes on
            await Enrollment.filter(id=enr.id, **_held(enr, batch)).update(
                step=enr.step, due_at=now + timedelta(minutes=2 ** attempts),
                lease_until=None)
            return "retry"
        sent_at = self.clock()
        await self.commits.run(lambda conn: MailSend.filter(id=mail.id).using_db(conn).update(
            state="sent", sent_at=sent_at, error=""))
        return "sent"


DRIPS: web.AppKey[DripRunner] = web.AppKey("drips")
