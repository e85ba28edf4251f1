"""One item from outside can no longer stop a channel's loop for ever (issue 19 point 3):
over-long values are stored fitted, and an item that cannot be stored at all is
quarantined after quarantine_tries (kept raw, listed for an admin) while the loop goes on.
On PostgreSQL (where "value too long" failed the write) with the real Dovecot, and with
the fake Telegram's getUpdates."""

from __future__ import annotations

import asyncio
import smtplib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.clean import fit_key
from bot.models import Contact, Conversation, ImportFailure, Message
from channels.email.adapter import EmailChannel
from channels.telegram.adapter import TelegramChannel
from tests.channels.test_email import arrived, connect_mailbox, customer
from tests.channels.test_telegram import TOKEN, connect, until
from tests.conftest import Postgres, Shop, make_settings, start_shop
from tests.fakes.telegram_api import FakeTelegram
from tests.mailserver import MailServer


def raw_mail(sender: str, to: str, message_id: str, text: str, name: str = "Ann",
             references: str = "", subject: str = "Hello") -> bytes:
    head = [f"From: {name} <{sender}>", f"To: {to}", f"Subject: {subject}",
            f"Message-ID: {message_id}", "Date: Fri, 04 Dec 2026 10:00:00 +0000",
            "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    if references:
        head += [f"In-Reply-To: {references.split()[-1]}", f"References: {references}"]
    return ("\r\n".join(head) + "\r\n\r\n" + text + "\r\n").encode()


def deliver(mail: MailServer, sender: str, to: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=20) as s:
        s.sendmail(sender, [to], raw)


@pytest.fixture
async def fake_api(aiohttp_server: Any) -> AsyncIterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram()
    server = await aiohttp_server(fake.app())
    yield fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def pg_shop(aiohttp_client: Any, tmp_path: Path, postgres: Postgres) -> Shop:
    return await start_shop(aiohttp_client, make_settings(
        tmp_path, database_url=postgres.create_db(migrated=True), quarantine_tries=2))


@pytest.mark.slow  # real Postfix, Dovecot and PostgreSQL
async def test_long_headers_fit_and_a_mail_that_cannot_be_stored_is_quarantined(
        pg_shop: Shop, mailserver: MailServer, monkeypatch: pytest.MonkeyPatch) -> None:
    real_store = EmailChannel._store

    async def store(self: EmailChannel, account: Any, raw: bytes) -> None:
        if b"poison-pill" in raw:
            raise RuntimeError("cannot store this one")
        await real_store(self, account, raw)

    monkeypatch.setattr(EmailChannel, "_store", store)
    _, address = await connect_mailbox(pg_shop, mailserver)
    ann = customer(mailserver)
    root = f"<{'r' * 400}@customer.test>"
    long_id = f"<{'m' * 400}@customer.test>"
    name = "N" * 300
    await asyncio.to_thread(deliver, mailserver, ann, address, raw_mail(
        ann, address, long_id, "A long one", name=name, references=root))
    normal = f"<{uuid.uuid4().hex}@customer.test>"
    await asyncio.to_thread(deliver, mailserver, ann, address,
                            raw_mail(ann, address, normal, "A normal one"))

    stored = await arrived(fit_key(long_id, 255))
    assert stored.text == "A long one"
    assert stored.meta["message_id"] == long_id  # the whole id, for the reply's headers
    assert stored.meta["uncut"]["external_id"] == long_id
    assert stored.meta["references"] == [root]
    conv = await Conversation.get(id=stored.conversation_id)  # type: ignore[attr-defined]
    assert conv.thread_key == fit_key(root, 255)
    contact = await Contact.get(id=conv.contact_id)  # type: ignore[attr-defined]
    assert contact.name == "N" * 199 + "…" and contact.email == ann
    await arrived(normal)

    # staff reply in the thread: the reply's headers name the whole ids, not the fitted
    status, _ = await pg_shop.api("POST", f"/api/v1/conversations/{conv.id}/reply",
                                  json={"text": "Done"})
    assert status == 201
    got = (await asyncio.to_thread(mailserver.wait_for, ann, 1))[0]
    assert got["In-Reply-To"] == long_id
    assert str(got["References"]).split() == [root, long_id]

    # the thread still works: an answer to the long ids joins the same conversation
    answer = f"<{uuid.uuid4().hex}@customer.test>"
    await asyncio.to_thread(deliver, mailserver, ann, address, raw_mail(
        ann, address, answer, "Me again", references=f"{root} {long_id}", subject="Re: x"))
    assert (await arrived(answer)).conversation_id == conv.id  # type: ignore[attr-defined]

    # a mail that cannot be stored: tried quarantine_tries times, kept raw, passed over
    poison = f"<{uuid.uuid4().hex}@customer.test>"
    await asyncio.to_thread(deliver, mailserver, ann, address, raw_mail(
        ann, address, poison, "poison-pill"))
    after = f"<{uuid.uuid4().hex}@customer.test>"
    await asyncio.to_thread(deliver, mailserver, ann, address,
                            raw_mail(ann, address, after, "After the bad one"))
    await arrived(after)
    row = await ImportFailure.get(source="imap", key=poison)
    assert row.quarantined and row.tries == 2 and row.resolved_at is None
    assert "poison-pill" in row.body and f"Message-ID: {poison}" in row.body
    assert row.error == "RuntimeError: cannot store this one"
    assert not await Message.filter(external_id=poison).exists()


async def test_telegram_update_that_cannot_be_stored_is_quarantined(
        aiohttp_client: Any, tmp_path: Path, fake_api: tuple[FakeTelegram, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    real_handle = TelegramChannel.handle_update

    async def handle(self: TelegramChannel, account: Any, update: dict[str, Any]) -> None:
        if "poison-pill" in str(update):
            raise RuntimeError("cannot store this one")
        await real_handle(self, account, update)

    monkeypatch.setattr(TelegramChannel, "handle_update", handle)
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, quarantine_tries=2))
    fake, base = fake_api
    tg = await connect(shop, fake, base, "polling")
    poison = fake.push(TOKEN, fake.private_message(501, "poison-pill"))
    later = fake.push(TOKEN, fake.private_message(502, "Hello after the bad one"))
    msg = later["message"]
    await tg.stored(f"{msg['chat']['id']}:{msg['message_id']}")

    row = await ImportFailure.get(source="telegram")
    assert row.account_id == tg.account["id"] and row.quarantined and row.tries == 2
    assert row.key.startswith(f"{poison['update_id']}:")
    assert "poison-pill" in row.body and row.error == "RuntimeError: cannot store this one"
    # the offset moved past it: getUpdates asked for what comes after both
    await until(lambda: asyncio.sleep(0, max(
        int(p.get("offset") or 0) for _, m, p in fake.calls if m == "getUpdates")
        > later["update_id"]))
    assert not await Message.filter(text="poison-pill").exists()


async def test_telegram_over_long_names_are_stored_fitted(
        shop_any_db: Shop, fake_api: tuple[FakeTelegram, str]) -> None:
    fake, base = fake_api
    tg = await connect(shop_any_db, fake, base, "webhook")
    update = fake.private_message(601, "Hi", first_name="F" * 300, language_code="x" * 40)
    update["message"]["from"]["last_name"] = "L" * 300
    resp = await tg.webhook({"update_id": 1, **update})
    assert resp.status == 200, await resp.text()
    stored = await tg.stored(f"601:{update['message']['message_id']}")
    conv = await Conversation.get(id=stored.conversation_id)  # type: ignore[attr-defined]
    contact = await Contact.get(id=conv.contact_id)  # type: ignore[attr-defined]
    assert contact.name == "F" * 199 + "…" and contact.locale == "x" * 16


async def test_telegram_webhook_update_that_cannot_be_stored_is_quarantined(
        aiohttp_client: Any, tmp_path: Path, fake_api: tuple[FakeTelegram, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    real_handle = TelegramChannel.handle_update

    async def handle(self: TelegramChannel, account: Any, update: dict[str, Any]) -> None:
        if "poison-pill" in str(update):
            raise RuntimeError("cannot store this one")
        await real_handle(self, account, update)

    monkeypatch.setattr(TelegramChannel, "handle_update", handle)
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, quarantine_tries=2))
    fake, base = fake_api
    tg = await connect(shop, fake, base, "webhook")
    poison = {"update_id": 7, **fake.private_message(701, "poison-pill")}
    first = await tg.webhook(poison)
    assert first.status == 503 and (await first.json())["error"]["code"] == "not_stored"
    assert (await tg.webhook(poison)).status == 200  # quarantined: Telegram moves on
    assert (await tg.webhook(poison)).status == 200
    later = {"update_id": 8, **fake.private_message(702, "Hello")}
    assert (await tg.webhook(later)).status == 200
    await tg.stored(f"702:{later['message']['message_id']}")
    row = await ImportFailure.get(source="telegram", account_id=tg.account["id"])
    assert row.quarantined and row.tries == 2 and row.key.startswith("7:")
