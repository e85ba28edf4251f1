"""The storage side of ``bot.inbox.ingest``: raw SQL, group commit, one writer.

Why not the ORM here: building a query through the ORM costs more than running it, and on
SQLite every statement is a hop to aiosqlite's thread; the hot path paid ~4 ms a message.

* :func:`ingest_batch` is the whole algorithm, for a batch of messages, written once as a
  generator that *yields* ``(sql, params)`` (``params`` a list of rows: executemany) and
  receives the rows back, so it does no I/O itself.
* A driver runs it: :class:`SqliteWriter` synchronously in one dedicated writer thread
  with its own connection (one thread hop per batch), :class:`TortoiseDriver`
  asynchronously on the ORM's connection (PostgreSQL, or anything Tortoise speaks).
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

from bot.core.channel import ContactInfo, InboundMessage, IngestResult
from config.sqlite_backend import gated_thread

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


def ingest_batch(jobs: list[Job], ts: Callable[[datetime | None], Any]) -> BatchSteps:
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
                if place[1] in ("resolved", "snoozed"):
                    place[1] = "open"
                change[0], change[3] = place[1], True
                change[1] += 1
        made[(acct, msg.external_id)] = (place[0], contact_id, new_conversation)
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
            if self._thread is None or not self._thread.is_alive():
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
                outcomes = write_with_fallback(lambda jobs: self._gated(conn, jobs),
                                               [job for job, _, _ in batch])
                # One wake-up of each waiting loop per batch, not one per message.
                by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Outcome]]] = {}
                for (_, fut, loop), outcome in zip(batch, outcomes, strict=True):
                    by_loop.setdefault(loop, []).append((fut, outcome))
                for loop, settled in by_loop.items():
                    try:
                        loop.call_soon_threadsafe(_settle_all, settled)
                    except RuntimeError:  # that loop is closed: nobody waits any more
                        log.warning("ingest results for a closed event loop dropped",
                                    extra={"batch": len(settled)})
        finally:
            conn.close()

    def _gated(self, conn: sqlite3.Connection, jobs: list[Job]) -> list[IngestResult]:
        """One transaction, in turn with the ORM's writers (see config.sqlite_backend)."""
        with gated_thread(self.path):
            return self._transaction(conn, jobs)

    @staticmethod
    def _transaction(conn: sqlite3.Connection, jobs: list[Job]) -> list[IngestResult]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = _drive(conn, ingest_batch(jobs, _sqlite_ts))
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


def _drive(conn: sqlite3.Connection, steps: BatchSteps) -> list[IngestResult]:
    rows: list[Any] | None = None
    try:
        while True:
            sql, params = steps.send(rows)  # type: ignore[arg-type]
            if isinstance(params, list):
                conn.executemany(sql, params)
                rows = []
            else:
                rows = conn.execute(sql, params).fetchall()
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _settle_all(settled: list[tuple[asyncio.Future[IngestResult], Outcome]]) -> None:
    for fut, outcome in settled:
        _settle(fut, outcome)


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
        async with in_transaction() as conn:
            steps = ingest_batch(jobs, ts)
            rows: list[Any] | None = None
            try:
                while True:
                    sql, params = steps.send(rows)  # type: ignore[arg-type]
                    # execute_query drops RETURNING rows of INSERTs on asyncpg
                    for one in params if isinstance(params, list) else [params]:
                        found = await conn.execute_query_dict(self._q(sql), list(one))
                    rows = [tuple(r.values()) for r in found]
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]


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

    async def close(self, timeout: float = 30.0) -> None:
        """Finish what is queued (for at most ``timeout`` seconds), then stop the writer."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (not self._queue.empty() or self._busy) and self._task is not None \
                and not self._task.done():
            if asyncio.get_running_loop().time() > deadline:
                log.warning("ingest writer still busy at shutdown",
                            extra={"queued": self._queue.qsize()})
                break
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
