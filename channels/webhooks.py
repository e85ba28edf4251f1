"""What every webhook entry point does first: find the account named in the path (and,
for Switchboard's own signed endpoints, check the body's signature with its secret)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.core.channel import AccountInfo, ChannelContext
from bot.core.clean import db_id
from bot.core.http import ApiError
from channels.signing import HEADER, verify


async def account_from_path(ctx: ChannelContext, request: web.Request, kind: str,
                            label: str) -> AccountInfo:
    """The enabled ``kind`` account whose id is ``{account_id}`` in the path, else 404."""
    return await account_by_path(ctx.get_account, request, kind, label)


async def account_by_path(get_account: Callable[[int], Awaitable[AccountInfo | None]],
                          request: web.Request, kind: str, label: str) -> AccountInfo:
    raw_id = request.match_info["account_id"]
    account_id = db_id(raw_id)
    account = await get_account(account_id) if account_id is not None else None
    if account is None or account.kind != kind:
        raise ApiError(404, "unknown_account", f"no {label} account {raw_id!r}", "account_id")
    return account


async def signed_by_api_account(get_account: Callable[[int], Awaitable[AccountInfo | None]],
                                request: web.Request, raw: bytes) -> AccountInfo:
    """The API-channel account in the path, once ``X-Switchboard-Signature`` proves the
    body was signed with its secret (else 404 / 403): the API channel's inbound route and
    the mention and review endpoints share it."""
    account = await account_by_path(get_account, request, "api", "API channel")
    if not verify(account.secret, raw, request.headers.get(HEADER)):
        raise ApiError(403, "bad_signature",
                       f"{HEADER} must be sha256=<hex HMAC-SHA256 of the body>")
    return account
