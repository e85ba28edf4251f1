"""What every webhook entry point does first: find the account named in the path."""

from __future__ import annotations

from aiohttp import web

from bot.api.routing import ApiError
from channels.base import AccountInfo, ChannelContext


async def account_from_path(ctx: ChannelContext, request: web.Request, kind: str,
                            label: str) -> AccountInfo:
    """The enabled ``kind`` account whose id is ``{account_id}`` in the path, else 404."""
    raw_id = request.match_info["account_id"]
    account = await ctx.get_account(int(raw_id)) if raw_id.isdigit() else None
    if account is None or account.kind != kind:
        raise ApiError(404, "unknown_account", f"no {label} account {raw_id!r}", "account_id")
    return account
