"""The storage side of ``bot.services.inbox.Intake.ingest``: raw SQL, group commit, one writer.

Why not the ORM here: building a query through the ORM costs more than running it, and on
SQLite every statement is a hop to aiosqlite's thread; the hot path paid ~4 ms a message.

* :func:`ingest_batch` is the whole algorithm, for a batch of messages, written once as a
  generator that *yields* ``(sql, params)`` (``params`` a list of rows: executemany) and
  receives the rows back, so it does no I/O itself.
* A driver runs it: :class:`bot.core.ingest_sqlite.SqliteWriter` synchronously in one
  dedicated writer thread with its own connection (one thread hop per batch),
  :class:`bot.core.ingest_orm.TortoiseDriver` asynchronously on the ORM's connection
  (PostgreSQL, or anything Tortoise speaks).
* Each writer (``SqliteWriter``, or ``bot.core.ingest_orm.Ingestor`` on the ORM) is a
  single writer. Messages that arrive while a batch is being
  written wait and go into the next one: a batch is one transaction, and every caller's
  future resolves only after its COMMIT, so "acknowledged" still means "committed".
  If a batch fails, each of its messages is retried alone, so one bad message cannot
  take others down with it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.core.attachments import rows as file_rows
from bot.core.channel import ContactInfo, InboundMessage, IngestResult
from bot.core.clean import fit, fit_key

log = logging.getLogger("switchboard.ingest")
Query = tuple[str, tuple[Any, ...]]
PREVIEW_LEN = 200  # characters of the last message shown in the inbox list


@dataclass(frozen=True)
class Job:
    msg: InboundMessage
    kind: str
    now: datetime
    reopen_window: timedelta


Key = tuple[int, str]  # (channel account, external id)
Thread = tuple[int, int, str | None]  # (channel account, contact, thread key)
_CHUNK = 400  # ids per IN (...) list


def ingest_batch(jobs: list[Job], ts: Callable[[datetime | None], Any],
                 followups: bool = True) -> BatchSteps:
    """Store a batch of inbound messages as one transaction, with the outcome of storing
    them one by one in order:

    * idempotent on (account, external_id), also within the batch;
    * the sender (and a comment's author) resolved by identity, a new identity becoming
      a new contact, or the contact with the same e-mail address;
    * threaded into the contact's active conversation (or one resolved within the reopen
      window, reopened), else a new one.

    What every message needs is read for the whole batch at once (its redeliveries, its
    identities, their conversations), each touched conversation is updated once, and the
    messages go in with one INSERT. On SQLite this is a few statements a batch instead of
    four or five a message: the writer's cost was in the statements, not in the work.
    ``ts`` converts datetimes to what the database driver stores.

    Each new message also gets its ``followups`` row (kind ``received``: the rules, the
    customer bot's turn, staff notifications and listening owed to it), in the same
    transaction, so a message is never stored without the work that must follow it
    (the transactional outbox, :mod:`bot.services.followups`). A redelivery gets none.
    ``followups=False`` leaves them out: the ingest benchmark's baseline only.
    """
    now = ts(max(job.now for job in jobs))
    accounts = sorted({job.msg.channel_account_id for job in jobs})
    seen: dict[Key, IngestResult] = {}
    for acct in accounts:
        exts = sorted({j.msg.external_id for j in jobs if j.msg.channel_account_id == acct})
        for part in _chunks(exts):
            rows = yield (f"SELECT m.external_id, m.id, m.conversation_id, c.contact_id "
                          f"FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                          f"WHERE m.channel_account_id = ? AND m.external_id IN "
                          f"({_marks(part)})", (acct, *part))
            for ext, message_id, conv_id, contact_id in rows:
                seen[(acct, ext)] = IngestResult(message_id, conv_id, contact_id, False)
    fresh = [j for j in jobs if (j.msg.channel_account_id, j.msg.external_id) not in seen]

    # Who: every sender and author identity the new messages name.
    people: dict[Key, list[Any]] = {}  # -> [contact_id, name, email, phone, locale]
    for acct in accounts:
        people_exts = sorted({e for j in fresh if j.msg.channel_account_id == acct
                       for e in _people(j.msg)})
        for part in _chunks(people_exts):
            rows = yield (f"SELECT i.external_id, i.contact_id, c.name, c.email, c.phone, "
                          f"c.locale FROM identities i JOIN contacts c ON c.id = i.contact_id "
                          f"WHERE i.channel_account_id = ? AND i.external_id IN "
                          f"({_marks(part)})", (acct, *part))
            for ext, *person in rows:
                people[(acct, ext)] = list(person)

    # Where: their conversations that can take a message, the best one first (active
    # before resolved, then the latest), as the one-by-one query picked it.
    threads: dict[Thread, list[Any]] = {}  # -> [conversation_id, status]
    if fresh:
        oldest = ts(min(j.now - j.reopen_window for j in fresh))
        for acct in accounts:
            contacts = sorted({people[(acct, j.msg.contact.external_id)][0] for j in fresh
                               if j.msg.channel_account_id == acct
                               and (acct, j.msg.contact.external_id) in people})
            for part in _chunks(contacts):
                rows = yield (f"SELECT v.contact_id, v.thread_key, v.id, v.status "
                              f"FROM conversations v WHERE v.channel_account_id = ? AND "
                              f"v.contact_id IN ({_marks(part)}) AND (v.status IN ('open', "
                              f"'pending', 'snoozed') OR (v.status = 'resolved' AND "
                              f"v.resolved_at >= ?)) ORDER BY CASE WHEN v.status = 'resolved' "
                              f"THEN 1 ELSE 0 END, v.last_message_at DESC", (acct, *part, oldest))
                for contact_id, thread_key, conv_id, status in rows:
                    threads.setdefault((acct, contact_id, thread_key), [conv_id, status])

    # Then each message in order, against what the batch has done so far.
    touched: dict[int, list[Any]] = {}  # conv -> [status, unread +, preview, clear snooze]
    rows_in: list[tuple[Any, ...]] = []
    made: dict[Key, tuple[int, int, bool]] = {}  # -> conversation, contact, new conv
    kinds: dict[Key, str] = {}  # -> channel kind
    stored: dict[Key, InboundMessage] = {}  # -> the message, for its attachment rows
    reopened: list[int] = []  # resolved conversations this batch reopens
    for job in fresh:
        msg, acct = job.msg, job.msg.channel_account_id
        if (acct, msg.external_id) in made:  # the same message twice in one batch
            continue
        contact_id = yield from _person(people, acct, msg.contact, now)
        author_id = None
        if msg.author is not None:  # a public comment: the group is the contact
            author_id = yield from _person(people, acct, msg.author, now)
        preview = msg.text[:PREVIEW_LEN]
        place = threads.get((acct, contact_id, msg.thread_id))
        new_conversation = place is None
        if place is None:
            rows = yield ("INSERT INTO conversations (channel_account_id, channel_kind, "
                          "contact_id, thread_key, status, unread_count, last_message_at, "
                          "last_message_preview, needs_human, is_public, created_at) "
                          "VALUES (?, ?, ?, ?, 'open', 1, ?, ?, ?, ?, ?) RETURNING id",
                          (acct, job.kind, contact_id, msg.thread_id, now, preview, False,
                           msg.author is not None, now))
            place = threads[(acct, contact_id, msg.thread_id)] = [rows[0][0], "open"]
        else:
            change = touched.setdefault(place[0], [place[1], 0, preview, False])
            change[2] = preview
            if msg.payload is None:
                # The customer wrote again: a resolved or snoozed conversation needs a
                # person. (A button press answers the bot: it neither reopens nor counts
                # as unread; the bot decides if a person is needed.)
                if place[1] == "resolved":  # the reports' activity log
                    reopened.append(place[0])
                if place[1] in ("resolved", "snoozed"):
                    place[1] = "open"
                change[0], change[3] = place[1], True
                change[1] += 1
        made[(acct, msg.external_id)] = (place[0], contact_id, new_conversation)
        kinds[(acct, msg.external_id)] = job.kind
        stored[(acct, msg.external_id)] = msg
        rows_in.append((place[0], acct, msg.external_id, msg.text,
                        json.dumps(list(msg.attachments)) if msg.attachments else "[]",
                        json.dumps(msg.meta) if msg.meta else "{}",
                        author_id, msg.payload, ts(msg.sent_at or job.now), now))
    if touched:
        yield ("UPDATE conversations SET status = ?, unread_count = unread_count + ?, "
               "last_message_at = ?, last_message_preview = ?, "
               "snoozed_until = CASE WHEN ? THEN NULL ELSE snoozed_until END, "
               "resolved_at = CASE WHEN ? THEN NULL ELSE resolved_at END WHERE id = ?",
               [(status, unread, now, preview, clear, clear, conv)
                for conv, (status, unread, preview, clear) in touched.items()])
    if reopened:  # the customer wrote again: a reopen, logged with it
        yield ("INSERT INTO conversation_events (conversation_id, kind, at) "
               "VALUES (?, 'reopened', ?)", [(conv, now) for conv in reopened])
    ids: dict[Key, int] = {}
    for part in _chunks(rows_in, 200):
        rows = yield ("INSERT INTO messages (conversation_id, channel_account_id, direction, "
                      "external_id, text, attachments, meta, author_id, payload, status, error, "
                      "attempts, sent_at, created_at) VALUES "
                      + ", ".join(["(?, ?, 'in', ?, ?, ?, ?, ?, ?, 'received', '', 0, ?, ?)"]
                                  * len(part))
                      + " RETURNING id, channel_account_id, external_id",
                      tuple(v for row in part for v in row))
        ids.update(((acct, ext), mid) for mid, acct, ext in rows)
    files = [(ids[key], *row, now) for key, msg in stored.items() for row in file_rows(
        msg.attachments)]
    if files:  # the files were written before; their rows go in with their messages
        yield ("INSERT INTO message_attachments (message_id, file_name, content_type, size, "
               "sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)", files)
    if followups and made:
        owed = [(conv_id, ids[key], json.dumps({"new_conversation": new, "kind": kinds[key],
                                                "account_id": key[0]}, separators=(",", ":")),
                 now, now) for key, (conv_id, _, new) in made.items()]
        for part in _chunks(owed, 100):
            yield ("INSERT INTO followups (kind, conversation_id, message_id, payload, due_at, "
                   "attempts, error, created_at) VALUES "
                   + ", ".join(["('received', ?, ?, ?, ?, 0, '', ?)"] * len(part)),
                   tuple(v for row in part for v in row))
    results = []
    for job in jobs:
        key = (job.msg.channel_account_id, job.msg.external_id)
        if key in made:  # the first of a key stored it; any later one is a redelivery
            conv_id, contact_id, new_conversation = made.pop(key)
            results.append(IngestResult(ids[key], conv_id, contact_id, True, new_conversation))
            seen[key] = IngestResult(ids[key], conv_id, contact_id, False)
        else:
            results.append(seen[key])
    return results


BatchSteps = Generator["Query | Many", list[Any], list[IngestResult]]
Many = tuple[str, list[tuple[Any, ...]]]  # one statement, many parameter rows


def _marks(values: list[Any]) -> str:
    return ", ".join("?" * len(values))


def _chunks(values: list[Any], size: int = _CHUNK) -> list[list[Any]]:
    return [values[i:i + size] for i in range(0, len(values), size)]


def _people(msg: InboundMessage) -> list[str]:
    return [msg.contact.external_id] + ([msg.author.external_id] if msg.author else [])


def _person(people: dict[Key, list[Any]], acct: int, info: ContactInfo, now: Any
            ) -> Generator[Query, list[Any], int]:
    """The contact behind this identity: known (with what the channel now tells us filled
    in), or made now, and remembered for the rest of the batch."""
    known = people.get((acct, info.external_id))
    if known is None:
        contact_id = yield from _new_contact(acct, info, now)
        people[(acct, info.external_id)] = [contact_id, info.name, info.email, info.phone,
                                            info.locale]
        return contact_id
    filled = yield from _fill_contact(known[0], info, tuple(known[1:]), now)
    known[1:] = filled
    return int(known[0])


def _fill_contact(contact_id: int, info: ContactInfo, old: tuple[Any, ...], now: Any
                  ) -> Generator[Query, list[Any], list[Any]]:
    """Fill in what the channel knows and we do not; never overwrite staff edits. Returns
    the contact's (name, email, phone, locale) after that."""
    names = ("name", "email", "phone", "locale")
    fill = {k: v for k, v, was in zip(names, (info.name, info.email, info.phone,
                                              info.locale), old, strict=True) if v and not was}
    if fill:
        sets = ", ".join(f"{k} = ?" for k in fill)
        yield (f"UPDATE contacts SET {sets}, updated_at = ? WHERE id = ?",
               (*fill.values(), now, contact_id))
    return [fill.get(k, was) for k, was in zip(names, old, strict=True)]


def _new_contact(acct: int, info: ContactInfo, now: Any) -> Generator[Query, list[Any], int]:
    """A new identity on this account: of the contact with the same e-mail address if
    there is one (a customer answering a marketing mail is that customer), else of a new
    contact."""
    if info.email:
        rows = yield ("SELECT id FROM contacts WHERE email = ? ORDER BY id LIMIT 1",
                      (info.email.lower(),))
        if rows:
            yield ("INSERT INTO identities (contact_id, channel_account_id, external_id, "
                   "created_at) VALUES (?, ?, ?, ?)", (rows[0][0], acct, info.external_id,
                                                       now))
            return int(rows[0][0])
    rows = yield ("INSERT INTO contacts (name, email, phone, locale, attributes, tags, "
                  "unreachable, created_at, updated_at) "
                  "VALUES (?, ?, ?, ?, '{}', '[]', '', ?, ?) RETURNING id",
                  (info.name or "", info.email, info.phone, info.locale, now, now))
    contact_id: int = rows[0][0]
    yield ("INSERT INTO identities (contact_id, channel_account_id, external_id, "
           "created_at) VALUES (?, ?, ?, ?)", (contact_id, acct, info.external_id, now))
    return contact_id


# The columns an inbound message fills with what came from outside, and their sizes.
ID_LEN, NAME_LEN, EMAIL_LEN, PHONE_LEN, LOCALE_LEN, PAYLOAD_LEN = 255, 200, 254, 64, 16, 64


def fit_inbound(msg: InboundMessage) -> InboundMessage:
    """Every field from outside made to fit its column, so that one over-long value (a
    From name of 300 characters, a Message-ID of 400) cannot fail the write on PostgreSQL
    ("value too long") and stop a channel's loop on that item for ever. Ids keep a hash
    of the whole (:func:`bot.core.clean.fit_key`), so redeliveries and threads still
    match; the whole ids stay in ``meta["uncut"]``. An e-mail address too long to be one
    is dropped (the identity still names the sender); names and the rest are cut with a
    marker. The very same object when everything fits (the usual case)."""
    ext, thread = fit_key(msg.external_id, ID_LEN), _fit_thread(msg.thread_id)
    contact, author = _fit_contact(msg.contact), msg.author and _fit_contact(msg.author)
    payload = fit(msg.payload, PAYLOAD_LEN)
    if (ext is msg.external_id and thread is msg.thread_id and contact is msg.contact
            and author is msg.author and payload is msg.payload):
        return msg
    uncut = {k: v for k, v, new in (("external_id", msg.external_id, ext),
                                    ("thread_id", msg.thread_id, thread)) if v is not new}
    meta = {**msg.meta, "uncut": uncut} if uncut else msg.meta
    return replace(msg, external_id=ext, thread_id=thread, contact=contact, author=author,
                   payload=payload, meta=meta)


def _fit_thread(thread_id: str | None) -> str | None:
    return None if thread_id is None else fit_key(thread_id, ID_LEN)


def _fit_contact(c: ContactInfo) -> ContactInfo:
    ext, name = fit_key(c.external_id, ID_LEN), fit(c.name, NAME_LEN)
    email = c.email if c.email is None or len(c.email) <= EMAIL_LEN else None
    phone, locale = fit(c.phone, PHONE_LEN), fit(c.locale, LOCALE_LEN)
    if (ext is c.external_id and name is c.name and email is c.email and phone is c.phone
            and locale is c.locale):
        return c
    return ContactInfo(ext, name, email, phone, locale)


class Writer(Protocol):
    """What ``bot.services.inbox.Intake.ingest`` hands messages to."""

    async def submit(self, msg: InboundMessage, kind: str, reopen_window: timedelta
                     ) -> IngestResult: ...

    async def close(self) -> None: ...


def sqlite_ts(dt: datetime | None) -> str | None:
    # Tortoise stores SQLite datetimes as str(aware UTC datetime); match it exactly.
    return None if dt is None else str(dt.astimezone(UTC))


Outcome = IngestResult | Exception


def settle_all(settled: list[tuple[asyncio.Future[IngestResult], Outcome]]) -> None:
    for fut, outcome in settled:
        settle(fut, outcome)


def settle(fut: asyncio.Future[IngestResult], outcome: Outcome) -> None:
    if fut.done():  # the caller went away; the message is stored all the same
        return
    if isinstance(outcome, Exception):
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)


def write_with_fallback(transaction: Callable[[list[Job]], list[IngestResult]],
                        jobs: list[Job]) -> list[Outcome]:
    """All jobs in one transaction; if that fails, each alone, twice at most (a lost race
    on a unique key succeeds on the second pass), so one bad message fails only itself."""
    if len(jobs) > 1:
        try:
            return list(transaction(jobs))
        except Exception:
            log.warning("ingest batch failed; storing its messages one by one",
                        extra={"batch": len(jobs)})
    outcomes: list[Outcome] = []
    for job in jobs:
        for attempt in (1, 2):
            try:
                outcomes.append(transaction([job])[0])
                break
            except Exception as exc:
                if attempt == 2:
                    outcomes.append(exc)
    return outcomes

