"""Tortoise's SQLite backend, made safe and fair beside the ingest writer thread.

SQLite has one write lock per database. In this process two writers want it: the ORM's
connection (staff actions, scores, claims) and the ingest writer thread (every inbound
message). Two things went wrong with Tortoise's stock backend:

* **Stale snapshots.** Tortoise begins transactions with a deferred ``BEGIN``. In WAL mode
  such a transaction's first read pins a snapshot; if the ingest writer commits before the
  transaction's first write, that write cannot upgrade and SQLite fails it at once with
  "database is locked" (SQLITE_BUSY_SNAPSHOT, no busy wait). Transactions here begin
  ``IMMEDIATE``: the write lock first, then the reads.
* **Starvation.** A writer that finds the lock taken waits in SQLite's busy handler, which
  sleeps and polls (1, 2, 5 ... 100 ms). The ingest writer, with work queued, takes the lock
  again the moment it commits, so the ORM kept losing. Its transaction held Tortoise's one
  connection meanwhile, and every staff page waited behind it: under a stream of inbound
  messages with sentiment on, staff API calls took seconds.
  So the process's writers queue at a :class:`WriteGate`, first come first served, and hand
  the lock over directly: nobody polls. SQLite's own lock still guards against other
  processes (a CLI import, a second server), where the busy timeout applies as before.

Lock order is always gate, then Tortoise's connection lock, so the two cannot deadlock.
A writer that has waited ``GATE_TIMEOUT`` for the gate goes on without it (SQLite's lock
still keeps the data safe) and says so in the log, rather than hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError

log = logging.getLogger("switchboard.db")
GATE_TIMEOUT = 10.0  # seconds, as the connections' busy_timeout
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC", "CREATE", "DROP", "ALTER")


class WriteGate:
    """A first-come-first-served lock shared by threads and event-loop tasks. ``release``
    hands it straight to the longest waiter, so a writer that releases and asks again at
    once queues behind the others instead of barging ahead of them."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[Callable[[], None]] = deque()

    def _try_take(self, wake: Callable[[], None]) -> bool:
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                return True
            self._waiters.append(wake)
            return False

    def _withdraw(self, wake: Callable[[], None]) -> bool:
        """Leave the queue; False if the gate was already handed to this waiter."""
        with self._mutex:
            try:
                self._waiters.remove(wake)
                return True
            except ValueError:
                return False

    def acquire(self, timeout: float = GATE_TIMEOUT) -> bool:
        """Block this thread until the gate is ours (True), or ``timeout`` (False)."""
        handed = threading.Event()
        if self._try_take(handed.set) or handed.wait(timeout):
            return True
        if self._withdraw(handed.set):
            return False
        return True  # handed over just as the wait ended

    async def acquire_async(self, timeout: float = GATE_TIMEOUT) -> bool:
        """As :meth:`acquire`, waiting in the event loop."""
        loop = asyncio.get_running_loop()
        handed: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(_resolve, handed)
        if self._try_take(wake):
            return True
        try:
            await asyncio.wait_for(asyncio.shield(handed), timeout)
            return True
        except (TimeoutError, asyncio.CancelledError) as exc:
            if not self._withdraw(wake):
                # The gate was handed to us as we gave up: pass it on, then give up.
                self.release()
            if isinstance(exc, asyncio.CancelledError):
                raise
            return False

    def release(self) -> None:
        with self._mutex:
            if not self._waiters:
                self._held = False
                return
            wake = self._waiters.popleft()  # ownership passes directly: still held
        wake()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


_gates: dict[str, WriteGate] = {}
_gates_lock = threading.Lock()


def gate_for(path: str) -> WriteGate:
    """The gate of the database file at ``path`` (one per file in this process)."""
    with _gates_lock:
        gate = _gates.get(path)  # by the path as given: realpath is a syscall a component
        if gate is None:
            key = os.path.realpath(path) if path != ":memory:" else path
            gate = _gates[path] = _gates.setdefault(key, WriteGate())
        return gate


