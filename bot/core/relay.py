"""Events across processes on one PostgreSQL: LISTEN/NOTIFY over a dedicated connection.

Each process opens one asyncpg connection that LISTENs on one channel and also sends this
process's crossing events there (``SELECT pg_notify``, a batch in one statement). A
notification is small JSON: the sender's id (a process ignores its own echo: it ran its
handlers already), the event's type and its fields (ids, never message text; PostgreSQL
caps a payload at 8000 bytes). The receiver rebuilds the event and runs its
``everywhere`` handlers (:meth:`EventBus.receive`).

Best-effort by design: while the connection is down (the database restarted, the backend
was terminated) events are queued up to a bound and sent after the reconnect, and
notifications sent by others meanwhile are missed. What must not be lost is durable
elsewhere (messages, their status, the outbox); a staff page refetches and a web chat
widget reloads its history when its socket reconnects.

SQLite has one process: :func:`relay_for` gives no relay there, the bus stays in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import secrets
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from bot.core.events import EVENT_TYPES, Event, EventBus, RelayResumed
from config import Settings

log = logging.getLogger("switchboard.events")

CHANNEL = "switchboard_events"
APPLICATION_NAME = "switchboard-events"  # how its connection shows in pg_stat_activity
MAX_PAYLOAD = 7999  # bytes; PostgreSQL refuses 8000 and more
MAX_QUEUED = 10_000  # events waiting for a connection; more are dropped (logged once)
BATCH = 200  # notifications sent in one statement
_NOTIFY = "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p"
# Tortoise's pool options in a database URL, which asyncpg.connect would take for
# server settings
_POOL_OPTIONS = {"minsize", "maxsize", "max_queries", "max_inactive_connection_lifetime",
                 "connection_class", "pool_recycle"}


def asyncpg_dsn(url: str) -> str:
    """The database URL as asyncpg takes it (``postgres://``, no pool options)."""
    for scheme in ("asyncpg://", "postgresql://"):
        if url.startswith(scheme):
            url = "postgres://" + url[len(scheme):]
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in _POOL_OPTIONS]
    return urlunsplit(parts._replace(query=urlencode(query)))


class PgRelay:
    """One process's end of the relay. ``start()`` returns once it listens (or after its
    first attempt failed: it goes on trying in the background); ``close()`` stops it."""

    def __init__(self, bus: EventBus, dsn: str, channel: str = CHANNEL,
                 max_backoff: float = 30.0) -> None:
        self.bus, self.dsn, self.channel, self.max_backoff = bus, dsn, channel, max_backoff
        self.origin = secrets.token_hex(8)  # this process, for ignoring its own echo
        self._queue: asyncio.Queue[str] = asyncio.Queue(MAX_QUEUED)
        self._unsent: list[str] = []  # the batch being sent: sent again after a reconnect
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._listening = asyncio.Event()  # tests and start() wait on it
        self._dropped = False
        self.connects = 0  # how many times it (re)connected (tests read it)

    # --- sending ---------------------------------------------------------------------------

    def send(self, event: Event) -> None:
        """Queue a crossing event for the other processes (never blocks, never raises)."""
        fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
        try:
            text = json.dumps({"o": self.origin, "t": type(event).__name__, "f": fields},
                              separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError):
            log.warning("event not relayed: its fields are not JSON",
                        extra={"event": type(event).__name__})
            return
        if len(text.encode()) > MAX_PAYLOAD:
            log.warning("event not relayed: too large for a notification",
                        extra={"event": type(event).__name__})
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            if not self._dropped:
                self._dropped = True
                log.warning("events for other processes dropped: the relay is not connected")

    # --- receiving -------------------------------------------------------------------------

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            if data.get("o") == self.origin:
                return  # our own echo: the local handlers ran when it was published
            cls = EVENT_TYPES.get(data.get("t"))
            if cls is None or not cls.crosses or not isinstance(data.get("f"), dict):
                log.debug("unknown notification ignored")
                return
            event = cls(**data["f"])
        except (ValueError, TypeError, AttributeError):
            log.warning("malformed notification ignored", extra={"channel": self.channel})
            return
        self.bus.receive(event)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, timeout: float = 15.0) -> None:
        self.bus.relay = self.send
        self._task = asyncio.get_running_loop().create_task(self._run())
        with contextlib.suppress(TimeoutError):  # down for now: it keeps trying
            await asyncio.wait_for(self._listening.wait(), timeout)

    async def close(self) -> None:
        if self.bus.relay == self.send:
            self.bus.relay = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_listening(self) -> None:
        await self._listening.wait()

    async def _run(self) -> None:
        delay, failing = 0.5, False
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self.dsn, timeout=10, server_settings={
                    "application_name": APPLICATION_NAME})
            except Exception as exc:  # refused, down, a bad password: all retried
                if not failing:
                    failing = True
                    log.warning("event relay cannot connect; retrying",
                                extra={"error": type(exc).__name__})
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            try:
                conn.add_termination_listener(functools.partial(_set, lost))
                await conn.add_listener(self.channel, self._on_notify)
                self._conn, self.connects = conn, self.connects + 1
                if failing:
                    log.info("event relay connected again")
                failing, delay, self._dropped = False, 0.5, False
                self._listening.set()
                if self.connects > 1:  # notifications were missed while it was down
                    self.bus.publish(RelayResumed())
                await self._send_until(conn, lost)
            except Exception as exc:  # the connection broke mid-statement
                if not failing:
                    failing = True
                    log.warning("event relay lost its connection; reconnecting",
                                extra={"error": type(exc).__name__})
            finally:
                self._listening.clear()
                self._conn = None
                if not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=5))
            if lost.is_set() and not failing:
                failing = True
                log.warning("event relay lost its connection; reconnecting")
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    async def _send_until(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Send queued events in batches until the connection is lost. A batch whose
        statement failed (the connection broke under it) stays first in line for the next
        connection: nothing taken from the queue is dropped."""
        lost_wait = asyncio.ensure_future(lost.wait())
        get: asyncio.Future[str] | None = None
        try:
            while True:
                if not self._unsent:
                    get = asyncio.ensure_future(self._queue.get())
                    await asyncio.wait({get, lost_wait}, return_when=asyncio.FIRST_COMPLETED)
                    if not get.done():
                        return
                    self._unsent, get = [get.result()], None
                while len(self._unsent) < BATCH and not self._queue.empty():
                    self._unsent.append(self._queue.get_nowait())
                await conn.execute(_NOTIFY, self.channel, self._unsent)  # lost: raises
                self._unsent = []
        finally:
            lost_wait.cancel()
            if get is not None:
                if get.done() and not get.cancelled():
                    self._unsent.append(get.result())  # taken as we were cancelled
                else:
                    get.cancel()


def _set(flag: asyncio.Event, _conn: object) -> None:
    flag.set()


@contextlib.asynccontextmanager
async def relay_for(settings: Settings, bus: EventBus) -> AsyncIterator[PgRelay | None]:
    """The server's relay while the block runs: on PostgreSQL, LISTEN/NOTIFY; on SQLite
    (one process), none."""
    if settings.is_sqlite:
        yield None
        return
    relay = PgRelay(bus, asyncpg_dsn(settings.resolved_database_url))
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()

