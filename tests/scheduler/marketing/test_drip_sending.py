"""Sending drip mail through an SMTP server that defers and refuses: a 4xx answer is
tried again later (the step stays due, with backoff), a 5xx answer is recorded as failed
and the sequence goes on; and the per-account rate limit, on an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bot.models import ChannelAccount, Contact, Enrollment, MailSend, Sequence
from channels.email.mailer import MAILER
from channels.email.pool import RateLimit
from scheduler.marketing.clock import set_clock
from scheduler.marketing.drips import DRIPS, DripRunner
from tests.conftest import Shop, free_port, make_settings, start_shop
from tests.scheduler.marketing.test_drips import Clock


class Picky:
    """Defers ``later@`` once (451), refuses ``gone@`` (550), takes the rest."""

    def __init__(self) -> None:
        self.deferred = 0
        self.got: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          address: str, options: Any) -> str:
        if address.startswith("later@") and self.deferred == 0:
            self.deferred += 1
            return "451 4.3.0 Mailbox busy, try again later"
        if address.startswith("gone@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.got.extend(envelope.rcpt_tos)
        return "250 OK"


@pytest.fixture
async def picky(aiohttp_client: Any, tmp_path: Path) -> AsyncIterator[tuple[Shop, Picky,
                                                                           Clock]]:
    clock = Clock()
    previous = set_clock(clock)
    handler, port = Picky(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    shop = await start_shop(aiohttp_client, make_settings(tmp_path))
    await ChannelAccount.create(kind="email", name="Shop mail", secret="x", settings={
        "address": "shop@shop.test", "smtp_host": "127.0.0.1", "smtp_port": port,
        "smtp_tls": "none", "rate_per_sec": 0})
    yield shop, handler, clock
    controller.stop()
    set_clock(previous)


async def test_4xx_is_retried_and_5xx_recorded(picky: Any) -> None:
    shop, handler, clock = picky
    for who in ("ok@x.test", "later@x.test", "gone@x.test"):
        status, _ = await shop.api("POST", "/api/v1/events", json={
            "id": who, "type": "signup", "contact": {"email": who}})
        assert status == 201
    await shop.client.server.app[DRIPS].run_due()
    assert handler.got == ["ok@x.test"]
    later = await MailSend.get(to="later@x.test")
    assert later.state == "sending" and later.attempts == 1 and "451" in later.error
    waiting = await Enrollment.get(contact__email="later@x.test")
    assert waiting.step == 0 and waiting.due_at == clock.now + timedelta(minutes=2)
    gone = await MailSend.get(to="gone@x.test")
    assert gone.state == "failed" and "550" in gone.error
    moved_on = await Enrollment.get(contact__email="gone@x.test")
    assert moved_on.step == 1 and moved_on.state == "active"  # waiting for the next mail
    clock.now += timedelta(minutes=3)
    await shop.client.server.app[DRIPS].run_due()
    assert sorted(handler.got) == ["later@x.test", "ok@x.test"]
    await later.refresh_from_db()
    assert later.state == "sent" and later.attempts == 1
    assert await MailSend.filter(to="later@x.test").count() == 1


async def test_rate_limit_spaces_sends() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limit = RateLimit(5, clock=lambda: now[0], sleep=sleep)
    for _ in range(20):
        await limit.take()
    # A burst of one second's worth (5), then one every 0.2 s: 15 more take 3 s.
    assert abs(now[0] - 3.0) < 1e-6 and len(slept) == 15
    unlimited = RateLimit(0, clock=lambda: now[0], sleep=sleep)
    for _ in range(100):
        await unlimited.take()
    assert len(slept) == 15
    await asyncio.sleep(0)


class TakenOver:
    """The app's mailer, but each mail's enrolment is taken over while it is handed to the
    SMTP server: its lease runs out under this runner and another process claims it
    (``lease_until`` becomes that process's), as a stalled process sees it."""

    def __init__(self, mailer: Any, taken: datetime) -> None:
        self.mailer, self.taken = mailer, taken
        self.enrollment: dict[str, int] = {}  # Message-ID: its enrolment

    async def prepare(self, key: str, *args: Any) -> Any:
        prepared = await self.mailer.prepare(key, *args)
        self.enrollment[prepared.message_id] = int(key.split(":")[1])  # enr:<id>:step:<n>
        return prepared

    async def deliver(self, prepared: Any) -> None:
        await Enrollment.filter(id=self.enrollment[prepared.message_id]).update(
            lease_until=self.taken)
        await self.mailer.deliver(prepared)


async def test_a_runner_that_lost_its_lease_writes_nothing_more(shop_any_db: Shop) -> None:
    """Taken over while its mail went, a runner neither moves the enrolment (a wait
    step, the end of the sequence) nor, on a 4xx, makes it due
    again, nor clears the new holder's lease: the new holder finds the mail sent and
    goes on from there."""
    shop, handler, port = shop_any_db, Picky(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await ChannelAccount.create(kind="email", name="Shop mail", secret="x", settings={
            "address": "shop@shop.test", "smtp_host": "127.0.0.1", "smtp_port": port,
            "smtp_tls": "none", "rate_per_sec": 0})
        now = datetime.now(UTC)
        due = now + timedelta(days=1)  # the app's own clock job leaves these alone
        cases = {  # address: steps
            "waits@x.test": [{"send": "welcome_1"}, {"wait": {"days": 3}}],
            "ends@x.test": [{"send": "welcome_1"}],
            "later@x.test": [{"send": "welcome_1"}],  # deferred (451): made due again
        }
        ids = {}
        for i, (who, steps) in enumerate(cases.items()):
            seq = await Sequence.create(key=f"taken_{i}", name=who, trigger="signup",
                                        steps=steps, enabled=False)
            contact = await Contact.create(email=who)
            ids[who] = (await Enrollment.create(sequence_id=seq.id, contact_id=contact.id,
                                                started_at=now, due_at=due)).id
        taken = due + timedelta(hours=1)  # the new holder's lease
        runner = DripRunner(TakenOver(shop.client.server.app[MAILER], taken),
                            clock=lambda: due + timedelta(minutes=1))
        assert await runner.run_due() == len(cases)
        assert sorted(handler.got) == sorted(w for w in cases if w != "later@x.test")
        for who, eid in ids.items():
            enr = await Enrollment.get(id=eid)
            assert (enr.state, enr.step, enr.due_at, enr.lease_until, enr.context) == (
                "active", 0, due, taken, {}), who
        assert await MailSend.filter(state="sent").count() == len(cases) - 1
    finally:
        controller.stop()
