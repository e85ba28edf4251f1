"""The storage side of ``bot.inbox.ingest``: raw SQL, group commit, one writer.

Why not the ORM here: building a query through the ORM costs more than running it, and on
SQLite every statement is a hop to aiosqlite's thread; the hot path paid ~4 ms a message.

* :func:`ingest_steps` is the whole algorithm, written once as a generator that *yields*
  ``(sql, params)`` and receives the rows back, so it does no I/O itself.
* A driver runs it: :class:`SqliteDriver` synchronously in one dedicated writer thread with
  its own connection (one thread hop per batch), :class:`TortoiseDriver` asynchronously on
  the ORM's connection (PostgreSQL, or anything Tortoise speaks).
* :class:`Ingestor` is a single writer task. Messages that arrive while a batch is being
  written wait and go into the next one: a batch is one transaction, and every caller's
  future resolves only after its COMMIT, so "acknowledged" still means "committed".
  If a batch fails, each of its messages is retried alone, so one bad message cannot
  take others down with it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import re
import sqlite3
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from channels.base import ContactInfo, InboundMessage, IngestResult

log = logging.getLogger("switchboard.ingest")
Query = tuple[str, tuple[Any, ...]]
PREVIEW_LEN = 200  # characters of the last message shown in the inbox list
Steps = Generator[Query, list[Any], IngestResult]


@dataclass(frozen=True)
class Job:
    msg: InboundMessage
    kind: str
    now: datetime
    reopen_window: timedelta


def ingest_steps(job: Job, ts: Callable[[datetime | None], Any]) -> Steps:
    """Store one inbound message: idempotent on (account, external_id), contact resolved
    by identity, threaded into an active (or recently resolved, reopened) conversation.

    ``ts`` converts datetimes to what the database driver stores.
    """
    msg, info, now = job.msg, job.msg.contact, ts(job.now)
    acct = msg.channel_account_id
    rows = yield ("SELECT m.id, m.conversation_id, c.contact_id FROM messages m "
                  "JOIN conversations c ON c.id = m.conversation_id "
                  "WHERE m.channel_account_id = ? AND m.external_id = ?", (acct, msg.external_id))
    if rows:
        return IngestResult(rows[0][0], rows[0][1], rows[0][2], False)

    # One query finds the contact (with the fields we might fill in) and the conversation
    # to thread into: an active one first, else one resolved within the reopen window.
    thread = "v.thread_key IS NULL" if msg.thread_id is None else "v.thread_key = ?"
    thread_arg: tuple[Any, ...] = () if msg.thread_id is None else (msg.thread_id,)
    rows = yield (f"SELECT i.contact_id, c.name, c.email, c.phone, c.locale, v.id, v.status "
                  f"FROM identities i JOIN contacts c ON c.id = i.contact_id "
                  f"LEFT JOIN conversations v ON v.id = (SELECT v.id FROM conversations v "
                  f"WHERE v.contact_id = i.contact_id AND v.channel_account_id = ? AND "
                  f"{thread} AND (v.status IN ('open', 'pending', 'snoozed') OR "
                  f"(v.status = 'resolved' AND v.resolved_at >= ?)) ORDER BY CASE WHEN "
                  f"v.status = 'resolved' THEN 1 ELSE 0 END, v.last_message_at DESC LIMIT 1) "
                  f"WHERE i.channel_account_id = ? AND i.external_id = ?",
                  (acct, *thread_arg, ts(job.now - job.reopen_window), acct, info.external_id))
    conv_id = status = None
    if rows:
        contact_id, name, email, phone, locale, conv_id, status = rows[0]
        yield from _fill_contact(contact_id, info, (name, email, phone, locale), now)
    else:
        contact_id = yield from _new_contact(acct, info, now)
    author_id = None
    if msg.author is not None:  # a public comment: the group is the contact, this the author
        rows = yield ("SELECT i.contact_id, c.name, c.email, c.phone, c.locale FROM identities i "
                      "JOIN contacts c ON c.id = i.contact_id "
                      "WHERE i.channel_account_id = ? AND i.external_id = ?",
                      (acct, msg.author.external_id))
        if rows:
            author_id = rows[0][0]
            yield from _fill_contact(author_id, msg.author, rows[0][1:], now)
        else:
            author_id = yield from _new_contact(acct, msg.author, now)
    preview = msg.text[:PREVIEW_LEN]
    new_conversation = conv_id is None
    if conv_id is not None and msg.payload is not None:
        # A button press answers the bot (a menu choice, a rating): it neither reopens a
        # resolved conversation nor counts as unread. The bot decides if a person is needed.
        yield ("UPDATE conversations SET last_message_at = ?, last_message_preview = ? "
               "WHERE id = ?", (now, preview, conv_id))
    elif conv_id is not None:
        # The customer wrote again: a resolved or snoozed conversation needs a person.
        status = "open" if status in ("resolved", "snoozed") else status
        yield ("UPDATE conversations SET status = ?, unread_count = unread_count + 1, "
               "last_message_at = ?, last_message_preview = ?, snoozed_until = NULL, "
               "resolved_at = NULL WHERE id = ?", (status, now, preview, conv_id))
    else:
        rows = yield ("INSERT INTO conversations (channel_account_id, channel_kind, contact_id, "
                      "thread_key, status, unread_count, last_message_at, last_message_preview, "
                      "needs_human, is_public, created_at) "
                      "VALUES (?, ?, ?, ?, 'open', 1, ?, ?, ?, ?, ?) RETURNING id",
                      (acct, job.kind, contact_id, msg.thread_id, now, preview, False,
                       msg.author is not None, now))
        conv_id = rows[0][0]
    rows = yield ("INSERT INTO messages (conversation_id, channel_account_id, direction, "
                  "external_id, text, attachments, meta, author_id, payload, status, error, "
                  "attempts, sent_at, created_at) "
                  "VALUES (?, ?, 'in', ?, ?, ?, ?, ?, ?, 'received', '', 0, ?, ?) RETURNING id",
                  (conv_id, acct, msg.external_id, msg.text,
                   json.dumps(list(msg.attachments)) if msg.attachments else "[]",
                   json.dumps(msg.meta) if msg.meta else "{}",
                   author_id, msg.payload, ts(msg.sent_at or job.now), now))
    return IngestResult(rows[0][0], conv_id, contact_id, True, new_conversation)


def _fill_contact(contact_id: int, info: ContactInfo, old: tuple[Any, ...], now: Any
                  ) -> Generator[Query, list[Any], None]:
    """Fill in what the channel knows and we do not; never overwrite staff edits."""
    fill = {k: v for k, v, was in zip(("name", "email", "phone", "locale"),
                                      (info.name, info.email, info.phone, info.locale), old,
                                      strict=True) if v and not was}
    if fill:
        sets = ", ".join(f"{k} = ?" for k in fill)
        yield (f"UPDATE contacts SET {sets}, updated_at = ? WHERE id = ?",
               (*fill.values(), now, contact_id))


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


class Writer(Protocol):
    """What ``bot.inbox.ingest`` hands messages to."""

    async def submit(self, msg: InboundMessage, kind: str, reopen_window: timedelta
                     ) -> IngestResult: ...

    async def close(self) -> None: ...


def _sqlite_ts(dt: datetime | None) -> str | None:
    # Tortoise stores SQLite datetimes as str(aware UTC datetime); match it exactly.
    return None if dt is None else str(dt.astimezone(UTC))


class SqliteWriter:
    """The ingest writer on SQLite: one thread with its own connection (SQLite has a single
    writer anyway). It takes whatever is queued, writes it as one transaction, hands the
    results back to the event loop, and goes straight on to the next batch, so its pace
    never waits on the loop being free to schedule it."""

    def __init__(self, path: str, synchronous: str = "FULL", max_batch: int = 256) -> None:
        self.path, self.synchronous, self.max_batch = path, synchronous, max_batch
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def submit(self, msg: InboundMessage, kind: str, reopen_window: timedelta
                     ) -> IngestResult:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sb-ingest",
                                                daemon=True)
                self._thread.start()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[IngestResult] = loop.create_future()
        self._queue.put((Job(msg, kind, datetime.now(UTC), reopen_window), fut, loop))
        return await fut

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        for pragma in ("journal_mode=WAL", f"synchronous={self.synchronous}",
                       "busy_timeout=10000", "foreign_keys=ON"):
            conn.execute(f"PRAGMA {pragma}")
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                outcomes = write_with_fallback(lambda jobs: self._transaction(conn, jobs),
                                               [job for job, _, _ in batch])
                for (_, fut, loop), outcome in zip(batch, outcomes, strict=True):
                    loop.call_soon_threadsafe(_settle, fut, outcome)
        finally:
            conn.close()

    @staticmethod
    def _transaction(conn: sqlite3.Connection, jobs: list[Job]) -> list[IngestResult]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = [_drive(conn, ingest_steps(job, _sqlite_ts)) for job in jobs]
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return results

    async def close(self) -> None:
        """Finish everything queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None


