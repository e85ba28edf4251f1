"""Running a Telegram account: long polling with getUpdates (the default), or keeping
Telegram's webhook pointed at this server. The adapter starts one of these per account
(see :class:`channels.loops.AccountLoops`)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot
from telegram.error import Conflict, RetryAfter, TelegramError

from bot.core.channel import AccountInfo
from bot.services.quarantine import store_or_quarantine
from channels.telegram.client import retry_seconds
from channels.telegram.parse import ALLOWED_UPDATES

log = logging.getLogger("switchboard.telegram")
# Before an update that failed is fetched and tried again: 2 s, then 4 times longer each
# try of the same update (2, 8, 32, 128 s …, at most RETRY_CAP), so quarantine_tries spans a
# real outage (a locked database, a pool timeout), not three seconds. After quarantine_tries
# it is quarantined (kept raw for an admin) and the offset moves past it.
RETRY_SECONDS = 2.0
RETRY_FACTOR = 4.0
RETRY_CAP = 600.0


def retry_delay(failures: int) -> float:
    """The pause after the ``failures``-th failed try in a row of one update."""
    return min(RETRY_SECONDS * RETRY_FACTOR ** max(failures - 1, 0), RETRY_CAP)

# (account, update) -> None once what the update carries is committed.
Handle = Callable[[AccountInfo, dict[str, Any]], Awaitable[None]]


async def keep_webhook(bot: Bot, account: AccountInfo, url: str) -> None:
    """Webhook mode: register our URL (with the account secret) until Telegram has it."""
    delay = 1.0
    while True:
        try:
            await bot.set_webhook(url, secret_token=account.secret,
                                  allowed_updates=ALLOWED_UPDATES)
            log.info("telegram webhook set", extra={"account": account.id})
            return
        except RetryAfter as exc:
            await asyncio.sleep(retry_seconds(exc))
        except TelegramError as exc:
            log.warning("telegram setWebhook failed", extra={"account": account.id,
                                                              "error": str(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60)


async def poll(bot: Bot, account: AccountInfo, timeout: int, handle: Handle, *,
               tries: int = 3,
               sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
               held: Callable[[], bool] = lambda: True) -> None:
    """Polling mode: getUpdates in a loop. The offset moves past an update only after
    it is committed, so a crash replays it (and ingest drops the duplicate); or after
    ``tries`` failed tries, when it is quarantined (:mod:`bot.services.quarantine`).
    Tries of one update are spaced by :func:`retry_delay`. It returns, making no call,
    once ``held()`` is False: this process no longer surely holds the account's lease
    (:mod:`channels.loops`), e.g. it woke from a freeze past it."""
    offset: int | None = None
    failing: tuple[int, int] | None = None  # (update_id, failed tries in a row)
    delay = 1.0
    webhook_cleared = False
    while True:
        if not held():
            log.warning("telegram polling stopped: the account's lease is not held",
                        extra={"account": account.id})
            return
        try:
            if not webhook_cleared:
                await bot.delete_webhook()  # getUpdates is refused while one is set
                webhook_cleared = True
            updates = await bot.get_updates(offset=offset, timeout=timeout,
                                            allowed_updates=ALLOWED_UPDATES)
            delay = 1.0
        except RetryAfter as exc:
            await asyncio.sleep(retry_seconds(exc))
            continue
        except Conflict:
            webhook_cleared = False
            await asyncio.sleep(delay)
            continue
        except TelegramError as exc:  # bad token, network: keep trying, slower
            log.warning("telegram getUpdates failed", extra={"account": account.id,
                                                              "error": str(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60)
            continue
        for update in updates:
            try:
                done = await take_update(account, update.to_dict(), handle, tries)
            except Exception as exc:  # not even the failure could be recorded (database)
                log.warning("telegram update not stored; will be fetched again",
                            extra={"account": account.id, "update_id": update.update_id,
                                   "error": type(exc).__name__})
                done = False
            if not done:  # fetched again (the offset stays) after a growing pause
                n = failing[1] + 1 if failing and failing[0] == update.update_id else 1
                failing = (update.update_id, n)
                await sleep(retry_delay(n))
                break
            failing = None
            offset = update.update_id + 1


async def take_update(account: AccountInfo, raw: dict[str, Any], handle: Handle,
                      tries: int) -> bool:
    """Handle one update (polled, or POSTed to the webhook); True once it is committed or
    quarantined (after ``tries`` failed tries: kept raw for an admin), False when it
    should come again."""
    return await store_or_quarantine(
        "telegram", account.id, update_key(raw.get("update_id"), raw),
        json.dumps(raw, ensure_ascii=False, default=str),
        functools.partial(handle, account, raw), tries=tries)


def update_key(update_id: object, raw: dict[str, Any]) -> str:
    """An update's id for the quarantine: its update_id and a digest of what it carries
    (Telegram may start update_ids over after a quiet week)."""
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode(
        "utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{update_id}:{digest}"
