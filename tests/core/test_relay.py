"""The event bus across processes: two buses, each with its own LISTEN/NOTIFY relay, on one
real PostgreSQL (two processes in miniature)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.core.events import (
    EventBus,
    LiveUpdate,
    MessageReceived,
    MessageScored,
    PostFailed,
    RelayResumed,
    SocketPush,
)
from bot.core.relay import PgRelay, asyncpg_dsn, relay_for
from tests.conftest import Postgres, make_settings

pytestmark = pytest.mark.slow  # PostgreSQL


async def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Recorder:
    def __init__(self) -> None:
        self.seen: dict[str, list[Any]] = {}

    def handler(self, name: str) -> Callable[[Any], Any]:
        self.seen[name] = []

        async def record(ev: Any) -> None:
            self.seen[name].append(ev)
        return record


@pytest.fixture
async def pair(postgres: Postgres) -> AsyncIterator[tuple[EventBus, PgRelay, EventBus, PgRelay]]:
    dsn = asyncpg_dsn(postgres.create_db())
    a, b = EventBus(), EventBus()
    ra, rb = PgRelay(a, dsn, max_backoff=1.0), PgRelay(b, dsn, max_backoff=1.0)
    await ra.start()
    await rb.start()
    try:
        yield a, ra, b, rb
    finally:
        await ra.close()
        await rb.close()


async def test_everywhere_handlers_run_in_every_process_local_ones_only_here(
        pair: tuple[EventBus, PgRelay, EventBus, PgRelay]) -> None:
    a, _, b, _ = pair
    rec = Recorder()
    for name, bus in (("a", a), ("b", b)):
        bus.subscribe(MessageReceived, rec.handler(f"{name} local"))
        bus.subscribe(MessageReceived, rec.handler(f"{name} everywhere"), everywhere=True)
        bus.subscribe(PostFailed, rec.handler(f"{name} post failed"))
        bus.subscribe(LiveUpdate, rec.handler(f"{name} live"), everywhere=True)
    first = MessageReceived(message_id=1, conversation_id=2, channel_kind="webchat",
                            new_conversation=True, account_id=3)
    a.publish(first)
    a.publish(PostFailed(post_id=1, event_id=1, reason="a local event"))
    await until(lambda: len(rec.seen["b everywhere"]) == 1, "b to hear a's message")
    assert rec.seen["b everywhere"] == [first]  # rebuilt equal from the notification
    # b answers; a hears it after its own echo of `first` (one connection's notifications
    # arrive in commit order), so by then a has ignored that echo
    b.publish(LiveUpdate({"type": "alert", "id": 7, "title": "Négatif ✓"}))
    await until(lambda: len(rec.seen["a live"]) == 1, "a to hear b's live payload")
    await a.drain()
    await b.drain()
    assert rec.seen["a live"][0].payload == {"type": "alert", "id": 7, "title": "Négatif ✓"}
    assert len(rec.seen["b live"]) == 1  # b's own handler ran once, here, not on the echo
    assert len(rec.seen["a everywhere"]) == 1  # once, here: its echo was ignored
    assert len(rec.seen["a local"]) == 1
    assert rec.seen["b local"] == []  # not an everywhere handler: only where published
    assert len(rec.seen["a post failed"]) == 1 and rec.seen["b post failed"] == []


async def test_publish_elsewhere_only_and_the_crossing_types(
        pair: tuple[EventBus, PgRelay, EventBus, PgRelay]) -> None:
    a, _, b, _ = pair
    rec = Recorder()
    for name, bus in (("a", a), ("b", b)):
        bus.subscribe(SocketPush, rec.handler(name), everywhere=True)
    push = SocketPush(channel_kind="webchat", account_id=1, contact="v1", message_id=9)
    a.publish(push, here=False)  # a pushed to its own sockets itself
    await until(lambda: rec.seen["b"] == [push], "b to hear the push")
    await a.drain()
    assert rec.seen["a"] == []
    with pytest.raises(ValueError, match="does not cross"):
        a.subscribe(MessageScored, rec.handler("x"), everywhere=True)
    with pytest.raises(ValueError, match="does not cross"):
        a.subscribe(PostFailed, rec.handler("y"), everywhere=True)


async def test_a_payload_too_large_for_a_notification_is_not_relayed(
        pair: tuple[EventBus, PgRelay, EventBus, PgRelay]) -> None:
    a, _, b, _ = pair
    rec = Recorder()
    b.subscribe(LiveUpdate, rec.handler("b"), everywhere=True)
    a.publish(LiveUpdate({"title": "x" * 9000}))  # dropped (logged), never an error
    a.publish(LiveUpdate({"title": "small"}))
    await until(lambda: len(rec.seen["b"]) == 1, "b to hear the small one")
    assert rec.seen["b"][0].payload == {"title": "small"}


async def test_the_listener_reconnects_after_its_backend_is_terminated(
        pair: tuple[EventBus, PgRelay, EventBus, PgRelay], postgres: Postgres,
        caplog: pytest.LogCaptureFixture) -> None:
    a, ra, b, rb = pair
    rec = Recorder()
    a.subscribe(LiveUpdate, rec.handler("a"), everywhere=True)
    b.subscribe(LiveUpdate, rec.handler("b"), everywhere=True)
    a.subscribe(RelayResumed, rec.handler("a resumed"))
    b.subscribe(RelayResumed, rec.handler("b resumed"))
    assert ra._conn is not None and rb._conn is not None
    admin = await asyncpg.connect(ra.dsn)
    try:
        for relay in (ra, rb):  # both: b's listener and a's sender go down
            assert relay._conn is not None
            pid = relay._conn.get_server_pid()
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await until(lambda: ra.connects == 2 and rb.connects == 2, "both relays to reconnect")
    await ra.wait_listening()
    await rb.wait_listening()
    a.publish(LiveUpdate({"n": 1}))
    b.publish(LiveUpdate({"n": 2}))
    await until(lambda: len(rec.seen["b"]) == 2 and len(rec.seen["a"]) == 2,
                "events across after the reconnect")
    # each told its own socket holders, once, that it may have missed something
    assert len(rec.seen["a resumed"]) == 1 and len(rec.seen["b resumed"]) == 1
    lost = [r for r in caplog.records if "lost its connection" in r.getMessage()]
    assert 1 <= len(lost) <= 2 and not any(r.exc_info for r in lost)  # once each, no trace


async def test_a_batch_in_flight_when_the_connection_breaks_is_sent_after_it(
        pair: tuple[EventBus, PgRelay, EventBus, PgRelay],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender's backend is terminated while its NOTIFY statement runs (slowed here by
    a pg_sleep so the test can catch it in flight): the batch is sent again once the relay
    reconnected, so b's visitor still gets a's reply."""
    from bot.core import relay as relay_mod
    a, ra, b, _ = pair
    rec = Recorder()
    b.subscribe(LiveUpdate, rec.handler("b"), everywhere=True)
    monkeypatch.setattr(relay_mod, "_NOTIFY", "SELECT pg_notify($1, p) FROM "
                        "(SELECT pg_sleep(30)) AS s, unnest($2::text[]) AS p")
    admin = await asyncpg.connect(ra.dsn)
    try:
        assert ra._conn is not None
        pid = ra._conn.get_server_pid()
        a.publish(LiveUpdate({"reply": 1}))
        deadline = asyncio.get_running_loop().time() + 30
        while not await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active' "
                "AND query LIKE '%pg_notify%'", pid):
            assert asyncio.get_running_loop().time() < deadline, "no NOTIFY in flight"
            await asyncio.sleep(0.02)
        monkeypatch.setattr(relay_mod, "_NOTIFY", "SELECT pg_notify($1, p) FROM "
                            "unnest($2::text[]) AS p")  # the next connection is quick
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await until(lambda: ra.connects == 2, "a's relay to reconnect")
    await until(lambda: len(rec.seen["b"]) == 1, "b to hear the batch that was in flight")
    assert rec.seen["b"][0].payload == {"reply": 1}


async def test_close_leaves_no_task_pending(postgres: Postgres) -> None:
    """close() cancels the relay's wait on its queue too (no "Task was destroyed but it
    is pending" when the loop ends)."""
    bus = EventBus()
    relay = PgRelay(bus, asyncpg_dsn(postgres.create_db()))
    await relay.start()
    before = asyncio.all_tasks()
    await relay.close()
    await asyncio.sleep(0)  # the cancelled ones finish on the next turn
    await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() - before if not t.done()]
    pending = [t for t in before if not t.done() and t is not asyncio.current_task()]
    assert left == [] and pending == [], pending


async def test_sqlite_has_no_relay(tmp_path: Path) -> None:
    bus = EventBus()
    async with relay_for(make_settings(tmp_path), bus) as relay:
        assert relay is None and bus.relay is None


def test_the_dsn_drops_pool_options() -> None:
    assert asyncpg_dsn("asyncpg://u@h:5/db?minsize=1&maxsize=5&sslmode=disable") \
        == "postgres://u@h:5/db?sslmode=disable"
