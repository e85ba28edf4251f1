"""The transactional outbox: automation owed to an event, run from durable rows.

The transaction that causes automation records it as a ``followups`` row
(:class:`bot.models.Followup`), so the work can never be lost between a commit and an
in-memory event:

* ``received``: a new inbound message (rules, the customer bot's turn, staff
  notification, listening), written by the ingest transaction itself
  (:func:`bot.core.ingest.ingest_batch`), only for a message that is new;
* ``resolved``: a conversation became resolved (rules, the bot's CSAT question), with
  the status change (:func:`bot.services.inbox.set_status`);
* ``handoff``: the customer asked for a person (staff notification), with the flag;
* ``scored``: a message's sentiment was stored (rules on sentiment), with the score.

:class:`Followups` runs them: it claims due rows with the core's lease/claim
(:func:`bot.core.due.claim`: ``SKIP LOCKED`` on PostgreSQL, one atomic ``UPDATE …
RETURNING`` on SQLite), runs each row's handler, and deletes the row once it ran (in
the next claim's commit). The process that ingested a message starts its row at once
(:meth:`Followups.kick`); the clock's tick (:meth:`Followups.sweep`, in every process)
takes whatever is left: a row whose holder died, once its lease (``followup_lease_seconds``,
longer than the slowest followup) expires, and a row whose retry is due. A resolve, a
hand-off or a score is picked up by the next pass or tick (within ``clock_seconds``).

**Ordering, per conversation.** A conversation's rows run one at a time, in id order:
a row is claimable only while no earlier row of its conversation is still pending (not
yet run, running, or waiting to be retried). Rows of different conversations run
concurrently. Ids follow commit order within a conversation for the rows that lock the
conversation's row (an inbound message, a status change, a hand-off), because their
id is drawn after that lock; a ``scored`` row, written by listening without that lock,
is ordered by its id only. A row kept with its error (after ``max_attempts``) no longer
holds its conversation back.

**Exactly once per action.** A row runs at least once (a crash between the action and
the delete runs it again), so each action is safe to run twice, keyed by the row:
a reply carries ``source_ref`` ``fu:<row>:…`` (unique in the database, so a second run
returns the stored reply and sends nothing); a staff notification records its key per
chat before it posts (at most once: a crash or a failed post loses it); mentions and scores
are unique per message; labelling and resolving are idempotent by nature; rules record
their progress in the row (``payload["done"]``, see :meth:`RuleEngine.run
<bot.services.rules.RuleEngine.run>`), so a rule fires once and a round-robin pick stays.
Listening's step never fails a row (the listening sweep scores what it missed).

**Failures.** A handler that raises is retried with backoff (``backoff_seconds``,
doubling); after ``max_attempts`` the row is kept in the table with its error (logged
once), and the conversation's later rows go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from tortoise.expressions import F

from bot.core import due
from bot.core.leases import cancel_and_wait
from bot.core.time import utcnow
from bot.models import Followup

log = logging.getLogger("switchboard.followups")
Handler = Callable[["Owed"], Awaitable[None]]
KINDS = ("received", "resolved", "handoff", "scored")


@dataclass(frozen=True, slots=True)
class Owed:
    """What a handler reads of a followup row (its datetimes are not parsed: building
    full model rows was half of the worker's time a row)."""

    id: int
    kind: str
    conversation_id: int
    message_id: int | None
    payload: dict[str, Any]
    attempts: int

    @classmethod
    def of(cls, row: Followup) -> Owed:
        return cls(row.id, row.kind, row.conversation_id, row.message_id, row.payload or {},
                   row.attempts)


async def _owed(ids: list[int]) -> list[Owed]:
    rows = await Followup.filter(id__in=ids).order_by("id").values_list(
        "id", "kind", "conversation_id", "message_id", "payload", "attempts")
    return [Owed(int(i), str(k), int(c), m, p or {}, int(a)) for i, k, c, m, p, a in rows]


def due_table(max_attempts: int) -> due.DueTable:
    """Rows still to run whose conversation has no earlier row still pending (kept rows,
    out of attempts, hold nothing back). ``followups.conversation_id`` is indexed."""
    n = int(max_attempts)
    return due.DueTable(
        "followups", "due_at",
        where=(f"attempts < {n} AND NOT EXISTS (SELECT 1 FROM followups f0 WHERE "
               f"f0.conversation_id = followups.conversation_id AND f0.id < followups.id "
               f"AND f0.attempts < {n})"))


async def record(kind: str, conversation_id: int, message_id: int | None = None,
                 payload: dict[str, Any] | None = None, using_db: Any = None) -> Followup:
    """Record work owed to an event; call it inside the transaction that causes it."""
    return await Followup.create(using_db=using_db, kind=kind, conversation_id=conversation_id,
                                 message_id=message_id, payload=payload or {},
                                 due_at=utcnow())


class Followups:
    """Claims and runs due followup rows with ``handlers`` (kind -> coroutine).

    Two ways in: :meth:`kick` (after a commit that wrote rows, and from the clock's
    tick) starts a pass in the background that claims what is due and runs each row in
    its own task (at most ``concurrency`` at once); a finished row kicks again, and the
    next pass deletes every row finished meanwhile and claims in one commit, which also
    makes their conversations' next rows claimable. While busy, passes come at most every
    ``pace`` seconds (a lone message's row starts at once): on SQLite each pass is a
    commit (an fsync) taken in turn with the ingest writer, and one pass per ingest batch
    halved ingest throughput. :meth:`run_due` does one claim and runs it to the end
    (tests, tools)."""

    def __init__(self, handlers: Mapping[str, Handler], lease_seconds: float = 120.0,
                 max_attempts: int = 5, backoff_seconds: float = 2.0,
                 batch: int = 256, concurrency: int = 256, pace: float = 0.05) -> None:
        self.handlers = dict(handlers)
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts, self.backoff, self.batch = max_attempts, backoff_seconds, batch
        self.concurrency, self.pace = concurrency, pace
        self.table = due_table(max_attempts)
        self._pump: asyncio.Task[None] | None = None
        self._again = False
        self._running: set[int] = set()  # ids this process holds
        self._done: list[int] = []  # ran, to delete
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def kick(self) -> None:
        """Something was committed (or the clock ticked): claim and run what is due, off
        the caller (a burst of kicks makes one pass more, not one task each)."""
        if self._closing:
            return
        self._again = True
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._pass())

    async def sweep(self) -> int:
        """The clock's tick: rows whose holder died (lease expired) or whose retry is
        due, and anything a kick missed."""
        self.kick()
        return 0

    async def _pass(self) -> None:
        loop = asyncio.get_running_loop()
        started = None
        while self._again and not self._closing:
            if started is not None:  # busy: passes at most every ``pace`` seconds
                await asyncio.sleep(max(0.0, started + self.pace - loop.time()))
            started = loop.time()
            self._again = False
            done, self._done = self._done, []
            room = min(self.batch, self.concurrency - len(self._running) + len(done))
            if room <= 0 and not done:
                return  # a row that finishes kicks again
            try:  # finished rows deleted and new ones claimed in one commit
                ids = await due.claim(self.table, self.lease, max(room, 0), done=done)
                rows = await _owed(ids) if ids else []
            except Exception:  # the database went away: the clock's sweep tries again
                log.exception("followups: claim failed")  # (done rows: run again, keyed)
                return
            finally:
                self._running.difference_update(done)
            if self._closing:  # shutdown began during the claim: give the rows back
                await self._give_back(ids)
                return
            for row in rows:
                self._running.add(row.id)
                task = asyncio.get_running_loop().create_task(self._run(row))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if room > 0 and len(ids) == room:
                self._again = True  # there may be more

    async def _run(self, row: Owed) -> None:
        try:
            ran = await self._attempt(row)
        except Exception:  # recording the failure failed: the lease expires, it reruns
            log.exception("followups: recording an outcome failed")
            ran = False
        if not ran:
            self._running.discard(row.id)
            return
        self._done.append(row.id)  # deleted by the next pass, with its claim
        self.kick()

    async def run_due(self, limit: int | None = None) -> int:
        """Claim due rows (at most one per conversation), run them concurrently, and
        delete the ones that ran; how many were claimed."""
        ids = await due.claim(self.table, self.lease, limit or self.batch)
        if ids:
            rows = await _owed(ids)
            ran = await asyncio.gather(*(self._attempt(row) for row in rows))
            done = [row.id for row, ok in zip(rows, ran, strict=True) if ok]
            if done:
                await Followup.filter(id__in=done).delete()
        return len(ids)

    async def run_one(self, row: Followup | Owed) -> bool:
        """Run one claimed row: deleted if it ran, else retried later or kept."""
        if not await self._attempt(row if isinstance(row, Owed) else Owed.of(row)):
            return False
        await Followup.filter(id=row.id).delete()
        return True

    async def _attempt(self, row: Owed) -> bool:
        """Run the row's handler; True if it ran, else its failure is recorded."""
        handler = self.handlers.get(row.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for followups of kind {row.kind!r}")
            await handler(row)
        except Exception as exc:
            await self._failed(row, exc)
            return False
        return True

    async def _failed(self, row: Owed, exc: Exception) -> None:
        attempts = row.attempts + 1
        error = f"{type(exc).__name__}: {exc}"[:500]
        if attempts >= self.max_attempts:  # kept with its error, logged this once
            log.error("followup gave up", exc_info=exc, extra={
                "followup": row.id, "kind": row.kind, "conversation_id": row.conversation_id,
                "attempts": attempts})
            await Followup.filter(id=row.id).update(attempts=F("attempts") + 1, error=error,
                                                    lease_until=None)
            return
        log.warning("followup failed; will retry", extra={
            "followup": row.id, "kind": row.kind, "attempts": attempts, "error": error})
        retry_at = utcnow() + timedelta(seconds=self.backoff * 2 ** (attempts - 1))
        await Followup.filter(id=row.id).update(attempts=F("attempts") + 1, error=error,
                                                due_at=retry_at, lease_until=None)

    async def _give_back(self, ids: list[int]) -> None:
        if not ids:
            return
        try:
            await Followup.filter(id__in=ids).update(lease_until=None)
        except Exception:  # their lease expires instead
            log.exception("followups: giving rows back at shutdown failed")

    async def drain(self, timeout: float = 10.0) -> None:
        """Shutdown: claim nothing more (a pass inside a claim gives its rows back), let
        the rows in flight finish, and delete the ones that ran (a row cut short keeps
        its lease and runs again elsewhere once it expires: every action is safe to run
        twice). Returns with nothing of this worker still running."""
        self._closing, self._again = True, False
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while busy := {t for t in (self._pump, *self._tasks) if t is not None and not t.done()}:
            _, late = await asyncio.wait(busy, timeout=max(0.0, end - loop.time()))
            for task in late:
                await cancel_and_wait(task)
        done, self._done = self._done, []
        if done:
            try:
                await Followup.filter(id__in=done).delete()
            except Exception:
                log.exception("followups: deleting finished rows at shutdown failed")

FOLLOWUPS: web.AppKey[Followups] = web.AppKey("followups")
