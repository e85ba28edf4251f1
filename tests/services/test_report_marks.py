"""The report roll-ups' watermarks and state (bot/services/reports/marks.py, shop_state.py):
a row committed late on PostgreSQL is counted once, a refresh that lost its lease rolls back,
two processes with other settings do not rebuild back and forth, a deleted or merged contact
leaves the sums, and order totals are read as documented."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from bot.models import (
    ChannelAccount,
    Contact,
    ContactCommerce,
    Conversation,
    ConversationFact,
    Message,
    OrderDay,
    OrderFact,
    ShopEvent,
)
from bot.services import contacts
from bot.services.reports import inbox_facts, shop_facts
from config import Settings
from tests.conftest import Postgres, Shop, make_settings, start_shop

_n = 0


@pytest.fixture
async def shop(aiohttp_client: Any, any_db: Settings) -> Shop:
    return await start_shop(aiohttp_client, any_db.with_(clock_seconds=3600))


@pytest.fixture
async def pg_shop(aiohttp_client: Any, postgres: Postgres, tmp_path: Path) -> Shop:
    return await start_shop(aiohttp_client, make_settings(
        tmp_path, database_url=postgres.create_db(), clock_seconds=3600))


async def order(who: Contact, total: Any, conn: Any = None, kind: str = "order_placed",
                source: str = "api") -> ShopEvent:
    global _n
    _n += 1
    return await ShopEvent.create(using_db=conn, kind=kind, source=source,
                                  external_id=f"m{_n}", contact=who,
                                  payload={"total": total},
                                  occurred_at=datetime(2026, 3, 5, 12, tzinfo=UTC))


async def sums() -> tuple[int, int]:
    rows = await OrderDay.all().values_list("orders", "cents")
    return sum(int(o) for o, _ in rows), sum(int(c) for _, c in rows)


async def drain() -> None:
    while await shop_facts.refresh():
        pass


@contextlib.asynccontextmanager
async def held(make: Any) -> AsyncIterator[asyncio.Event]:
    """A transaction in another task that inserted a row (its id taken) and has not
    committed; it commits when the block ends."""
    inserted, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with in_transaction() as conn:
            await make(conn)
            inserted.set()
            await release.wait()

    task = asyncio.create_task(hold())
    await asyncio.wait_for(inserted.wait(), 60)
    try:
        yield inserted
    finally:
        release.set()
        await asyncio.wait_for(task, 60)


@pytest.mark.slow
async def test_a_shop_event_committed_late_is_counted_once(pg_shop: Shop) -> None:
    ann = await Contact.create(name="Ann")
    bob = await Contact.create(name="Bob")
    async with held(lambda conn: order(ann, "10.00", conn)):
        late_id = await order(bob, "5.00")  # a later id, committed first
        await drain()
        assert await sums() == (1, 500)
    assert (await ShopEvent.get(id=late_id.id)).id > 0
    await drain()  # Ann's order, committed now with the earlier id, is read
    assert await sums() == (2, 1500)
    await drain()
    assert await sums() == (2, 1500)
    assert sorted(await OrderFact.all().values_list("cents", flat=True)) == [500, 1000]


@pytest.mark.slow
async def test_a_message_committed_late_is_counted_once(pg_shop: Shop) -> None:
    account = await ChannelAccount.filter(kind="api").first()
    assert account is not None
    people = [await Contact.create(name=n) for n in ("Ann", "Bob")]
    convs = [await Conversation.create(channel_account=account, channel_kind="api",
                                       contact=p, last_message_at=datetime.now(UTC))
             for p in people]
    await inbox_facts.refresh()

    def message(conv: Conversation, conn: Any = None) -> Any:
        return Message.create(using_db=conn, conversation=conv, channel_account=account,
                              direction="in", text="hi", status="received")

    async with held(lambda conn: message(convs[0], conn)):
        await message(convs[1])
        await inbox_facts.refresh()
    await inbox_facts.refresh()
    await inbox_facts.refresh()
    got = dict(await ConversationFact.all().values_list("conversation_id", "msgs_in"))
    assert got == {convs[0].id: 1, convs[1].id: 1}


async def test_a_refresh_that_lost_its_lease_rolls_back(shop: Shop,
                                                        monkeypatch: Any) -> None:
    ann = await Contact.create(name="Ann")
    await order(ann, "10.00")
    await drain()
    await order(ann, "5.00")
    real = shop_facts.in_transaction
    paused, resume = asyncio.Event(), asyncio.Event()
    first: list[asyncio.Task[Any]] = []

    @contextlib.asynccontextmanager
    async def gated(*a: Any, **kw: Any) -> AsyncIterator[Any]:
        if asyncio.current_task() in first and not resume.is_set():
            paused.set()  # the first refresher computed its deltas: it waits here
            await resume.wait()
        async with real(*a, **kw) as conn:
            yield conn

    monkeypatch.setattr(shop_facts, "in_transaction", gated)
    first.append(asyncio.create_task(shop_facts.refresh()))
    await asyncio.wait_for(paused.wait(), 60)
    await drain()  # another process took the job over and ran it to the end
    assert await sums() == (2, 1500)
    resume.set()
    (outcome,) = await asyncio.gather(first[0], return_exceptions=True)
    assert await sums() == (2, 1500)  # nothing twice
    assert await shop_facts.refresh() == 0
    from bot.services.reports.marks import Conflict
    assert isinstance(outcome, Conflict)


async def test_an_older_process_with_other_settings_does_not_rebuild_back(
        shop: Shop, tmp_path: Path) -> None:
    from bot.services.reports import shop_state

    ann = await Contact.create(name="Ann")
    await order(ann, "10.00")
    shop_facts.configure("UTC", 7)
    old = dict(shop_state._conf)
    await drain()
    shop_facts.configure("Asia/Bangkok", 7)  # the next process, configured later
    shop_state._conf["at"] = old["at"] + 1000
    await drain()  # the newer process rebuilds
    shop_state._conf.update(old)  # the older one, still running with UTC
    assert await shop_facts.refresh() == 0  # leaves the roll-ups alone
    assert (await shop_facts.get("config")) == "Asia/Bangkok|7"
    assert await sums() == (1, 1000)

    inbox_old = inbox_facts._configured
    await inbox_facts.refresh()
    inbox_facts.configure(make_settings(tmp_path, shop_timezone="Asia/Bangkok"))
    inbox_facts._configured = inbox_old + 1000
    await inbox_facts.refresh()
    newer = inbox_facts._config
    inbox_facts._config, inbox_facts._configured = inbox_facts.Config(), inbox_old
    assert await inbox_facts.refresh() == 0
    state = dict((k, t) for k, _, t in await inbox_facts.fetch(
        "SELECT key, value, text FROM report_state"))
    assert state["config"] == newer.signature
    inbox_facts._config = newer


async def test_a_deleted_or_merged_contact_leaves_the_roll_ups(shop: Shop) -> None:
    ann = await Contact.create(name="Ann")
    bob = await Contact.create(name="Bob")
    cy = await Contact.create(name="Cy")
    await order(ann, "10.00")
    await order(bob, "1.00", kind="signup", source="shopify")
    await order(cy, "2.50")
    account = await ChannelAccount.filter(kind="api").first()
    await Conversation.create(channel_account=account, channel_kind="api", contact=cy,
                              last_message_at=datetime.now(UTC))
    await Conversation.filter(contact_id=cy.id).update(
        created_at=datetime(2026, 3, 1, tzinfo=UTC))
    await drain()
    assert await sums() == (2, 1250)

    await contacts.delete_contact(ann.id)  # no refresh: out of the sums at once
    assert await sums() == (1, 250)
    assert not await OrderFact.filter(contact_id=ann.id).exists()
    assert not await ContactCommerce.filter(contact_id=ann.id).exists()

    await contacts.merge_contacts(bob.id, cy.id)  # Cy's orders go with Cy
    assert await sums() == (0, 0)
    assert not await ContactCommerce.filter(contact_id=cy.id).exists()
    await drain()  # Bob now has Cy's conversation: he came by it
    assert (await ContactCommerce.get(contact_id=bob.id)).source == "api"
    assert await sums() == (0, 0)


@pytest.mark.parametrize(("total", "expected"), [
    ("12,50", 1250), ("12,5", 1250), ("1,234.50", 123450), ("1,234", 123400),
    ("1234.5", 123450), (19.99, 1999), ("100.005", 10001), (10, 1000),
    ("-30", 0), (-1.5, 0), ("1.234,50", 0), ("1,23,4", 0), ("12,505", 1250500), ("abc", 0),
    (None, 0), ("NaN", 0), ("Infinity", 0),
    # too large for any order (quantize raised InvalidOperation; cents would not fit a BIGINT)
    ("1e26", 0), ("9" * 27, 0), (1e300, 0), ("10000000000000", 1000000000000000),
    ("10000000000000.01", 0)])
def test_order_totals(total: Any, expected: int) -> None:
    assert shop_facts.cents(total) == expected


async def test_take_waits_for_a_young_gap_only() -> None:
    from bot.services.reports.marks import Mark, take

    now = datetime(2026, 3, 5, 12, tzinfo=UTC)
    rows = [(1, now), (2, now), (4, now), (5, now)]  # 3: taken, not committed yet

    async def read(after: int, upto: int | None, limit: int) -> list[Any]:
        return [r for r in rows if after < r[0] <= (upto or 10**9)][:limit]

    got = await take(Mark(), read, 10, now=now)
    assert got.mark.done == 2 and got.mark.seen == 5 and [r[0] for r in got.rows] == [1, 2, 4, 5]
    again = await take(got.mark, read, 10, now=now)  # nothing new: nothing to process
    assert again.rows == [] and again.mark == got.mark
    rows.insert(2, (3, now))  # it commits
    late = await take(again.mark, read, 10, now=now)
    assert [r[0] for r in late.rows] == [3, 4, 5] and late.mark == Mark(5, 5, "")
    rows.append((7, now - timedelta(minutes=11)))  # 6 rolled back long ago: passed over
    assert (await take(late.mark, read, 10, now=now)).mark == Mark(7, 7, "")
