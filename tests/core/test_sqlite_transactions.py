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
from typing import cast

from tortoise.transactions import in_transaction

from bot.models import Contact
from config.sqlite_backend import ImmediateSqliteClient
from tests.conftest import Shop


async def test_read_then_write_survives_a_commit_from_another_connection(shop: Shop) -> None:
    path = cast(ImmediateSqliteClient, Contact._meta.db).filename
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


async def test_the_orm_is_not_starved_by_a_busy_ingest_writer(shop: Shop) -> None:
    """A writer thread that commits back to back (as the ingest writer does under a stream
    of messages) and ORM transactions take turns at the write gate: each ORM transaction
    waits for at most the one writer transaction in progress and the one queued before
    it. (With SQLite's busy handler alone the ORM slept and polled while the thread took
    the lock again and again: staff pages waited seconds.)"""
    from config.sqlite_backend import gate_for

    path = cast(ImmediateSqliteClient, Contact._meta.db).filename
    gate = gate_for(path)
    commits = 0
    stop = threading.Event()

    def busy_writer() -> None:
        nonlocal commits
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            while not stop.is_set():
                assert gate.acquire()
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("INSERT INTO contacts (name, attributes, tags, unreachable, "
                                 "created_at, updated_at) VALUES ('busy', '{}', '[]', '', "
                                 "'2026-01-01', '2026-01-01')")
                    conn.execute("COMMIT")
                    commits += 1
                finally:
                    gate.release()
        finally:
            conn.close()

    thread = threading.Thread(target=busy_writer)
    thread.start()
    waited = []
    try:
        while commits < 5:
            await asyncio.sleep(0.01)
        for i in range(20):
            before = commits
            async with in_transaction():
                waited.append(commits - before)
                await Contact.create(name=f"staff {i}")
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 10)
    assert max(waited) <= 2, waited
    assert await Contact.filter(name__startswith="staff ").count() == 20
    assert commits > 20  # the writer kept going meanwhile


async def test_the_gate_is_first_come_first_served() -> None:
    from config.sqlite_backend import WriteGate

    gate, order = WriteGate(), []
    assert gate.acquire()  # a thread holds it
    waiter = asyncio.create_task(gate.acquire_async())
    await asyncio.sleep(0.05)  # the task is queued
    again = threading.Thread(target=lambda: (gate.acquire(), order.append("thread"),
                                             gate.release()))
    again.start()  # asks after the task did
    await asyncio.sleep(0.05)
    gate.release()
    assert await waiter
    order.append("task")
    gate.release()
    await asyncio.to_thread(again.join, 5)
    assert order == ["task", "thread"]
    # a waiter that gives up leaves the queue, and the gate is free afterwards
    assert gate.acquire()
    assert not await gate.acquire_async(timeout=0.05)
    gate.release()
    assert gate.acquire(timeout=0.05)
    gate.release()


async def test_a_transaction_cancelled_while_it_begins_frees_the_connection(shop: Shop) -> None:
    """The clock cancels its runs when the app stops. A run cancelled while its transaction
    waited for ``BEGIN IMMEDIATE`` (another process held SQLite's write lock) used to keep
    Tortoise's connection lock for good: Tortoise takes that lock before ``begin`` and gives
    it back only in ``__aexit__``, which never runs when ``__aenter__`` fails. Every later
    query of the process then waited forever (CI hung 900 s in an app's teardown)."""
    path = cast(ImmediateSqliteClient, Contact._meta.db).filename
    other = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    began = asyncio.Event()

    async def run() -> None:
        began.set()
        async with in_transaction():
            await Contact.create(name="never")

    task = asyncio.create_task(run())
    await began.wait()
    for _ in range(20):  # until the task waits inside BEGIN IMMEDIATE (SQLite's busy wait)
        await asyncio.sleep(0.05)
    assert not task.done()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.to_thread(other.execute, "ROLLBACK")
    other.close()
    # The connection is free again: a write and a read go through, and "never" was not kept.
    # (wait_for only turns a hang into a failure here; it times nothing.)
    await asyncio.wait_for(Contact.create(name="after"), 30)
    names = set(await asyncio.wait_for(Contact.all().values_list("name", flat=True), 30))
    assert "after" in names and "never" not in names
