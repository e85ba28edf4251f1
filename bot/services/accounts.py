"""Channel accounts: add (the adapter checks them first), change, list, and show them with
their secrets masked. Shared by the REST API, the staff pages and the CLI.

Which settings an account takes and which are secret is declared on each adapter
(``settings_form``); nothing here names a channel. Secrets are sealed at rest
(:mod:`bot.core.vault`): the account's ``secret`` and every secret setting, on every save
and, for rows stored before sealing, once at start-up (:func:`seal_stored`); they are
opened only where used (``account_info``). A change of where an account connects to (a
host, port, TLS flag or URL) needs its secrets typed again: the stored ones never go to
a new destination (:func:`update_channel`). The cached look-ups read on every
inbound message live in :mod:`bot.services.account_cache`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
from collections.abc import Mapping
from typing import Any

from bot.core import vault
from bot.core.channel import AccountSetupError, ChannelAdapter, settings_form
from bot.core.errors import InboxError, NotFound
from bot.core.i18n import lazy
from bot.core.outbound import check_url
from bot.models import ChannelAccount
from bot.services.account_cache import forget_account, forget_accounts
from bot.services.notify import MODES as STAFF_MODES
from bot.services.notify import check_settings as check_staff_settings
from bot.services.replies import account_info

Adapters = Mapping[str, ChannelAdapter]


ALWAYS_SECRET = frozenset({"password"})
# settings that say where an account connects to (imap_host, smtp_port, imap_tls,
# api_base_url, google_api_url, …): a change sends the secrets somewhere new
DESTINATION = re.compile(r"(host|port|tls|ssl|url|server|endpoint)$", re.IGNORECASE)
log = logging.getLogger("switchboard.accounts")


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
            "settings": masked_settings(vault.unseal_settings(a.settings, broken="…"),
                                        secret_settings(adapters)),
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
                      callback_url: str = "", settings: dict[str, Any] | None = None, *,
                      allow_private: bool = False) -> dict[str, Any]:
    """Create a channel account after the adapter has checked it ("test before setup").

    Returns the account with its generated secret, which is shown only this once.
    """
    adapter = adapters.get(kind)
    if adapter is None:
        raise InboxError(lazy("unknown channel kind %(kind)r; known: %(known)s", kind=kind,
                              known=", ".join(sorted(adapters))), "unknown_channel", "kind")
    _refuse_sealed(settings)
    plain = secrets.token_hex(32)
    account = ChannelAccount(kind=kind, name=name, callback_url=callback_url,
                             settings=settings or {}, secret=plain)
    _check_urls(account, allow_private)
    await _validate(adapter, account)
    _seal(account, adapters)
    await account.save()
    forget_account(account.id)  # an id probed before it existed was cached as None
    return {**channel_out(account, adapters), "secret": plain}


def _seal(account: ChannelAccount, adapters: Adapters) -> None:
    account.secret = vault.seal(account.secret)
    account.settings = vault.seal_settings(account.settings, secret_settings(adapters))


async def seal_stored(adapters: Adapters) -> int:
    """Seal every account's secrets still stored in the clear (rows from before sealing;
    a row inserted by hand). Run at start-up; returns how many accounts changed. Each
    account's secrets are opened once here too, so the logs know them all from the start
    (:func:`bot.core.logs.add_secret`), used in this process or not."""
    changed = 0
    for account in await ChannelAccount.all().order_by("id"):
        before = (account.secret, dict(account.settings or {}))
        vault.unseal_settings(account.settings, broken="")
        with contextlib.suppress(vault.SealError):
            vault.unseal(account.secret)
        _seal(account, adapters)
        if (account.secret, account.settings) != before:
            await account.save(update_fields=["secret", "settings"])
            changed += 1
    if changed:
        log.info("channel secrets sealed", extra={"accounts": changed})
        forget_accounts()
    return changed


def _check_urls(account: ChannelAccount, allow_private: bool) -> None:
    """Every URL typed into an account (its callback URL, any ``*_url`` setting) must be one
    the outbound policy may fetch: a clear 422 when it is saved, not a refusal at the first
    fetch (``allow_private``: settings.allow_private_urls)."""
    if account.callback_url:
        account.callback_url = check_url(account.callback_url, allow_private=allow_private,
                                         field="callback_url")
    for key, value in (account.settings or {}).items():
        if key.endswith("_url") and isinstance(value, str) and value:
            account.settings[key] = check_url(value, allow_private=allow_private,
                                              field=f"settings.{key}")


async def _validate(adapter: ChannelAdapter, account: ChannelAccount) -> None:
    problem = check_staff_settings(account.settings or {})
    if problem:
        raise InboxError(problem, "invalid_settings", "settings")
    try:
        await adapter.validate_account(account_info(account))
    except AccountSetupError as exc:
        raise InboxError(lazy("%(channel)s account not enabled: %(reason)s",
                              channel=adapter.display_name, reason=exc), exc.code) from exc


async def update_channel(adapters: Adapters, account_id: int,
                         changes: Mapping[str, Any], *, allow_private: bool = False
                         ) -> ChannelAccount:
    """Change an account's name, callback URL, settings (merged; a masked secret sent
    back as shown keeps the stored one; null removes a key) or enabled flag. The adapter
    checks the result again before it is saved; running adapters pick it up."""
    account = await ChannelAccount.filter(id=account_id).first()
    if account is None:
        raise NotFound("channel account", "channel_id")
    adapter = adapters.get(account.kind)
    if adapter is None:
        raise InboxError(lazy("channel %(kind)r is not available", kind=account.kind),
                         "unknown_channel")
    try:
        vault.unseal(account.secret)
    except vault.SealError:
        raise InboxError(lazy("this account's signing secret was sealed under another "
                         "secret_key; restore that key, or add the account again"),
                         "secret_unreadable") from None
    _refuse_sealed(changes.get("settings"))
    secret = secret_settings(adapters)
    stored = vault.unseal_settings(account.settings, broken="")  # after a key change
    settings = dict(stored)
    for key, value in (changes.get("settings") or {}).items():
        if value is None:
            settings.pop(key, None)
        elif not (key in secret and is_masked(value)):  # never store the masked form
            settings[key] = value
    _secrets_retyped(stored, settings, changes, account.callback_url, secret)
    account.settings = settings
    for key in ("name", "callback_url", "enabled"):
        if changes.get(key) is not None:
            setattr(account, key, changes[key])
    _check_urls(account, allow_private)
    if account.enabled:
        await _validate(adapter, account)
    _seal(account, adapters)
    await account.save()
    forget_accounts()
    return account


def _set(value: Any) -> Any:
    return None if value == "" else value


def _refuse_sealed(settings: Mapping[str, Any] | None) -> None:
    """Refuse a setting typed in (API, form, CLI) that is already a sealed value: pasted
    from a backup, it would be opened as this server's own secret and sent to whatever
    destination the same change names. Only this service's own code stores sealed
    values (:func:`_seal`, :func:`seal_stored`)."""
    def sealed(value: Any) -> bool:
        if isinstance(value, Mapping):
            return any(sealed(v) for v in value.values())
        if isinstance(value, list | tuple):
            return any(sealed(v) for v in value)
        return isinstance(value, str) and value.strip().startswith(vault.PREFIX)
    for key, value in (settings or {}).items():
        if sealed(value):
            raise InboxError(
                f"{key} looks like a sealed secret ({vault.PREFIX}…); enter the plain "
                f"value instead (sealed values are only made by the server)",
                "sealed_value", f"settings.{key}")


def _secrets_retyped(stored: Mapping[str, Any], settings: Mapping[str, Any],
                     changes: Mapping[str, Any], callback_url: str,
                     secret: frozenset[str]) -> None:
    """Refuse a change of destination (a host, port, TLS flag or URL setting, or the
    callback URL) that would send a stored secret there: each secret the account keeps
    must be typed anew (not sent back masked, not left out) in the same change."""
    moved = [k for k in stored.keys() | settings.keys()  # "" and unset are the same
             if DESTINATION.search(k) and _set(stored.get(k)) != _set(settings.get(k))]
    if changes.get("callback_url") is not None and changes["callback_url"] != callback_url:
        moved.append("callback_url")
    if not moved:
        return
    typed = changes.get("settings") or {}
    for key in sorted(secret & stored.keys()):
        if stored[key] and settings.get(key) and (
                key not in typed or is_masked(typed[key]) or typed[key] == ""):
            raise InboxError(
                f"{key} must be entered again when {', '.join(sorted(moved))} changes "
                f"(a stored secret is never sent to a new destination)",
                "secret_required", f"settings.{key}")


async def set_staff_chat(account_id: int, chat_id: str, mode: str) -> ChannelAccount:
    """Make ``chat_id`` on this account the staff chat, notified of ``mode`` (one of
    :data:`bot.services.notify.MODES`). This process sees it at once, others within the
    account cache's few seconds."""
    if mode not in STAFF_MODES:
        raise InboxError(lazy("choose one of %(choices)s", choices=", ".join(STAFF_MODES)))
    account = await ChannelAccount.filter(id=account_id).first()
    if account is None:
        raise NotFound("channel account", "channel_id")
    account.settings = {**(account.settings or {}), "staff_chat_id": chat_id,  # still sealed
                        "staff_notify": mode}
    await account.save(update_fields=["settings"])
    forget_accounts()
    return account
