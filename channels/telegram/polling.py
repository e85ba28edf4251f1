"""Running a Telegram account: long polling with getUpdates (the default), or keeping
Telegram's webhook pointed at this server. The adapter starts one of these per account
(see :class:`channels.loops.AccountLoops`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot
from telegram.error import Conflict, RetryAfter, TelegramError

from bot.core.channel import AccountInfo
from channels.telegram.client import retry_seconds
from channels.telegram.parse import ALLOWED_UPDATES

log = logging.getLogger("switchboard.telegram")
POISON_AFTER = 5  # attempts before an update that keeps failing is logged and skipped
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


async def poll(bot: Bot, account: AccountInfo, timeout: int, handle: Handle) -> None:
    """Polling mode: getUpdates in a loop. The offset moves past an update only after
    it is committed, so a crash replays it (and ingest drops the duplicate)."""
    offset: int | None = None
    delay = 1.0
    webhook_cleared = False
    failed: dict[int, int] = {}  # update_id -> failed attempts
    while True:
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
                await handle(account, update.to_dict())
            except Exception:
                failures = failed[update.update_id] = failed.get(update.update_id, 0) + 1
                if failures < POISON_AFTER:
                    log.exception("telegram update not stored; will be fetched again",
                                  extra={"account": account.id,
                                         "update_id": update.update_id})
                    await asyncio.sleep(delay * failures)
                    break
                # One update that can never be handled must not stop every later one.
                log.exception("telegram update skipped after repeated failures",
                              extra={"account": account.id, "update_id": update.update_id,
                                     "update": str(update.to_dict())[:2000]})
            failed.pop(update.update_id, None)
            offset = update.update_id + 1