Pending = tuple[Job, "asyncio.Future[IngestResult]", asyncio.AbstractEventLoop]
Outcome = IngestResult | Exception


def _drive(conn: sqlite3.Connection, steps: Steps) -> IngestResult:
    rows: list[Any] | None = None
    try:
        while True:
            sql, params = steps.send(rows)  # type: ignore[arg-type]
            rows = conn.execute(sql, params).fetchall()
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _settle(fut: asyncio.Future[IngestResult], outcome: Outcome) -> None:
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


_PARAM = re.compile(r"\?")


class TortoiseDriver:
    """Runs the same steps on the ORM's connection (``?`` becomes ``$n`` on PostgreSQL)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._sql: dict[str, str] = {}

    def _q(self, sql: str) -> str:
        if self.dialect != "postgres":
            return sql
        out = self._sql.get(sql)
        if out is None:
            counter = iter(range(1, 1000))
            out = self._sql[sql] = _PARAM.sub(lambda _: f"${next(counter)}", sql)
        return out

    async def run(self, jobs: list[Job]) -> list[IngestResult]:
        from tortoise.transactions import in_transaction

        ts = (lambda d: d) if self.dialect == "postgres" else _sqlite_ts
        results = []
        async with in_transaction() as conn:
            for job in jobs:
                steps = ingest_steps(job, ts)
                rows: list[Any] | None = None
                try:
                    while True:
                        sql, params = steps.send(rows)  # type: ignore[arg-type]
                        # execute_query drops RETURNING rows of INSERTs on asyncpg
                        found = await conn.execute_query_dict(self._q(sql), list(params))
                        rows = [tuple(r.values()) for r in found]
                except StopIteration as done:
                    results.append(done.value)
        return results

class Ingestor:
    """The ingest writer on PostgreSQL (or anything Tortoise speaks): a single writer task
    with group commit; each batch is one transaction on the ORM's connection."""

    def __init__(self, driver: TortoiseDriver, max_batch: int = 256) -> None:
        self.driver, self.max_batch = driver, max_batch
        self._queue: asyncio.Queue[tuple[Job, asyncio.Future[IngestResult]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._busy = False

    async def submit(self, msg: InboundMessage, kind: str, reopen_window: timedelta
                     ) -> IngestResult:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._writer())
        fut: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((Job(msg, kind, datetime.now(UTC), reopen_window), fut))
        return await fut

    async def _writer(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._busy = True
            try:
                outcomes = await self._batch([job for job, _ in batch])
                for (_, fut), outcome in zip(batch, outcomes, strict=True):
                    _settle(fut, outcome)
            finally:
                self._busy = False

    async def _batch(self, jobs: list[Job]) -> list[Outcome]:
        """As :func:`write_with_fallback`, on the event loop."""
        if len(jobs) > 1:
            try:
                return list(await self.driver.run(jobs))
            except Exception:
                log.warning("ingest batch failed; storing its messages one by one",
                            extra={"batch": len(jobs)})
        return [await self._one(job) for job in jobs]

    async def _one(self, job: Job) -> Outcome:
        for attempt in (1, 2):  # a lost race on a unique key succeeds on the second pass
            try:
                return (await self.driver.run([job]))[0]
            except Exception as exc:
                if attempt == 2:
                    return exc
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Finish what is queued, then stop the writer."""
        while not self._queue.empty() or self._busy:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
