"""The inbox reports' percentiles (bot/services/reports/inbox_query.py) are exact nearest
rank on both databases, for the range and per group (by day and by agent, a NULL agent
too), with NULLs, negative values, one-value, all-NULL and empty groups, and a group of 70
values (p90 is the 63rd; 0.9 x 70 is 63.00000000000001 in Python's floating point)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.core import db
from bot.models import ConversationFact
from bot.services.reports import Filters
from bot.services.reports.inbox import COLUMNS
from bot.services.reports.inbox_facts import configure
from bot.services.reports.inbox_query import nearest, percentiles
from config import Settings

DAY = date(2026, 3, 2)
PS = (1, 50, 90, 99, 100)


def _parts(rows: list[ConversationFact], key: str) -> dict[Any, list[ConversationFact]]:
    return {k: [r for r in rows if getattr(r, key) == k] for k in {getattr(r, key) for r in rows}}


def _expected(rows: list[ConversationFact], key: str) -> dict[Any, dict[str, dict[int, Any]]]:
    return {k: {c: {p: nearest(sorted(getattr(r, c) for r in part
                                      if getattr(r, c) is not None), p) for p in PS}
                for c in COLUMNS}
            for k, part in _parts(rows, key).items()}


@pytest.mark.parametrize("any_db", ["sqlite", "postgres"], indirect=True)
async def test_percentiles_are_nearest_rank(any_db: Settings) -> None:
    configure(any_db)
    await db.apply_migrations(any_db)
    ctx = await db.open_db(any_db)
    try:
        rnd = random.Random(21)
        rows = []
        # day 0: 70 values (the floating-point trap); day 1: one; day 2: all NULL;
        # days 3-5: a few, some NULL, some negative (a clock that ran backwards)
        sizes = [70, 1, 3, 5, 8, 13]
        cid = 0
        for d, size in enumerate(sizes):
            opened = int(datetime.combine(DAY + timedelta(days=d), datetime.min.time(),
                                          UTC).timestamp()) + 3600
            for _ in range(size):
                cid += 1
                vals = [None if d == 2 or (d and rnd.random() < 0.2)
                        else rnd.randrange(-50, 10 ** 6)
                        for _ in COLUMNS]
                rows.append(ConversationFact(
                    conversation_id=cid, account_id=1, channel_kind="api",
                    agent_id=rnd.choice([None, 7, 8]), opened_at=opened,
                    day=(DAY + timedelta(days=d)).isoformat(), weekday=0, hour=1,
                    **dict(zip(COLUMNS, vals, strict=True))))
        await ConversationFact.bulk_create(rows)
        f = Filters(DAY, DAY + timedelta(days=len(sizes) - 1))
        by_day = await percentiles(f, COLUMNS, group="day", ps=PS)
        assert by_day.per == _expected(rows, "day")
        everything = {c: {p: nearest(sorted(getattr(r, c) for r in rows
                                            if getattr(r, c) is not None), p) for p in PS}
                      for c in COLUMNS}
        assert by_day.overall == everything
        # each day's rows and each column's values (the per-day table's counts)
        assert by_day.counts == {
            day: {"rows": len(part), **{c: sum(getattr(r, c) is not None for r in part)
                                        for c in COLUMNS}}
            for day, part in _parts(rows, "day").items()}
        by_agent = await percentiles(f, COLUMNS, group="agent_id", ps=PS)
        assert by_agent.per == _expected(rows, "agent_id")
        assert by_agent.overall == everything
        empty = await percentiles(
            Filters(DAY - timedelta(days=9), DAY - timedelta(days=8)), COLUMNS, group="day",
            ps=PS)
        assert empty.overall == {c: dict.fromkeys(PS) for c in COLUMNS}
        assert empty.per == {} and empty.counts == {}
        alone = await percentiles(f, COLUMNS, ps=PS)
        assert alone.overall == everything and alone.per == {}
    finally:
        await db.close_db(ctx)
