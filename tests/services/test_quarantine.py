"""bot.services.quarantine: an item that cannot be stored is counted per try, quarantined
at quarantine_tries (kept raw), skipped afterwards; dismiss and retry."""

from __future__ import annotations

import pytest

from bot.core.errors import NotFound
from bot.models import ImportFailure
from bot.services import quarantine
from tests.conftest import Shop


class Boom(Exception):
    pass


async def test_tries_then_quarantine_then_skip(shop_any_db: Shop) -> None:
    calls: list[int] = []

    async def bad() -> None:
        calls.append(1)
        raise Boom("value too long for type character varying(255)")

    body = b"From: x\r\n\x00caf\xc3\xa9 \xff"
    args = ("imap", 7, "k" * 400, body)
    assert await quarantine.store_or_quarantine(*args, bad, tries=3) is False
    assert await quarantine.store_or_quarantine(*args, bad, tries=3) is False
    assert await quarantine.store_or_quarantine(*args, bad, tries=3) is True
    assert len(calls) == 3
    # quarantined: never stored again, the loop moves on
    assert await quarantine.store_or_quarantine(*args, bad, tries=3) is True
    assert len(calls) == 3
    [row] = await quarantine.quarantined()
    assert (row.source, row.account_id, row.tries, row.quarantined) == ("imap", 7, 3, True)
    assert len(row.key) == 255 and "…" in row.key  # the start, and a hash of the whole
    assert row.body == "From: x\r\ncafé \ufffd"
    assert row.error.startswith("Boom: value too long")

    # retry: the tries start over and a good store clears the row
    await quarantine.retry(row.id)
    assert await quarantine.quarantined() == []

    async def good() -> None:
        calls.append(2)

    assert await quarantine.store_or_quarantine(*args, good, tries=3) is True
    assert calls[-1] == 2
    assert await ImportFailure.all().count() == 0


async def test_dismiss_and_a_success_after_a_failed_try(shop_any_db: Shop) -> None:
    async def bad() -> None:
        raise Boom("x" * 2000)

    async def good() -> None:
        pass

    assert await quarantine.store_or_quarantine("telegram", 0, "1", "{}", bad, tries=2) is False
    row = await ImportFailure.get(key="1")
    assert len(row.error) == 500 and not row.quarantined
    assert await quarantine.store_or_quarantine("telegram", 0, "1", "{}", good, tries=2) is True
    assert await ImportFailure.all().count() == 0

    assert await quarantine.store_or_quarantine("telegram", 0, "2", "{}", bad, tries=1) is True
    [row] = await quarantine.quarantined()
    await quarantine.dismiss(row.id)
    assert await quarantine.quarantined() == []
    # dismissed: skipped for good, even after an admin fixed nothing
    assert await quarantine.store_or_quarantine("telegram", 0, "2", "{}", bad, tries=1) is True
    with pytest.raises(NotFound):
        await quarantine.dismiss(row.id)
    with pytest.raises(NotFound):
        await quarantine.retry(row.id + 1000)


async def test_a_failure_to_record_the_failure_propagates(shop_any_db: Shop,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    async def bad() -> None:
        raise Boom("database is down")

    async def down(*a: object, **k: object) -> int:
        raise ConnectionError("database is down")

    monkeypatch.setattr(quarantine, "_count_try", down)
    with pytest.raises(ConnectionError):
        await quarantine.store_or_quarantine("reviews", 1, "k", "", bad, tries=3)
