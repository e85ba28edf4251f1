"""The check of the signed entry points (posted mentions, review webhooks): an
API-channel account's secret, as for ``POST /api/v1/inbound/{account_id}``."""

from __future__ import annotations

from aiohttp import web

from bot.services.account_cache import channel_account
from channels.webhooks import signed_by_api_account

ACCOUNT_ID = web.RequestKey("listening_account", int)


async def check_signature(request: web.Request, raw: bytes) -> None:
    request[ACCOUNT_ID] = (await signed_by_api_account(channel_account, request, raw)).id