@contextlib.contextmanager
def _holding(gate: WriteGate, path: str, ours: bool) -> Iterator[None]:
    """Give the gate back on the way out, if it was ours; say so if it was not."""
    if not ours:
        log.warning("waited %.0f s for the SQLite write gate; going on without it",
                    GATE_TIMEOUT, extra={"database": path})
    try:
        yield
    finally:
        if ours:
            gate.release()


@contextlib.asynccontextmanager
async def gated(path: str) -> AsyncIterator[None]:
    """Hold the gate of ``path`` in the event loop (ORM writers)."""
    gate = gate_for(path)
    with _holding(gate, path, await gate.acquire_async()):
        yield


@contextlib.contextmanager
def gated_thread(path: str) -> Iterator[None]:
    """Hold the gate of ``path`` in a thread (the ingest writer)."""
    gate = gate_for(path)
    with _holding(gate, path, gate.acquire()):
        yield


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class GatedTransactionContext(SqliteTransactionContext):
    """Takes the gate before Tortoise's connection lock, gives it back after both the
    COMMIT (or ROLLBACK) and the lock."""

    __slots__ = ("_gate",)

    async def __aenter__(self) -> Any:
        self._gate = gated(self.connection._parent.filename)
        await self._gate.__aenter__()
        try:
            return await self._begin()
        except BaseException:
            await self._gate.__aexit__(None, None, None)
            raise

    async def _begin(self) -> Any:
        """Tortoise's ``__aenter__``, but one that gives its lock back when it fails.

        Tortoise takes the connection's lock, then begins; when the begin fails or is
        cancelled (the clock cancels its runs when the app stops) ``__aexit__`` never runs
        and the lock stayed taken: every later query of the process waited forever. The
        ``BEGIN`` may still run in aiosqlite's thread after a cancel, so it is rolled back
        (queued behind it, waited for to the end) before the lock is free."""
        await self._trxlock.acquire()
        token = None
        try:
            await self.ensure_connection()
            token = self.token = get_connections().set(self.connection_name, self.connection)
            await self.connection.begin()
            return self.connection
        except BaseException:
            if token is not None:
                get_connections().reset(token)
            try:
                await _to_the_end(self._rollback_if_open())
            finally:
                self._trxlock.release()
            raise

    async def _rollback_if_open(self) -> None:
        raw = self.connection._connection
        with contextlib.suppress(sqlite3.Error, ValueError):  # no transaction; closed
            if raw is not None:
                await raw.rollback()

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        try:
            await super().__aexit__(exc_type, exc_val, exc_tb)
        finally:
            await self._gate.__aexit__(None, None, None)


async def _to_the_end(work: Coroutine[Any, Any, None]) -> None:
    """Await ``work`` to its end even if this task is cancelled meanwhile; then raise the
    cancel."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


def _writes(query: str) -> bool:
    return query.lstrip()[:6].upper().startswith(_WRITES)


class ImmediateSqliteClient(SqliteClient):
    """Transactions begin IMMEDIATE behind the gate; single writing statements outside a
    transaction queue at the gate too."""

    def _in_transaction(self) -> Any:
        return GatedTransactionContext(ImmediateTransactionWrapper(self), self._lock)

    async def execute_insert(self, query: str, values: list[Any]) -> Any:
        async with gated(self.filename):
            return await super().execute_insert(query, values)

    async def execute_many(self, query: str, values: list[list[Any]]) -> None:
        async with gated(self.filename):
            await super().execute_many(query, values)

    def _gate_if_writing(self, query: str) -> Any:
        return gated(self.filename) if _writes(query) else contextlib.nullcontext()

    async def execute_query(self, query: str, values: list[Any] | None = None) -> Any:
        async with self._gate_if_writing(query):
            return await super().execute_query(query, values)

    async def execute_query_dict(self, query: str, values: list[Any] | None = None) -> Any:
        async with self._gate_if_writing(query):
            return await super().execute_query_dict(query, values)

    async def execute_script(self, query: str) -> None:
        async with gated(self.filename):
            await super().execute_script(query)


client_class = ImmediateSqliteClient
