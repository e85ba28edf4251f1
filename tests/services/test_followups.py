"""The transactional outbox (bot.services.followups), on SQLite and PostgreSQL: the row is
written with the message in one transaction, a conversation's rows run one at a time in
id order, a failing row is retried then kept with its error, and running a row twice
sends one reply."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.core import ingest_orm, ingest_sqlite
from bot.core.ingest import BatchSteps, Job, ingest_batch
from bot.core.time import utcnow
from bot.models import Direction, Followup, Message
from bot.services.followups import FOLLOWUPS, Followups
from bot.services.inbox import INTAKE
from config import Settings
from tests.channels.test_telegram import until
from tests.conftest import Shop, message, start_shop

KEYWORD_RULE = {"name": "Price", "event": "message_received",
                "conditions": {"keywords": ["price"]},
                "actions": [{"type": "reply", "template": "Prices: shop.example/catalogue"}]}


@pytest.fixture
async def quiet(aiohttp_client: Any, any_db: Settings) -> Shop:
    """A shop whose followups run only when a test says so (no kick, no clock)."""
    shop = await start_shop(aiohttp_client, any_db.with_(clock_seconds=3600))
    shop.client.app[INTAKE].kick = None
    return shop


async def test_followup_is_written_with_the_message_in_one_transaction(
        quiet: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    resp = await quiet.inbound(message("m-1", text="hello"))
    assert resp.status == 202
    stored = await resp.json()
    rows = await Followup.all()
    assert [(r.kind, r.message_id, r.conversation_id) for r in rows] == [
        ("received", stored["id"], stored["conversation_id"])]
    assert rows[0].payload == {"new_conversation": True, "kind": "api",
                               "account_id": quiet.seed["api_account_id"]}
    assert rows[0].attempts == 0 and rows[0].lease_until is None
    # A redelivery is no new message: no new followup.
    assert (await quiet.inbound(message("m-1", text="hello"))).status == 200
    assert await Followup.all().count() == 1

    # The transaction fails after both INSERTs (a crash before COMMIT): neither is kept.
    def failing(jobs: list[Job], ts: Any, followups: bool = True) -> BatchSteps:
        steps = ingest_batch(jobs, ts, followups)
        step = next(steps)
        while True:
            rows = yield step
            if step[0].startswith("INSERT INTO followups"):
                raise RuntimeError("crash before commit")
            try:
                step = steps.send(rows)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    monkeypatch.setattr(ingest_sqlite, "ingest_batch", failing)
    monkeypatch.setattr(ingest_orm, "ingest_batch", failing)
    resp = await quiet.inbound(message("m-2", text="lost?"))
    assert resp.status >= 500
    assert await Message.filter(external_id="m-2").count() == 0
    assert await Followup.all().count() == 1
    monkeypatch.undo()
    assert (await quiet.inbound(message("m-2", text="lost?"))).status == 202
    assert await Followup.all().count() == 2


async def _rows(conversation_id: int, n: int) -> list[int]:
    return [(await Followup.create(kind="t", conversation_id=conversation_id, message_id=i,
                                   due_at=utcnow())).id for i in range(n)]


async def test_a_conversations_followups_run_one_at_a_time_in_id_order(quiet: Shop) -> None:
    a = await _rows(1, 3)
    b = await _rows(2, 2)
    a += await _rows(1, 1)
    ran: list[tuple[int, int]] = []
    running: set[int] = set()

    async def handler(row: Followup) -> None:
        assert row.conversation_id not in running  # never two of one conversation at once
        running.add(row.conversation_id)
        ran.append((row.conversation_id, row.id))
        running.discard(row.conversation_id)

    worker = Followups({"t": handler}, lease_seconds=60)
    # One claim takes the first pending row of each conversation, no more.
    assert await worker.run_due() == 2
    assert sorted(ran) == sorted([(1, a[0]), (2, b[0])])
    # A row held by another process (leased) holds its conversation's later rows back.
    await Followup.filter(id=a[1]).update(lease_until=utcnow() + timedelta(minutes=5))
    assert await worker.run_due() == 1  # b's second row only
    assert await worker.run_due() == 0
    # Its holder died: once the lease expires, any process takes it, then the rest.
    await Followup.filter(id=a[1]).update(lease_until=utcnow() - timedelta(seconds=1))
    while await worker.run_due():
        pass
    assert [i for c, i in ran if c == 1] == a
    assert [i for c, i in ran if c == 2] == b
    assert await Followup.all().count() == 0


async def test_a_failing_followup_is_retried_then_kept_with_its_error(quiet: Shop) -> None:
    bad, after = await _rows(7, 2)
    calls: list[int] = []

    async def handler(row: Followup) -> None:
        calls.append(row.id)
        if row.id == bad:
            raise ValueError("the template broke")

    worker = Followups({"t": handler}, max_attempts=3, backoff_seconds=60)
    assert await worker.run_due() == 1
    row = await Followup.get(id=bad)
    assert row.attempts == 1 and row.error == "ValueError: the template broke"
    assert row.lease_until is None and row.due_at > utcnow() + timedelta(seconds=30)
    assert await worker.run_due() == 0  # waiting on its backoff, and its follower on it
    worker.backoff = 0
    await Followup.filter(id=bad).update(due_at=utcnow())
    while await worker.run_due():
        pass
    assert calls == [bad, bad, bad, after]  # three attempts, then the conversation goes on
    kept = await Followup.all()
    assert [(r.id, r.attempts, r.error) for r in kept] == [
        (bad, 3, "ValueError: the template broke")]
    assert await worker.run_due() == 0  # kept, not retried for ever


async def test_running_a_followup_twice_sends_one_reply(quiet: Shop) -> None:
    status, _ = await quiet.api("POST", "/api/v1/rules", json=KEYWORD_RULE)
    assert status == 201
    resp = await quiet.inbound(message("q-1", text="what is the price?"))
    inbound = await resp.json()
    row = await Followup.get(message_id=inbound["id"])
    worker = quiet.client.app[FOLLOWUPS]
    # The holder ran it and died before deleting the row; another process runs it again.
    await worker.handlers["received"](row)
    await worker.handlers["received"](row)
    assert await worker.run_one(row)
    replies = await Message.filter(conversation_id=inbound["conversation_id"],
                                   direction=Direction.OUTBOUND, origin="rule")
    assert [m.text for m in replies] == ["Prices: shop.example/catalogue"]
    assert str(replies[0].source_ref).startswith(f"fu:{row.id}:r")
    assert await Followup.all().count() == 0


async def test_the_ingesting_process_starts_the_followup_at_once(
        aiohttp_client: Any, any_db: Settings) -> None:
    """With the kick, the reply follows the message (the clock would take an hour)."""
    shop = await start_shop(aiohttp_client, any_db.with_(clock_seconds=3600))
    status, _ = await shop.api("POST", "/api/v1/rules", json=KEYWORD_RULE)
    assert status == 201
    resp = await shop.inbound(message("k-1", text="price please"))
    conv = (await resp.json())["conversation_id"]
    await until(lambda: Message.filter(conversation_id=conv, origin="rule").exists(), 30)
    await until(lambda: _none_left(), 30)


async def _none_left() -> bool:
    return not await Followup.all().exists()


class ChatFake:
    """A channel that posts to staff chats (as Telegram does), counting the posts."""

    display_name = "Fake"

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []

    async def post_to_chat(self, account: Any, chat_id: str, text: Any) -> str:
        self.posts.append((chat_id, str(text)))
        return str(1000 + len(self.posts))


async def test_a_notification_is_posted_once_per_key_and_chat(quiet: Shop) -> None:
    from bot.core.cache import forget_all
    from bot.core.events import MessageReceived
    from bot.models import ChannelAccount, StaffNotification
    from bot.services.notify import StaffNotifier

    account = await ChannelAccount.get(id=quiet.seed["api_account_id"])
    account.settings = {**(account.settings or {}), "staff_chat_id": "-100",
                        "staff_notify": "all"}
    await account.save(update_fields=["settings"])
    forget_all()
    inbound = await (await quiet.inbound(message("n-1", text="hi"))).json()
    fake = ChatFake()
    notifier = StaffNotifier({"api": fake})  # type: ignore[dict-item]
    event = MessageReceived(inbound["id"], inbound["conversation_id"], "api", True,
                            account.id)
    await notifier.on_message(event, key="fu:1")
    await notifier.on_message(event, key="fu:1")  # the same followup, run again
    assert len(fake.posts) == 1
    await notifier.on_message(event, key="fu:2")  # another followup: another post
    assert len(fake.posts) == 2
    refs = await StaffNotification.filter(conversation_id=inbound["conversation_id"]
                                          ).values_list("external_id", flat=True)
    assert sorted(refs) == ["1001", "1002", "~fu:1:new", "~fu:2:new"]
    forget_all()


async def test_drain_claims_nothing_new_and_leaves_nothing_running(
        quiet: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass inside its claim when shutdown begins gives the rows it claimed back
    (unleased, for another process) instead of starting them after drain returned."""
    import asyncio

    from bot.core import due

    [row] = await _rows(3, 1)
    ran: list[int] = []

    async def handler(owed: Any) -> None:
        ran.append(owed.id)

    in_claim, go_on = asyncio.Event(), asyncio.Event()
    claim = due.claim

    async def slow_claim(*args: Any, **kwargs: Any) -> list[int]:
        ids = await claim(*args, **kwargs)
        in_claim.set()
        await go_on.wait()
        return ids

    monkeypatch.setattr(due, "claim", slow_claim)
    worker = Followups({"t": handler}, lease_seconds=60)
    worker.kick()
    await asyncio.wait_for(in_claim.wait(), 30)
    drained = asyncio.get_running_loop().create_task(worker.drain(timeout=30))
    await asyncio.sleep(0)  # drain has begun
    go_on.set()
    await asyncio.wait_for(drained, 60)
    assert not any(not t.done() for t in worker._tasks)
    assert ran == []
    left = await Followup.get(id=row)
    assert left.lease_until is None and left.attempts == 0  # another process takes it now
    worker.kick()  # closed: no new pass
    assert worker._pump is None or worker._pump.done()


