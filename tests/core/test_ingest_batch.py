"""The ingest writer stores a batch of messages in one transaction with exactly the outcome
of storing them one by one: the same contacts, conversations, statuses, unread counts and
redelivery answers. The same sequence goes one by one into one API account and as a single
batch into another, on SQLite (through the dedicated SQLite writer) and on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from tortoise import connections

from bot.core.channel import ContactInfo, InboundMessage, IngestResult
from bot.core.ingest import Job, ingest_batch
from bot.core.ingest_orm import TortoiseDriver
from bot.core.ingest_sqlite import SqliteWriter
from bot.models import ChannelAccount, Contact, Conversation, Identity, Message
from config.sqlite_backend import ImmediateSqliteClient
from tests.conftest import Shop

WINDOW = timedelta(hours=24)


def person(ext: str, email: str | None = None, name: str | None = None) -> ContactInfo:
    return ContactInfo(ext, name=name, email=email)


def before(acct: int, tag: str) -> list[InboundMessage]:
    """What is already stored when the sequence starts."""
    return [InboundMessage(acct, "p1", person("old"), "first visit"),
            InboundMessage(acct, "p2", person("mail0", f"{tag}@shop.test"), "by mail"),
            InboundMessage(acct, "p3", person("snoozy"), "later please")]


def sequence(acct: int, tag: str) -> list[InboundMessage]:
    return [
        InboundMessage(acct, "a1", person("c1", name="Ann"), "one"),
        InboundMessage(acct, "a2", person("c1", email=f"ann-{tag}@shop.test"), "two"),
        InboundMessage(acct, "a1", person("c1"), "one, redelivered"),
        InboundMessage(acct, "p1", person("old"), "first visit, redelivered"),
        InboundMessage(acct, "b1", person("old"), "back again"),
        InboundMessage(acct, "b2", person("old"), "Track my order", payload="menu:track"),
        InboundMessage(acct, "s1", person("snoozy"), "are you there?"),
        InboundMessage(acct, "m1", person("mail1", f"{tag}@shop.test"), "same person, new id"),
        InboundMessage(acct, "m2", person("mail1"), "and again"),
        InboundMessage(acct, "d1", person("page", name="Shop page"), "nice", thread_id="post-1",
                       author=person("fan1", name="Bo")),
        InboundMessage(acct, "d2", person("page"), "me too", thread_id="post-1",
                       author=person("fan2")),
        InboundMessage(acct, "d3", person("page"), "other post", thread_id="post-2",
                       author=person("fan1")),
        InboundMessage(acct, "c9", person("c1"), "x" * 300),
    ]


async def prepare(acct: int, tag: str, driver: TortoiseDriver) -> None:
    for msg in before(acct, tag):
        await driver.run([Job(msg, "api", datetime.now(UTC), WINDOW)])
    now = datetime.now(UTC)
    old = await Conversation.get(channel_account_id=acct, contact__identities__external_id="old")
    await Conversation.filter(id=old.id).update(status="resolved", resolved_at=now,
                                                unread_count=0)
    snoozy = await Conversation.get(channel_account_id=acct,
                                    contact__identities__external_id="snoozy")
    await Conversation.filter(id=snoozy.id).update(status="snoozed",
                                                   snoozed_until=now + timedelta(days=1))


def shape(results: list[IngestResult]) -> list[tuple[Any, ...]]:
    """The results with ids replaced by their order of first appearance."""
    names: dict[tuple[str, int], int] = {}

    def n(kind: str, value: int) -> int:
        return names.setdefault((kind, value), len([k for k in names if k[0] == kind]))
    return [(n("m", r.message_id), n("v", r.conversation_id), n("c", r.contact_id), r.created,
             r.new_conversation) for r in results]


async def state(acct: int, tag: str) -> list[tuple[Any, ...]]:
    rows = []
    for conv in await Conversation.filter(channel_account_id=acct).order_by("id"):
        exts = sorted(i.external_id for i in await Identity.filter(contact_id=conv.contact_id,
                                                                    channel_account_id=acct))
        texts = [m.text for m in await Message.filter(conversation_id=conv.id).order_by("id")]
        contact = await Contact.get(id=conv.contact_id)
        rows.append((tuple(exts), conv.thread_key, conv.status.value, conv.unread_count,
                     conv.last_message_preview, conv.snoozed_until is None,
                     conv.resolved_at is None, contact.name,
                     (contact.email or "").replace(tag, "T"), tuple(texts)))
    return rows


async def test_a_batch_stores_exactly_what_one_by_one_does(shop_any_db: Shop) -> None:
    seq_acct = shop_any_db.seed["api_account_id"]
    batch_acct = (await ChannelAccount.create(kind="api", name="batch", secret="s")).id
    dialect = connections.get("default").capabilities.dialect
    driver = TortoiseDriver(dialect)
    await prepare(seq_acct, "seq", driver)
    await prepare(batch_acct, "bat", driver)

    one_by_one = [(await driver.run([Job(m, "api", datetime.now(UTC), WINDOW)]))[0]
                  for m in sequence(seq_acct, "seq")]
    jobs = [Job(m, "api", datetime.now(UTC), WINDOW) for m in sequence(batch_acct, "bat")]
    if dialect == "sqlite":  # the writer thread's own connection and executemany
        path = cast(ImmediateSqliteClient, Conversation._meta.db).filename

        def write() -> list[IngestResult]:
            conn = sqlite3.connect(path, isolation_level=None)
            try:
                return SqliteWriter._transaction(conn, jobs)
            finally:
                conn.close()
        batched = await asyncio.to_thread(write)
    else:
        batched = await driver.run(jobs)

    assert shape(batched) == shape(one_by_one)
    assert [(r.created, r.new_conversation) for r in batched] == [
        (True, True), (True, False), (False, False), (False, False), (True, False),
        (True, False), (True, False), (True, True), (True, False), (True, True),
        (True, False), (True, True), (True, False)]
    assert await state(batch_acct, "bat") == await state(seq_acct, "seq")
    got = {s[0]: s for s in await state(batch_acct, "bat")}
    # the resolved and the snoozed conversations were reopened; the button press did not
    # count as unread; the new identity joined the contact with the same address
    assert got[("old",)][2:4] == ("open", 1) and got[("snoozy",)][2:4] == ("open", 2)
    assert got[("old",)][5:7] == (True, True) and got[("snoozy",)][5] is True
    assert got[("old",)][4] == "Track my order"
    assert [s[-1] for s in await state(batch_acct, "bat") if s[0] == ("mail0", "mail1")] == [
        ("by mail",), ("same person, new id", "and again")]  # a new identity: a new thread
    assert got[("c1",)][7:9] == ("Ann", "ann-T@shop.test") and got[("c1",)][3] == 3
    assert got[("c1",)][4] == "x" * 200


def test_ingest_batch_is_pure() -> None:
    """The algorithm does no I/O itself: it only yields statements."""
    steps = ingest_batch([Job(InboundMessage(1, "x", person("c"), "hi"), "api",
                              datetime.now(UTC), WINDOW)], str)
    sql, params = next(steps)
    assert sql.startswith("SELECT") and params == (1, "x")
