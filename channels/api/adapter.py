"""The API channel: any system posts signed JSON in, staff replies are POSTed back signed."""

from __future__ import annotations

from typing import ClassVar

from aiohttp import web

from bot.core.channel import (
    AccountInfo,
    ChannelContext,
    DeliveryError,
    OutboundMessage,
    PermanentDeliveryError,
    SendResult,
    SettingsForm,
)
from bot.core.http import Call, Endpoint, json_out
from bot.core.outfiles import NO_FILE_LIMITS, FileLimits
from channels.api.client import CallbackError, post_signed
from channels.api.parse import InboundAccepted, InboundBody, callback_payload
from channels.webhooks import signed_by_api_account

ACCOUNT = web.RequestKey("api_account", AccountInfo)


class ApiChannel:
    kind: ClassVar[str] = "api"
    display_name: ClassVar[str] = "API channel"
    max_text_length: ClassVar[int] = 20000
    supports_media: ClassVar[bool] = False
    file_limits: ClassVar[FileLimits] = NO_FILE_LIMITS
    rate_per_sec: ClassVar[float | None] = None
    # No form fields of its own; a shop's Google reviews are answered with an API account's
    # google_api_url and google_access_token settings (listening.reviews): a secret.
    settings_form: ClassVar[SettingsForm] = SettingsForm(secret=("google_access_token",))

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[web.RouteDef]:
        return []

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint(
            "POST", "/api/v1/inbound/{account_id}", self.inbound,
            "Post a customer message into the inbox through an API channel account",
            "API channel", perm=None, body=InboundBody, response=InboundAccepted, status=202,
            raw_check=self._check_signature, security="signature",
            responses={202: "stored", 200: "already stored (same external_id)",
                       403: "bad or missing signature", 404: "unknown account"})]

    async def _check_signature(self, request: web.Request, raw: bytes) -> None:
        request[ACCOUNT] = await signed_by_api_account(self.ctx.get_account, request, raw)

    async def inbound(self, call: Call) -> web.StreamResponse:
        account: AccountInfo = call.request[ACCOUNT]
        result = await self.ctx.ingest(call.body.to_inbound(account.id))
        out = InboundAccepted(id=result.message_id, conversation_id=result.conversation_id,
                              duplicate=not result.created)
        return json_out(out, 202 if result.created else 200)

    async def validate_account(self, account: AccountInfo) -> None:
        """API accounts have no remote credentials to test; the callback is optional."""

    async def send(self, message: OutboundMessage) -> SendResult:
        account = message.account
        if not account.callback_url:
            raise PermanentDeliveryError("this API account has no callback URL")
        try:
            await post_signed(self.ctx.http, account.callback_url, account.secret,
                              callback_payload(message),
                              self.ctx.settings.outbound_timeout_seconds,
                              {"X-Switchboard-Message-Id": str(message.message_id)})
        except CallbackError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (
                    408, 409, 425, 429):
                raise PermanentDeliveryError(exc.reason) from exc
            raise DeliveryError(exc.reason, exc.retry_after) from exc
        return SendResult()
