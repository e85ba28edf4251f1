"""The ingest writer on SQLite: :func:`bot.core.ingest.ingest_batch` run in one dedicated
thread with its own connection, one transaction a batch, in turn with the ORM's writers."""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.channel import InboundMessage, IngestResult
from bot.core.ingest import (
    BatchSteps,
    Job,
    Outcome,
    ingest_batch,
    settle_all,
    sqlite_ts,
    write_with_fallback,
)
from config.sqlite_backend import gated_thread

log = logging.getLogger("switchboard.ingest")
Pending = tuple[Job, "asyncio.Future[IngestResult]", asyncio.AbstractEventLoop]


class SqliteWriter:
    """The ingest writer on SQLite: one thread with its own connection (SQLite has a single
    writer anyway). It takes whatever is queued, writes it as one transaction, hands the
    results back to the event loop, and goes straight on to the next batch, so its pace
    never waits on the loop being free to schedule it."""

    def __init__(self, path: str, synchronous: str = "FULL", max_batch: int = 256,
                 followups: bool = True) -> None:
        self.path, self.synchronous, self.max_batch = path, synchronous, max_batch
        self.followups = followups  # False: the ingest benchmark's baseline only
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
                        loop.call_soon_threadsafe(settle_all, settled)
                    except RuntimeError:  # that loop is closed: nobody waits any more
                        log.warning("ingest results for a closed event loop dropped",
                                    extra={"batch": len(settled)})
        finally:
            conn.close()

    def _gated(self, conn: sqlite3.Connection, jobs: list[Job]) -> list[IngestResult]:
        """One transaction, in turn with the ORM's writers (see config.sqlite_backend)."""
        with gated_thread(self.path):
            return self._transaction(conn, jobs, self.followups)

    @staticmethod
    def _transaction(conn: sqlite3.Connection, jobs: list[Job], followups: bool = True
                     ) -> list[IngestResult]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = _drive(conn, ingest_batch(jobs, sqlite_ts, followups))
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


def _drive(conn: sqlite3.Connection, steps: BatchSteps) -> list[IngestResult]:
    try:
        step = next(steps)
        while True:
            sql, params = step
            if isinstance(params, list):
                conn.executemany(sql, params)
                rows: list[Any] = []
            else:
                rows = conn.execute(sql, params).fetchall()
            step = steps.send(rows)
    except StopIteration as done:
        results: list[IngestResult] = done.value
        return results
