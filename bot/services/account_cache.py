"""Cached look-ups of channel accounts: read on every inbound message, changed rarely.

Apart from :mod:`bot.services.accounts` (the admin side, which checks staff-chat settings
through the notifier) so the customer bot, the publisher and listening can read accounts
without an import cycle.
"""

from __future__ import annotations

import logging
import time

from bot.core import cache, vault
from bot.core.channel import AccountInfo
from bot.models import ChannelAccount
from bot.services import inbox
from bot.services.replies import account_info

log = logging.getLogger("switchboard.accounts")
_ACCOUNT_TTL = 5.0
_accounts: dict[int, tuple[float, AccountInfo | None]] = {}


async def channel_account(account_id: int) -> AccountInfo | None:
    """The enabled account with this id. Read on every inbound request and changed rarely,
    so cached for a few seconds (another process's change shows within the TTL)."""
    now = time.monotonic()
    hit = _accounts.get(account_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    account = await ChannelAccount.filter(id=account_id, enabled=True).first()
    info = _opened(account) if account else None
    _accounts[account_id] = (now + _ACCOUNT_TTL, info)
    return info


def _opened(account: ChannelAccount) -> AccountInfo | None:
    """The account with its secrets opened; None (as if disabled, logged) when they were
    sealed under another secret_key."""
    try:
        return account_info(account)
    except vault.SealError:
        log.error("channel account unusable: its secrets were sealed under another "
                  "secret_key", extra={"account": account.id})
        return None


def forget_account(account_id: int) -> None:
    """Drop one cached account (an id probed before it existed was cached as None)."""
    _accounts.pop(account_id, None)


def forget_accounts() -> None:
    """Drop every cached account fact (the database is closing, or another one opens)."""
    _accounts.clear()
    inbox.forget_kinds()
    cache.forget_all()


async def enabled_accounts(kind: str) -> list[AccountInfo]:
    rows = await ChannelAccount.filter(kind=kind, enabled=True).order_by("id")
    return [info for a in rows if (info := _opened(a)) is not None]
