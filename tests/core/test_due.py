"""The due-work claim (scheduler/due.py) on SQLite and on PostgreSQL: due rows are leased
to exactly one claimer, expired leases are taken over, future rows wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.console import database
from bot.core.due import DueTable, claim
from bot.models import (
    ChannelAccount,
    Contact,
    Conversation,
    DeliveryStatus,
    Direction,
    Followup,
    Message,
)
from bot.services.replies import OUTBOX_DUE
from config import Settings
from tests.conftest import Postgres, make_settings

LEASE = timedelta(seconds=60)


@pytest.fixture
async def db(any_db: Settings) -> AsyncIterator[None]:
    async with database(any_db):
        yield


async def outbound(n: int, due_in: timedelta) -> list[int]:
    account = await ChannelAccount.create(kind="api", name="a", secret="s")
    contact = await Contact.create(name="c")
    now = datetime.now(UTC)
    conv = await Conversation.create(channel_account=account, channel_kind="api",
                                     contact=contact, last_message_at=now)
    return [(await Message.create(
        conversation=conv, channel_account=account, direction=Direction.OUTBOUND,
        text=f"m{i}", status=DeliveryStatus.PENDING, next_attempt_at=now + due_in)).id
        for i in range(n)]


async def test_concurrent_claims_take_each_row_once(db: None) -> None:
    due = await outbound(40, -timedelta(seconds=5))
    later = await outbound(5, timedelta(hours=1))
    batches = await asyncio.gather(*(claim(OUTBOX_DUE, LEASE, limit=7) for _ in range(8)))
    taken = [i for b in batches for i in b]
    assert len(taken) == len(set(taken)) == 40  # none twice, none left behind
    assert set(taken) == set(due) and not set(taken) & set(later)
    assert await claim(OUTBOX_DUE, LEASE) == []  # all leased now
    # A holder that died: once its lease has run out, the rows are claimed again.
    again = await claim(OUTBOX_DUE, LEASE, now=datetime.now(UTC) + LEASE * 2)
    assert set(again) == set(due)
    await Message.filter(id__in=due).update(status=DeliveryStatus.SENT, lease_until=None)
    assert await claim(OUTBOX_DUE, LEASE, now=datetime.now(UTC) + LEASE * 4) == []


@pytest.mark.slow
async def test_claim_takes_ids_above_32_bits(postgres: Postgres, tmp_path: Path) -> None:
    """followups.id is a bigint: the claim's UPDATE must not cast the ids to int."""
    settings = make_settings(tmp_path, database_url=postgres.create_db(migrated=True))
    async with database(settings):
        big = 2**31 + 5
        await Followup.create(id=big, kind="received", conversation_id=1,
                              due_at=datetime.now(UTC) - timedelta(seconds=1))
        assert await claim(DueTable("followups", "due_at"), LEASE) == [big]
        row = await Followup.get(id=big)
        assert row.lease_until is not None
