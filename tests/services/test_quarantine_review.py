"""Quarantine after review (issue 19): tries are counted in the database (two workers lose
none), the raw body is capped and written once, Telegram polling backs off between tries
of one update, and "try again" replays a Telegram update from its kept body."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from bot.core import vault
from bot.models import ChannelAccount, ImportFailure, Message
from bot.services import quarantine
from channels.telegram import polling
from tests.conftest import Shop
from tests.fakes.telegram_api import FakeTelegram
from tests.web.test_web import as_admin


class Boom(Exception):
    pass


async def bad() -> None:
    await asyncio.sleep(0)
    raise Boom("cannot store this one")


async def test_concurrent_tries_are_all_counted(shop_any_db: Shop) -> None:
    args = ("imap", 3, "<race@x>", "body")
    assert await quarantine.store_or_quarantine(*args, bad, tries=100) is False
    await asyncio.gather(*(quarantine.store_or_quarantine(*args, bad, tries=100)
                           for _ in range(6)))
    row = await ImportFailure.get(key="<race@x>")
    assert row.tries == 7 and not row.quarantined


async def test_the_body_is_capped_and_written_once(shop: Shop) -> None:
    big = "x" * (300 * 1024)
    assert await quarantine.store_or_quarantine("feed", 1, "entry", big, bad, tries=3) is False
    row = await ImportFailure.get(key="entry")
    assert len(row.body) == quarantine.BODY_LEN and quarantine.is_cut(row.body)
    assert await quarantine.store_or_quarantine("feed", 1, "entry", "other", bad,
                                                tries=3) is False
    assert (await ImportFailure.get(key="entry")).body == row.body  # not rewritten
    small = "y" * 1000
    assert await quarantine.store_or_quarantine("feed", 1, "e2", small, bad, tries=3) is False
    assert (await ImportFailure.get(key="e2")).body == small


def test_retry_delays_grow_and_are_capped() -> None:
    delays = [polling.retry_delay(n) for n in range(1, 9)]
    assert delays[:3] == [2.0, 8.0, 32.0]
    assert delays == sorted(delays) and max(delays) == polling.RETRY_CAP


class Stop(Exception):
    pass


async def test_polling_backs_off_between_tries_of_one_update(shop: Shop) -> None:
    update = {"update_id": 41, "message": {"message_id": 1, "text": "hi"}}
    offsets: list[int | None] = []

    class Bot:
        async def delete_webhook(self) -> None:
            return None

        async def get_updates(self, offset: int | None, **_: Any) -> list[Any]:
            offsets.append(offset)
            if offset is not None and offset > 41:
                raise Stop
            return [SimpleNamespace(update_id=41, to_dict=lambda: dict(update))]

    async def handle(account: Any, raw: dict[str, Any]) -> None:
        raise Boom("database is locked")

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    account = SimpleNamespace(id=77)
    with pytest.raises(Stop):
        await polling.poll(Bot(), account, 0, handle, tries=4,  # type: ignore[arg-type]
                           sleep=sleep)
    assert slept == [2.0, 8.0, 32.0]  # three pauses, then the fourth try quarantines it
    assert offsets == [None, None, None, None, 42]
    row = await ImportFailure.get(source="telegram", account_id=77)
    assert row.quarantined and row.tries == 4


async def test_try_again_replays_a_telegram_update_now(shop: Shop) -> None:
    account = await ChannelAccount.create(
        kind="telegram", name="tg", secret=vault.seal("f" * 64), enabled=False,
        settings={"token": vault.seal("123:replay-token"), "mode": "polling"})
    update = {"update_id": 9, **FakeTelegram().private_message(901, "kept and replayed")}
    assert await quarantine.store_or_quarantine(
        "telegram", account.id, "9:abc", json.dumps(update), bad, tries=1) is True
    row = await ImportFailure.get(key="9:abc")
    csrf = await as_admin(shop)
    listed = await (await shop.client.get("/admin/imports")).text()
    assert "Try again now" in listed and "kept and replayed" not in listed
    resp = await shop.client.post(f"/admin/imports/{row.id}",
                                  data={"csrf_token": csrf, "action": "retry"})
    assert resp.status == 200
    assert "stored" in await resp.text()
    assert await Message.filter(text="kept and replayed").exists()
    assert not await ImportFailure.filter(id=row.id).exists()

    # an item that fails again stays, with its new error, and the page says so
    await quarantine.store_or_quarantine("telegram", account.id, "10:x", "{not json",
                                         bad, tries=1)
    row = await ImportFailure.get(key="10:x")
    resp = await shop.client.post(f"/admin/imports/{row.id}",
                                  data={"csrf_token": csrf, "action": "retry"})
    assert "failed" in await resp.text()
    again = await ImportFailure.get(id=row.id)
    assert again.quarantined and again.error.startswith("JSONDecodeError")
