"""Sending drip mail through an SMTP server that defers and refuses: a 4xx answer is
tried again later (the step stays due, with backoff), a 5xx answer is recorded as failed
and the sequence goes on; and the per-account rate limit, on an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bot.models import ChannelAccount, Enrollment, MailSend
from channels.email.pool import RateLimit
from scheduler.marketing.clock import set_clock
from scheduler.marketing.drips import DRIPS
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
