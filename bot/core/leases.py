"""Named leases: work that must run in one process at a time (a Telegram bot's getUpdates
loop, an IMAP mailbox, a clock job that sweeps whole tables), held by one process and
taken over by another within a bounded time when the holder dies.

A lease is a row of the ``leases`` table (:class:`bot.models.work.Lease`): ``name``,
``holder`` (one id per process start, :data:`HOLDER`), ``until``. :func:`acquire` is
one atomic statement on both SQLite and PostgreSQL::

    INSERT INTO leases … ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, …
    WHERE leases.until < now OR leases.holder = excluded.holder RETURNING holder

so it takes a free or lapsed lease, or renews our own, and returns no row while another
holder's lease is live. Concurrent callers are serialised on the row (PostgreSQL's row
lock of the upsert, SQLite's single writer): exactly one of them gets it.

Why a table, not PostgreSQL advisory locks: an advisory lock belongs to a database
connection, and Tortoise hands out pooled connections per statement, so the lock would
be held by whichever connection happened to run ``pg_try_advisory_lock`` and released
(or kept for ever) with that connection's life, not the process's; it also does not
exist on SQLite. A lease row works through any pool, on both databases, shows who holds
what (``SELECT * FROM leases``), and its expiry bounds a takeover when the holder is
frozen rather than dead.

Time: on PostgreSQL ``now`` is the database's clock, so processes on several hosts agree
on when a lease lapses; on SQLite (one host) it is this process's UTC clock, in the text
form SQLite keeps (see :func:`bot.core.due._ts`).

Never two holders at once: :class:`Holding` keeps a local deadline on the monotonic
clock, ``ttl`` after the moment it *sent* its last successful acquire (the database's
``until`` is at least that late), and stops the work when it passes without a renewal,
even if the renewal is merely slow or the database unreachable. A holder that is frozen
(SIGSTOP, a stalled VM) past its lease wakes up with its deadline passed: the work is
cancelled at once and a loop that checks :meth:`Holding.live` before each remote call
makes none. What can still overlap is bounded to what was already in flight when it
froze (one long poll, one IMAP command), whose results are stored idempotently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from datetime import UTC, datetime, timedelta

from tortoise import connections

from bot.core.due import _dialect, _ts

log = logging.getLogger("switchboard.leases")

# One id per process start: a restarted process is a new holder (its old leases lapse or
# were released), and two processes on one host never share one.
HOLDER = f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"

# The local deadline ends this share of the lease early, for clock-rate drift between
# this host and the database's.
SAFETY = 0.1

# A process waiting for another's lease tries again this long (at most) after it lapses:
# a live holder renews on time and keeps it, a dead one's is taken within ttl + RETRY.
RETRY = 1.0


async def acquire(name: str, holder: str, ttl: float) -> bool:
    """Take the lease ``name`` for ``holder`` for ``ttl`` seconds if it is free, lapsed or
    already ``holder``'s (then it is renewed); False while another holder's is live."""
    conn = connections.get("default")
    if _dialect() == "postgres":
        rows = await conn.execute_query_dict(
            "INSERT INTO leases (name, holder, until, acquired_at) "
            "VALUES ($1, $2, now() + make_interval(secs => $3), now()) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "until = excluded.until, acquired_at = CASE WHEN leases.holder = excluded.holder "
            "THEN leases.acquired_at ELSE excluded.acquired_at END "
            "WHERE leases.until < now() OR leases.holder = excluded.holder "
            "RETURNING holder", [name, holder, float(ttl)])
    else:
        now = datetime.now(UTC)
        rows = await conn.execute_query_dict(
            "INSERT INTO leases (name, holder, until, acquired_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "until = excluded.until, acquired_at = CASE WHEN leases.holder = excluded.holder "
            "THEN leases.acquired_at ELSE excluded.acquired_at END "
            "WHERE leases.until < ? OR leases.holder = excluded.holder "
            "RETURNING holder", [name, holder, _ts(now + timedelta(seconds=ttl)), _ts(now),
                                 _ts(now)])
    return bool(rows) and rows[0]["holder"] == holder


async def release(name: str, holder: str) -> bool:
    """Give the lease up (on a clean shutdown), so another process takes it at once."""
    conn = connections.get("default")
    sql = ("DELETE FROM leases WHERE name = $1 AND holder = $2 RETURNING name"
           if _dialect() == "postgres" else
           "DELETE FROM leases WHERE name = ? AND holder = ? RETURNING name")
    return bool(await conn.execute_query_dict(sql, [name, holder]))


async def lapses_in(name: str) -> float | None:
    """Seconds until the lease ``name`` lapses (0 or less: it has; None: no lease)."""
    conn = connections.get("default")
    if _dialect() == "postgres":
        rows = await conn.execute_query_dict(
            "SELECT extract(epoch FROM until - now()) AS left FROM leases WHERE name = $1",
            [name])
    else:
        rows = await conn.execute_query_dict(
            "SELECT until FROM leases WHERE name = ?", [name])
        if rows:
            until = datetime.fromisoformat(str(rows[0]["until"]))
            return (until - datetime.now(UTC)).total_seconds()
    return float(rows[0]["left"]) if rows else None


async def holder_of(name: str) -> str | None:
    """Who holds ``name`` now (None: nobody, or the lease lapsed)."""
    conn = connections.get("default")
    if _dialect() == "postgres":
        rows = await conn.execute_query_dict(
            "SELECT holder FROM leases WHERE name = $1 AND until >= now()", [name])
    else:
        rows = await conn.execute_query_dict(
            "SELECT holder FROM leases WHERE name = ? AND until >= ?",
            [name, _ts(datetime.now(UTC))])
    return str(rows[0]["holder"]) if rows else None


class Holding:
    """One lease as this process sees it: :meth:`take` it, :meth:`keep` it while a task
    runs (the task is cancelled the moment the lease is lost), :meth:`release` it."""

    def __init__(self, name: str, ttl: float, holder: str = HOLDER) -> None:
        self.name, self.ttl, self.holder = name, ttl, holder
        self.deadline = 0.0  # time.monotonic() until which the lease is surely ours

    def live(self) -> bool:
        """True while the lease is surely ours: check it before each remote call."""
        return time.monotonic() < self.deadline

    async def take(self) -> bool:
        """Acquire or renew; on success the local deadline moves on, on refusal it ends
        now. An error (the database) propagates and leaves the deadline as it was."""
        sent = time.monotonic()
        got = await acquire(self.name, self.holder, self.ttl)
        self.deadline = sent + self.ttl * (1 - SAFETY) if got else 0.0
        return got

    async def retry_in(self) -> float:
        """After :meth:`take` was refused: how long to wait before taking it again, so a
        dead holder's lease is taken just after it lapses (``RETRY`` past its ``until``,
        which lets a live holder renew first), and never later than ``ttl``."""
        try:
            left = await lapses_in(self.name)
        except Exception as exc:  # the database: try again in a while
            log.warning("lease not read", extra={"lease": self.name,
                                                 "error": type(exc).__name__})
            return self.ttl / 3
        if left is None:
            return 0.0  # released meanwhile: free now
        return min(self.ttl, max(0.0, left) + min(RETRY, self.ttl / 10))

    async def keep(self, task: asyncio.Task[None]) -> bool:
        """Renew every third of the lease while ``task`` runs. When a renewal finds another
        holder, or the deadline passes without one (renewals failing or too slow, or this
        process was frozen), cancel ``task`` and return False; True once ``task`` ended by
        itself with the lease still ours."""
        every = self.ttl / 3
        while True:
            left = self.deadline - time.monotonic()
            if left > 0:
                await asyncio.wait({task}, timeout=min(every, left))
            if task.done():
                return self.live()
            if not self.live():
                log.warning("lease lapsed before it was renewed; work stopped",
                            extra={"lease": self.name})
                task.cancel()
                return False
            try:
                got = await asyncio.wait_for(self.take(), self.deadline - time.monotonic())
            except TimeoutError:
                continue  # the deadline passed meanwhile: the check above cancels
            except Exception as exc:  # the database: try again until the deadline
                log.warning("lease renewal failed", extra={"lease": self.name,
                                                           "error": type(exc).__name__})
                await asyncio.wait({task}, timeout=min(1.0, max(
                    0.0, self.deadline - time.monotonic())))
                continue
            if not got:
                log.warning("lease taken by another process; work stopped",
                            extra={"lease": self.name})
                task.cancel()
                return False

    async def release(self) -> None:
        """Give the lease up (errors are logged: it then lapses by itself)."""
        self.deadline = 0.0
        try:
            await release(self.name, self.holder)
        except Exception as exc:
            log.warning("lease release failed", extra={"lease": self.name,
                                                       "error": type(exc).__name__})


async def cancel_and_wait(task: asyncio.Task[None], tries: int = 50) -> None:
    """Cancel ``task`` until it is done (on Python 3.11 a cancel that lands as an inner
    ``wait_for`` completes can be swallowed); its error, if any, is dropped."""
    for _ in range(tries):
        if task.done():
            break
        task.cancel()
        await asyncio.wait({task}, timeout=0.2)
    if task.done() and not task.cancelled():
        with contextlib.suppress(Exception):
            task.result()
