"""Due work, claimed row by row: the part of the engine that makes "exactly once" hold
across processes and crashes.

Due work lives in our own tables (outbound replies now; posts and drip steps next), each
row with a due time and a ``lease_until`` column. :func:`claim` takes up to ``limit`` due
rows whose lease is free or expired and leases them to the caller:

* on PostgreSQL with ``SELECT … FOR UPDATE SKIP LOCKED`` and an ``UPDATE`` in one
  transaction, so concurrent claimers in several processes skip each other's rows;
* on SQLite with one ``UPDATE … WHERE id IN (SELECT …) RETURNING id`` statement, atomic
  because SQLite has a single writer.

The holder runs the task for each id and clears the lease when it records the outcome.
If the process dies, the lease expires and another tick claims the row again; the task
itself must therefore record its attempt before any network call (see the outbox).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction


@dataclass(frozen=True)
class DueTable:
    """Where one kind of due work lives. ``where`` is trusted SQL (never user input)."""

    table: str
    due_column: str
    where: str = "1 = 1"
    lease_column: str = "lease_until"


def _dialect() -> str:
    """The default connection's SQL dialect ("postgres", "sqlite"); shared with
    :mod:`bot.core.leases`."""
    return str(connections.get("default").capabilities.dialect)


def _ts(dt: datetime) -> Any:
    """A datetime as a query parameter: as is on PostgreSQL; on SQLite, which keeps
    Tortoise's text form of an aware UTC datetime, in that text form (to compare)."""
    # SQLite keeps Tortoise's text form of an aware UTC datetime; compare in that form.
    return str(dt.astimezone(UTC)) if _dialect() == "sqlite" else dt


async def claim(t: DueTable, lease: timedelta, limit: int = 100,
                now: datetime | None = None, done: Sequence[int] = ()) -> list[int]:
    """Lease up to ``limit`` rows that are due and free (the earliest due first); return
    their ids in id order. ``done``: ids of rows the caller finished, deleted in the same
    transaction first (one commit for both: the transactional outbox's worker)."""
    now = now or datetime.now(UTC)
    free = (f"{t.where} AND {t.due_column} <= {{now}} AND "
            f"({t.lease_column} IS NULL OR {t.lease_column} < {{now}})")
    if _dialect() == "postgres":
        async with in_transaction() as conn:
            if done:
                await conn.execute_query(f"DELETE FROM {t.table} WHERE id = ANY($1::bigint[])",
                                         [list(done)])
            rows = await conn.execute_query_dict(
                f"SELECT id FROM {t.table} WHERE {free.format(now='$1')} "
                f"ORDER BY {t.due_column}, id LIMIT $2 FOR UPDATE SKIP LOCKED", [now, limit])
            ids = [int(r["id"]) for r in rows]
            if ids:
                await conn.execute_query(
                    f"UPDATE {t.table} SET {t.lease_column} = $1 WHERE id = ANY($2::bigint[])",
                    [now + lease, ids])
        return sorted(ids)
    query = (f"UPDATE {t.table} SET {t.lease_column} = ? WHERE id IN (SELECT id FROM "
             f"{t.table} WHERE {free.format(now='?')} ORDER BY {t.due_column}, id LIMIT ?) "
             f"RETURNING id")
    params = [_ts(now + lease), _ts(now), _ts(now), limit]
    if done:
        async with in_transaction() as tx:
            await tx.execute_query(f"DELETE FROM {t.table} WHERE id IN "
                                   f"({', '.join('?' * len(done))})", list(done))
            rows = await tx.execute_query_dict(query, params) if limit > 0 else []
    else:
        rows = await connections.get("default").execute_query_dict(query, params)
    return sorted(int(r["id"]) for r in rows)


class GroupCommit:
    """Writes that must each be committed before their caller goes on, sharing commits:
    while one transaction commits, the writes asked for meanwhile wait and go together in
    the next. Each caller still sees its own write durable before it continues (the
    "sending" mark before a network call stays first), at one fsync per round instead of
    one per write. A failed round fails every write in it (all rolled back)."""

    def __init__(self) -> None:
        self._pending: list[tuple[Callable[[Any], Awaitable[Any]], asyncio.Future[Any]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def run(self, write: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run ``write(connection)`` in the next shared transaction; its result once
        committed."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((write, fut))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.get_running_loop().create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with in_transaction() as conn:
                    results = [await write(conn) for write, _ in batch]
            except Exception as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)
