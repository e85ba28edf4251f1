"""Tortoise's SQLite backend, with transactions that begin IMMEDIATE.

Tortoise begins every SQLite transaction with a plain (deferred) ``BEGIN``. In WAL mode
such a transaction's first read pins a snapshot, and if another connection commits before
the transaction's first write (the ingest writer thread commits hundreds of times a second
under load), that write cannot upgrade: SQLite fails it at once with "database is locked",
without waiting for the busy timeout (SQLITE_BUSY_SNAPSHOT). ``BEGIN IMMEDIATE`` takes the
write lock first, waiting up to ``busy_timeout`` for it, so the transaction never has a
stale snapshot to upgrade. SQLite has one writer at a time anyway, so nothing is lost in
concurrency; reads outside transactions are unaffected.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateSqliteClient(SqliteClient):
    def _in_transaction(self) -> Any:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient
