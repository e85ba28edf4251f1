"""On SQLite, an ORM transaction that reads and then writes must not fail because another
connection (the ingest writer thread) committed in between.

With a plain ``BEGIN`` the transaction's first read pins a WAL snapshot; when another
connection commits after that, the transaction's first write cannot upgrade and SQLite
answers "database is locked" at once, without waiting (SQLITE_BUSY_SNAPSHOT). Under a
stream of inbound messages that failed about one in three of the listening pipeline's
score writes (found with bench/sentiment.py). Switchboard's SQLite backend begins
transactions IMMEDIATE: the write lock is taken (waiting for it) before the first read.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading

from tortoise.transactions import in_transaction

from bot.models import Contact
from tests.conftest import Shop


async def test_read_then_write_survives_a_commit_from_another_connection(shop: Shop) -> None:
    path = Contact._meta.db.filename  # type: ignore[attr-defined]
    other_done = threading.Event()

    def other_writer() -> None:  # as the ingest thread: its own connection, busy timeout
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            conn.execute("INSERT INTO contacts (name, attributes, tags, unreachable, "
                         "created_at, updated_at) VALUES ('from the other side', '{}', "
                         "'[]', '', '2026-01-01', '2026-01-01')")
        finally:
            conn.close()
            other_done.set()

    async with in_transaction():
        before = await Contact.all().count()  # the read that pins a snapshot
        thread = threading.Thread(target=other_writer)
        thread.start()
        # give the other connection every chance to commit in between
        await asyncio.to_thread(other_done.wait, 0.5)
        await Contact.create(name="ours")  # the write: must not raise "database is locked"
    await asyncio.to_thread(thread.join, 10)
    assert other_done.is_set()
    names = set(await Contact.all().values_list("name", flat=True))
    assert {"ours", "from the other side"} <= names
    assert await Contact.all().count() == before + 2
