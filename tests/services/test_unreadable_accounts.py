"""One account whose secrets this secret_key cannot open (review of issue 19) is skipped
with a log line, not a crash: staff notes still reach the other staff chats, and the
mailer sends from the next e-mail account."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.core import vault
from bot.core.channel import AccountInfo
from bot.core.keys import SETTINGS
from bot.models import ChannelAccount
from bot.services import notify
from bot.services.notify import StaffNotifier
from channels.email.mailer import Mailer, PermanentMailError
from tests.conftest import Shop


class Chat:
    """A channel that posts to staff chats, remembering what it posted."""

    def __init__(self) -> None:
        self.posted: list[tuple[int, str]] = []

    async def post_to_chat(self, account: AccountInfo, chat_id: str, text: Any) -> str:
        self.posted.append((account.id, chat_id))
        return "1"


def sealed_elsewhere(value: str) -> str:
    """``value`` sealed under another secret_key than the process's."""
    return vault.PREFIX + vault.derive("some-other-secret-key").encrypt(value.encode()).decode()


async def test_an_unreadable_account_does_not_stop_the_staff_notes(
        shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    bad = await ChannelAccount.create(kind="chat", name="bad", secret="", settings={
        "token": sealed_elsewhere("lost-token-1234"), "staff_chat_id": "-1"})
    good = await ChannelAccount.create(kind="chat", name="good", secret="", settings={
        "staff_chat_id": "-2"})
    chat = Chat()
    notify._targets.clear()
    notifier = StaffNotifier({"chat": chat})  # type: ignore[dict-item]
    with caplog.at_level(logging.WARNING, "switchboard.notify"):
        assert await notifier.announce("a post was missed") == 1
    assert chat.posted == [(good.id, "-2")]
    assert any(r.__dict__.get("account") == bad.id for r in caplog.records)
    assert "lost-token-1234" not in caplog.text


async def test_the_mailer_skips_an_unreadable_account(
        shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    await ChannelAccount.filter(kind="email").update(enabled=False)
    bad = await ChannelAccount.create(kind="email", name="old", secret="", settings={
        "address": "old@shop.example", "smtp_password": sealed_elsewhere("lost-pw-1234")})
    mailer = Mailer({}, shop.client.app[SETTINGS])
    with pytest.raises(PermanentMailError, match="secrets can be opened"):
        await mailer.account()
    good = await ChannelAccount.create(kind="email", name="new", secret="", settings={
        "address": "new@shop.example"})
    with caplog.at_level(logging.WARNING, "switchboard.marketing"):
        info = await mailer.account()
    assert info.id == good.id and bad.id != good.id
    assert "lost-pw-1234" not in caplog.text
