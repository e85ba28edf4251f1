"""Quarantine: an item from outside that a channel loop cannot store (a mail, a Telegram
update, a feed entry, a review) is tried ``quarantine_tries`` times, then kept raw in
``import_failures``, listed for an admin as "could not import", and the loop moves past
it instead of re-reading the same item forever.

A loop calls :func:`store_or_quarantine` for each item and moves past the item (acknowledges
it, advances its offset) when it returns True; on False it keeps the item to retry later.
A failure to record the failure (the database is down) propagates: the loop's own retry
handles that, so an outage never quarantines good items silently."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tortoise.exceptions import IntegrityError

from bot.core.clean import fit, fit_key, storable
from bot.core.errors import NotFound
from bot.core.time import utcnow
from bot.models import ImportFailure

log = logging.getLogger("switchboard.quarantine")

KEY_LEN = 255
ERROR_LEN = 500


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return fit(storable(text), ERROR_LEN)


async def store_or_quarantine(source: str, account_id: int, key: str, body: str | bytes,
                              store: Callable[[], Awaitable[object]], *, tries: int) -> bool:
    """Store one item with ``store()``; True when the loop may move past it (stored, or
    quarantined now or before, or dismissed by an admin), False when it should retry it."""
    key = fit_key(storable(key), KEY_LEN)
    row = await ImportFailure.filter(source=source, account_id=account_id, key=key).first()
    if row is not None and (row.quarantined or row.resolved_at is not None):
        return True
    try:
        await store()
    except Exception as exc:  # noqa: BLE001 - any failure of one item counts as a try
        count = await _count_try(source, account_id, key, storable(body), _error_text(exc),
                                 max(tries, 1))
        # one line, no traceback, no message text (it may quote a URL with a token)
        log.warning("%s: could not store item %r (account %s), try %d of %d: %s%s", source,
                    fit(key, 80), account_id, count, tries, type(exc).__name__,
                    "; quarantined (see /admin/imports)" if count >= tries else "")
        return count >= tries
    if row is not None:
        await ImportFailure.filter(id=row.id).delete()
    return True


async def _count_try(source: str, account_id: int, key: str, body: str, error: str,
                     tries: int) -> int:
    """Count one failed try and return the count; quarantine the item at ``tries``."""
    row = await ImportFailure.filter(source=source, account_id=account_id, key=key).first()
    if row is None:
        try:
            row = await ImportFailure.create(source=source, account_id=account_id, key=key,
                                             body=body, error=error, tries=1,
                                             quarantined=tries <= 1)
            return 1
        except IntegrityError:  # another worker counted the first try meanwhile
            row = await ImportFailure.get(source=source, account_id=account_id, key=key)
    count = row.tries + 1
    await ImportFailure.filter(id=row.id).update(
        body=body, error=error, tries=count, quarantined=count >= tries, updated_at=utcnow())
    return count


def failure_out(row: ImportFailure) -> dict[str, Any]:
    return {"id": row.id, "source": row.source, "account_id": row.account_id or None,
            "key": row.key, "body": row.body, "error": row.error, "tries": row.tries,
            "created_at": row.created_at, "updated_at": row.updated_at}


async def quarantined(limit: int = 100) -> list[ImportFailure]:
    """Quarantined items no admin has dealt with yet, the latest first."""
    return await ImportFailure.filter(quarantined=True, resolved_at__isnull=True) \
        .order_by("-updated_at", "-id").limit(limit)


async def waiting() -> int:
    """How many quarantined items wait for an admin."""
    return await ImportFailure.filter(quarantined=True, resolved_at__isnull=True).count()


async def dismiss(failure_id: int) -> None:
    """Mark an item resolved: the loop skips it for good if its source offers it again."""
    if not await ImportFailure.filter(id=failure_id, resolved_at__isnull=True).update(
            resolved_at=utcnow()):
        raise NotFound("import failure", "id")


async def retry(failure_id: int) -> None:
    """Un-quarantine an item: its tries start over, so the loop stores it again if its
    source re-offers it (an IMAP mail still unread, a review still listed)."""
    if not await ImportFailure.filter(id=failure_id).update(
            quarantined=False, tries=0, resolved_at=None, updated_at=utcnow()):
        raise NotFound("import failure", "id")
