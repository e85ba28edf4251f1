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
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from bot.core.channel import ChannelAdapter, ReplaysImports
from bot.core.clean import fit, fit_key, storable
from bot.core.errors import NotFound
from bot.core.time import utcnow
from bot.core.vault import SealError
from bot.models import ChannelAccount, ImportFailure
from bot.services.replies import account_info

log = logging.getLogger("switchboard.quarantine")

KEY_LEN = 255
ERROR_LEN = 500
BODY_LEN = 256 * 1024  # characters of the raw item kept; longer ones end with CUT
CUT = "\n… [cut: the item was longer than 256 KiB]"
SUMMARY = ("id", "source", "account_id", "key", "error", "tries", "created_at", "updated_at")


def _body_text(body: str | bytes) -> str:
    """The raw item as stored: at most BODY_LEN characters, a cut one marked with CUT."""
    if isinstance(body, bytes) and len(body) > 4 * BODY_LEN:
        body = body[:4 * BODY_LEN]  # decode no more than can be kept
    text = storable(body)
    return text if len(text) <= BODY_LEN else text[:BODY_LEN - len(CUT)] + CUT


def is_cut(body: str) -> bool:
    return body.endswith(CUT)


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
        count = await _count_try(source, account_id, key, body, _error_text(exc),
                                 max(tries, 1))
        # one line, no traceback, no message text (it may quote a URL with a token)
        log.warning("%s: could not store item %r (account %s), try %d of %d: %s%s", source,
                    fit(key, 80), account_id, count, tries, type(exc).__name__,
                    "; quarantined (see /admin/imports)" if count >= tries else "")
        return count >= tries
    if row is not None:
        await ImportFailure.filter(id=row.id).delete()
    return True


async def _count_try(source: str, account_id: int, key: str, body: str | bytes, error: str,
                     tries: int) -> int:
    """Count one failed try and return the count; quarantine the item at ``tries``. The
    count goes up in the database (``tries + 1``), so two processes never lose one; the
    raw body is written once, with the first try."""
    found = ImportFailure.filter(source=source, account_id=account_id, key=key)
    if not await found.exists():
        try:
            await ImportFailure.create(source=source, account_id=account_id, key=key,
                                       body=_body_text(body), error=error, tries=1,
                                       quarantined=tries <= 1)
            return 1
        except IntegrityError:  # another worker counted the first try meanwhile
            pass
    await found.update(tries=F("tries") + 1, error=error, updated_at=utcnow())
    counts = await found.values_list("tries", flat=True)
    count = int(str(counts[0])) if counts else tries
    if count >= tries:
        await found.update(quarantined=True)
    return count


def failure_out(row: ImportFailure) -> dict[str, Any]:
    return {"id": row.id, "source": row.source, "account_id": row.account_id or None,
            "key": row.key, "body": row.body, "error": row.error, "tries": row.tries,
            "created_at": row.created_at, "updated_at": row.updated_at}


async def quarantined(limit: int = 100) -> list[ImportFailure]:
    """Quarantined items no admin has dealt with yet, the latest first."""
    return await ImportFailure.filter(quarantined=True, resolved_at__isnull=True) \
        .order_by("-updated_at", "-id").limit(limit)


async def summaries(limit: int = 100) -> list[dict[str, Any]]:
    """As :func:`quarantined`, without the raw bodies (the admin list; a body is read
    with :func:`failure`)."""
    return await ImportFailure.filter(quarantined=True, resolved_at__isnull=True) \
        .order_by("-updated_at", "-id").limit(limit).values(*SUMMARY)


async def failure(failure_id: int) -> ImportFailure:
    row = await ImportFailure.filter(id=failure_id).first()
    if row is None:
        raise NotFound("import failure", "id")
    return row


async def waiting() -> int:
    """How many quarantined items wait for an admin."""
    return await ImportFailure.filter(quarantined=True, resolved_at__isnull=True).count()


async def dismiss(failure_id: int) -> None:
    """Mark an item resolved: the loop skips it for good if its source offers it again."""
    if not await ImportFailure.filter(id=failure_id, resolved_at__isnull=True).update(
            resolved_at=utcnow()):
        raise NotFound("import failure", "id")


def replayable(adapters: Mapping[str, ChannelAdapter]) -> frozenset[str]:
    """The sources whose quarantined items "try again" stores at once (their raw body is
    the whole item); the others wait for their source to offer the item again."""
    return frozenset(s for a in adapters.values() if isinstance(a, ReplaysImports)
                     for s in a.replay_sources)


async def retry(failure_id: int, adapters: Mapping[str, ChannelAdapter] | None = None) -> str:
    """Try an item again and say what happened. Where its channel can replay the raw body
    (:class:`ReplaysImports`, e.g. a Telegram update), it is stored now: "stored", or
    "failed" with the row kept quarantined and its new error. Otherwise its tries start
    over, so the loop stores it if its source offers it again (an IMAP mail still
    unread, a review still listed): "waiting"."""
    row = await failure(failure_id)
    account = await ChannelAccount.filter(id=row.account_id).first() if row.account_id \
        else None
    adapter = (adapters or {}).get(account.kind) if account else None
    if (account is not None and isinstance(adapter, ReplaysImports)
            and row.source in adapter.replay_sources and not is_cut(row.body)):
        try:
            await adapter.replay_import(account_info(account), row.source, row.body)
        except SealError:
            return "failed: the account's secrets cannot be opened (enter them again)"
        except Exception as exc:  # noqa: BLE001 - the item's own failure, shown to the admin
            error = _error_text(exc)
            await ImportFailure.filter(id=row.id).update(
                error=error, tries=F("tries") + 1, updated_at=utcnow())
            log.warning("%s: item %r (account %s) failed again when tried by an admin: %s",
                        row.source, fit(row.key, 80), row.account_id, type(exc).__name__)
            return f"failed: {error}"
        await ImportFailure.filter(id=row.id).delete()
        return "stored"
    await ImportFailure.filter(id=row.id).update(
        quarantined=False, tries=0, resolved_at=None, updated_at=utcnow())
    return "waiting"