async def test_a_failing_listening_step_never_fails_the_messages_followup(
        quiet: Shop, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Listening is a received row's last step, best effort: when it raises, or while the
    sentiment model is still loading (or never loads), the rules and the bot still run
    and the row completes at once (the listening sweep scores the message later), instead
    of every message's row failing and retrying, or waiting on the model."""
    import asyncio

    from bot.core.events import MessageReceived
    from listening.alerts import Alerter
    from listening.runtime import ListeningRuntime
    from tests.conftest import make_settings

    status, _ = await quiet.api("POST", "/api/v1/rules", json=KEYWORD_RULE)
    assert status == 201
    worker = quiet.client.app[FOLLOWUPS]
    automation = worker.handlers["received"].__self__  # type: ignore[attr-defined]

    async def broken(event: MessageReceived) -> None:
        raise RuntimeError("the sentiment model did not load")

    automation.listen = broken
    first = await (await quiet.inbound(message("l-1", text="price?"))).json()
    assert await asyncio.wait_for(worker.run_due(), 60) == 1
    assert not await Followup.filter(message_id=first["id"]).exists()  # ran, deleted
    assert await Message.filter(conversation_id=first["conversation_id"],
                                origin="rule").count() == 1

    # The model is still loading: the step does not wait for it; the message is scored
    # once the model is ready.
    import threading

    from bot.models import SentimentScore
    from listening import runtime as listening_runtime
    from listening.sentiment import Score

    class Model:
        version = "stub"

        def predict(self, batch: list[str]) -> list[Score]:
            return [Score("neutral", 1.0) for _ in batch]

    loaded = threading.Event()

    def load(settings: Any) -> Model:
        loaded.wait(120)
        return Model()

    monkeypatch.setattr(listening_runtime, "load_model", load)
    runtime = ListeningRuntime(make_settings(tmp_path, sentiment_enabled=True), Alerter())
    runtime.start()

    async def listen(event: MessageReceived) -> None:  # as the composition root wires it
        if runtime.service.wants(event):
            await runtime.service.on_message(event)

    automation.listen = listen
    second = await (await quiet.inbound(message("l-2", text="price again?"))).json()
    assert await asyncio.wait_for(worker.run_due(), 60) == 1
    assert not await Followup.filter(message_id=second["id"]).exists()
    assert await Message.filter(conversation_id=second["conversation_id"],
                                origin="rule").count() == 2
    assert not await SentimentScore.filter(item_id=second["id"]).exists()
    loaded.set()
    try:
        await until(lambda: SentimentScore.filter(item_kind="message",
                                                  item_id=second["id"]).exists(), 60)
    finally:
        loaded.set()
        await runtime.close()


async def test_a_row_run_again_fires_each_rule_once_and_keeps_its_assignee(
        quiet: Shop) -> None:
    """Round-robin assignment and the fired count are not idempotent: a row run again
    (its holder died before deleting it, its lease lapsed, a later step failed) skips the
    rules its earlier run finished, and one cut short mid-way keeps the agent it picked."""
    from bot.models import Conversation, Role, Rule, User

    await User.create(email="second@shop.example", name="Second", role=Role.AGENT)
    rule = {"name": "Triage", "event": "message_received", "conditions": {},
            "actions": [{"type": "assign", "to": "round_robin"},
                        {"type": "reply", "template": "Someone will answer soon."}]}
    status, created = await quiet.api("POST", "/api/v1/rules", json=rule)
    assert status == 201
    inbound = await (await quiet.inbound(message("rr-1", text="hello"))).json()
    conv_id = inbound["conversation_id"]
    row = await Followup.get(message_id=inbound["id"])
    worker = quiet.client.app[FOLLOWUPS]
    await worker.handlers["received"](row)
    first = (await Conversation.get(id=conv_id)).assignee_id  # type: ignore[attr-defined]
    assert first is not None
    await worker.handlers["received"](row)  # run again: nothing moves, nothing counted
    assert (await Conversation.get(id=conv_id)).assignee_id == first  # type: ignore[attr-defined]
    assert (await Rule.get(id=created["id"])).fired == 1

    # An earlier run stopped inside the rule (it fired and assigned, then the process died):
    # the rule's actions run again, but the assignment stays and the count too.
    tag = f"message_received:{created['id']}"
    fresh = await Followup.get(id=row.id)
    await Followup.filter(id=row.id).update(
        payload={**fresh.payload, "done": {tag: None}})
    await worker.handlers["received"](row)
    assert (await Conversation.get(id=conv_id)).assignee_id == first  # type: ignore[attr-defined]
    assert (await Rule.get(id=created["id"])).fired == 1
    assert (await Followup.get(id=row.id)).payload["done"] == {tag: True}
    assert await worker.run_one(row)
    assert await Message.filter(conversation_id=conv_id, origin="rule").count() == 1
