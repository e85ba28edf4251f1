"""Channel accounts: add (the adapter checks them first), change, list, and show them with
their secrets masked. Shared by the REST API, the staff pages and the CLI.

Which settings an account takes and which are secret is declared on each adapter
(``settings_form``); nothing here names a channel. The cached look-ups read on every
inbound message live in :mod:`bot.services.account_cache`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from bot.core.channel import AccountSetupError, ChannelAdapter, settings_form
from bot.core.errors import InboxError, NotFound
from bot.models import ChannelAccount
from bot.services.account_cache import forget_account, forget_accounts
from bot.services.notify import MODES as STAFF_MODES
from bot.services.notify import check_settings as check_staff_settings
from bot.services.replies import account_info

Adapters = Mapping[str, ChannelAdapter]


ALWAYS_SECRET = frozenset({"password"})


def secret_settings(adapters: Adapters) -> frozenset[str]:
    """The settings never shown back in full, on an account of any kind: every channel's
    declared secrets and ``password`` (a webchat or api account may hold a key another
    channel calls secret, and it is masked there too)."""
    return ALWAYS_SECRET | {s for a in adapters.values() for s in settings_form(a).secret}


def is_masked(value: Any) -> bool:
    """Whether ``value`` is a secret as :func:`masked_settings` shows it."""
    return isinstance(value, str) and value.startswith("…")


def masked_settings(settings: Mapping[str, Any] | None, secret: frozenset[str]
                    ) -> dict[str, Any]:
    return {k: (_mask(str(v)) if k in secret and v else v) for k, v in (settings or {}).items()}


def _mask(value: str) -> str:
    """The last four characters of a long secret (to tell two apart); none of a short one."""
    return f"…{value[-4:]}" if len(value) > 8 else "…"


def channel_out(a: ChannelAccount, adapters: Adapters) -> dict[str, Any]:
    return {"id": a.id, "kind": a.kind, "name": a.name, "callback_url": a.callback_url,
            "settings": masked_settings(a.settings, secret_settings(adapters)),
            "enabled": a.enabled, "created_at": a.created_at}


async def list_channels() -> list[ChannelAccount]:
    return await ChannelAccount.all().order_by("id")


async def channel_kinds() -> list[str]:
    """The kinds of the accounts there are (for the inbox's filter)."""
    return sorted({a.kind for a in await ChannelAccount.all()})


async def kind_of_account(account_id: int) -> str | None:
    """The kind of the account with this id (any account, enabled or not; read afresh), or
    None when there is none."""
    account = await ChannelAccount.filter(id=account_id).first()
    return account.kind if account else None


async def add_channel(adapters: Adapters, kind: str, name: str,
                      callback_url: str = "", settings: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
    """Create a channel account after the adapter has checked it ("test before setup").

    Returns the account with its generated secret, which is shown only this once.
    """
    adapter = adapters.get(kind)
    if adapter is None:
        raise InboxError(f"unknown channel kind {kind!r}; known: {', '.join(sorted(adapters))}",
                         "unknown_channel", "kind")
    account = ChannelAccount(kind=kind, name=name, callback_url=callback_url,
                             settings=settings or {}, secret=secrets.token_hex(32))
    await _validate(adapter, account)
    await account.save()
    forget_account(account.id)  # an id probed before it existed was cached as None
    return {**channel_out(account, adapters), "secret": account.secret}


async def _validate(adapter: ChannelAdapter, account: ChannelAccount) -> None:
    problem = check_staff_settings(account.settings or {})
    if problem:
        raise InboxError(problem, "invalid_settings", "settings")
    try:
        await adapter.validate_account(account_info(account))
    except AccountSetupError as exc:
        raise InboxError(f"{adapter.display_name} account not enabled: {exc}",
                         exc.code) from exc


async def update_channel(adapters: Adapters, account_id: int,
                         changes: Mapping[str, Any]) -> ChannelAccount:
    """Change an account's name, callback URL, settings (merged; a masked secret sent
    back as shown keeps the stored one; null removes a key) or enabled flag. The adapter
    checks the result again before it is saved; running adapters pick it up."""
    account = await ChannelAccount.filter(id=account_id).first()
    if account is None:
        raise NotFound("channel account", "channel_id")
    adapter = adapters.get(account.kind)
    if adapter is None:
        raise InboxError(f"channel {account.kind!r} is not available", "unknown_channel")
    secret = secret_settings(adapters)
    settings = dict(account.settings or {})
    for key, value in (changes.get("settings") or {}).items():
        if value is None:
            settings.pop(key, None)
        elif not (key in secret and is_masked(value)):  # never store the masked form
            settings[key] = value
    account.settings = settings
    for key in ("name", "callback_url", "enabled"):
        if changes.get(key) is not None:
            setattr(account, key, changes[key])
    if account.enabled:
        await _validate(adapter, account)
    await account.save()
    forget_accounts()
    return account


async def set_staff_chat(account_id: int, chat_id: str, mode: str) -> ChannelAccount:
    """Make ``chat_id`` on this account the staff chat, notified of ``mode`` (one of
    :data:`bot.services.notify.MODES`). This process sees it at once, others within the
    account cache's few seconds."""
    if mode not in STAFF_MODES:
        raise InboxError(f"choose one of {', '.join(STAFF_MODES)}")
    account = await ChannelAccount.filter(id=account_id).first()
    if account is None:
        raise NotFound("channel account", "channel_id")
    account.settings = {**(account.settings or {}), "staff_chat_id": chat_id,
                        "staff_notify": mode}
    await account.save(update_fields=["settings"])
    forget_accounts()
    return account
