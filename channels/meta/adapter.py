"""Facebook Pages and Instagram business accounts: Messenger / Instagram DMs and comments
into the inbox, replies back, and marketing posts out, all through the Graph API.

Account settings: ``page_id`` (Facebook) or ``ig_user_id`` (Instagram), ``access_token``
(a Page access token), ``app_secret`` (Meta signs webhooks with it) and optionally
``api_base_url`` (else ``SWITCHBOARD_GRAPH_API_URL``). Meta's webhook setup asks for a
callback URL and a verify token: the URL is ``/api/v1/<kind>/<account id>/webhook`` and
the verify token is the account's secret, shown once when the account is created.

Publishing (``publish``): Facebook text goes to ``/{page}/feed``; one image to
``/{page}/photos`` (url + message); several are uploaded unpublished and attached to one
feed post. Instagram is create-then-publish: a media container (``/{ig}/media``, a
carousel for several images), wait until Meta has fetched the image, then
``/{ig}/media_publish``. Only that last call makes anything visible, so a failure before
it leaves nothing behind to duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import Any, ClassVar
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.core.auth import same
from bot.core.channel import (
    AccountInfo,
    AccountSetupError,
    CannotConnect,
    ChannelContext,
    ChannelError,
    DeliveryError,
    InvalidAuth,
    OutboundMessage,
    PermanentDeliveryError,
    Publishing,
    SendResult,
    SettingsForm,
)
from bot.core.http import ApiError, Call, Endpoint, json_out
from bot.core.i18n import N_, lazy
from bot.core.outfiles import TEXT_PART, FileLimits
from bot.core.said import Said
from channels.meta import files, outfiles
from channels.meta.graph import DEFAULT_API, TOKEN_CODES, Graph, GraphError, failure
from channels.meta.parse import parse_webhook
from channels.signing import verify
from channels.webhooks import account_from_path

log = logging.getLogger("switchboard.meta")
SIGNATURE_HEADER = "X-Hub-Signature-256"
ACCOUNT = web.RequestKey("meta_account", AccountInfo)
QUICK_REPLIES = 13  # Messenger shows at most 13 quick replies, titles up to 20 characters
CONTAINER_POLLS = 30  # Instagram: checks (1 s apart) for Meta to fetch a container's image
SECRETS = ("access_token", "app_secret")  # settings never shown back


class WebhookBody(BaseModel):
    """A Meta webhook batch; ``object`` and ``entry`` are Meta's, the rest is theirs to add."""

    model_config = ConfigDict(extra="allow")
    object: str
    entry: list[dict[str, Any]] = Field(default_factory=list)


class WebhookAnswer(BaseModel):
    stored: int


class VerifyQuery(BaseModel):
    """Meta's subscription check: ``hub.mode=subscribe``, the verify token, a challenge."""

    model_config = ConfigDict(populate_by_name=True)
    mode: str = Field("", alias="hub.mode")
    verify_token: str = Field("", alias="hub.verify_token")
    challenge: str = Field("", alias="hub.challenge", max_length=200)


class MetaChannel(ABC):
    """What Facebook and Instagram share; the subclasses name the node and the edges."""

    kind: ClassVar[str]
    display_name: ClassVar[str]
    max_text_length: ClassVar[int]
    supports_media: ClassVar[bool] = True
    # The Send API takes an uploaded attachment of at most 25 MB.
    file_limits: ClassVar[FileLimits] = FileLimits(per_file=25_000_000)
    rate_per_sec: ClassVar[float | None] = 10.0
    id_setting: ClassVar[str]
    webhook_object: ClassVar[str]
    reply_edge: ClassVar[str]  # where an answer to a comment goes: /{comment}/<edge>

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx

    # --- configuration -----------------------------------------------------------------

    def own_id(self, account: AccountInfo) -> str:
        return str((account.settings or {}).get(self.id_setting) or "").strip()

    def graph(self, account: AccountInfo) -> Graph:
        s = account.settings or {}
        base = str(s.get("api_base_url") or getattr(self.ctx.settings, "graph_api_url", "")
                   or DEFAULT_API)
        return Graph(self.ctx.http, base, str(s.get("access_token") or ""))

    async def validate_account(self, account: AccountInfo) -> None:
        """Read the page or Instagram account with the token before enabling it."""
        s = account.settings or {}
        own = self.own_id(account)
        if not (own.isascii() and own.isdigit()):  # not '²', which isdigit() takes
            raise AccountSetupError(lazy("settings.%(setting)s must be the numeric id of the "
                                         "%(channel)s account", setting=self.id_setting,
                                         channel=self.display_name))
        if not s.get("access_token"):
            raise InvalidAuth(lazy("settings.access_token is missing (a Page access token)"))
        if not s.get("app_secret"):
            raise AccountSetupError(lazy("settings.app_secret is missing (the Meta app's "
                                         "secret, which signs webhooks)"))
        graph = self.graph(account)
        parts = urlsplit(graph.base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise AccountSetupError(lazy("the Graph API URL is not an http(s) URL: %(url)r",
                                         url=graph.base))
        try:
            me = await graph.get(own, fields="id,name,username")
        except GraphError as exc:
            if exc.code in TOKEN_CODES:
                raise InvalidAuth(lazy("Meta rejected the access token: %(reason)s",
                                       reason=exc)) from exc
            raise AccountSetupError(lazy("Meta refused to show %(channel)s account %(id)s: "
                                         "%(reason)s", channel=self.display_name, id=own,
                                         reason=exc)) from exc
        except ChannelError as exc:
            raise CannotConnect(str(exc)) from exc
        log.info("meta account checked", extra={"kind": self.kind, "id": me.get("id")})

    # --- inbound -----------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return []

    def endpoints(self) -> list[Endpoint]:
        path = f"/api/v1/{self.kind}/{{account_id}}/webhook"

        async def receive(call: Call) -> web.StreamResponse:
            return await self.webhook(call)

        async def subscribe(call: Call) -> web.StreamResponse:
            return await self.verify_subscription(call)

        receive.__name__ = f"{self.kind}_webhook"
        subscribe.__name__ = f"{self.kind}_webhook_verify"
        return [
            Endpoint("POST", path, receive,
                     f"{self.display_name} webhook: Meta posts messages and comments here",
                     self.display_name, perm=None, body=WebhookBody, response=WebhookAnswer,
                     raw_check=self._check_signature, security="signature",
                     responses={200: "stored (or already stored)",
                                403: f"{SIGNATURE_HEADER} missing or wrong",
                                404: "unknown account"}),
            Endpoint("GET", path, subscribe,
                     f"{self.display_name} webhook check: answers Meta's hub.challenge "
                     f"when hub.verify_token is the account's secret",
                     self.display_name, perm=None, query=VerifyQuery, security="none",
                     responses={200: "the challenge, as plain text",
                                403: "wrong verify token", 404: "unknown account"}),
        ]

    async def _check_signature(self, request: web.Request, raw: bytes) -> None:
        account = await account_from_path(self.ctx, request, self.kind, self.display_name)
        secret = str((account.settings or {}).get("app_secret") or "")
        if not secret or not verify(secret, raw, request.headers.get(SIGNATURE_HEADER)):
            raise ApiError(403, "bad_signature",
                           f"{SIGNATURE_HEADER} is not sha256=HMAC(app secret, body)")
        request[ACCOUNT] = account

    async def verify_subscription(self, call: Call) -> web.StreamResponse:
        account = await account_from_path(self.ctx, call.request, self.kind, self.display_name)
        q: VerifyQuery = call.query
        if q.mode != "subscribe" or not same(q.verify_token, account.secret):
            raise ApiError(403, "bad_verify_token",
                           "hub.verify_token is not this account's secret")
        return web.Response(text=q.challenge, content_type="text/plain")

    async def webhook(self, call: Call) -> web.StreamResponse:
        """Store every message of the batch (its files fetched first: channels.meta.files),
        then answer: Meta redelivers a batch that was not acknowledged, and the message ids
        make that harmless."""
        account: AccountInfo = call.request[ACCOUNT]
        body: WebhookBody = call.body
        if body.object != self.webhook_object:
            raise ApiError(422, "wrong_object", f"this is the {self.display_name} webhook; "
                           f"object {body.object!r} belongs elsewhere", "object")
        stored = 0
        for msg in parse_webhook(account.id, self.own_id(account), body.model_dump()):
            await self.ctx.ingest(await files.keep(self.ctx, msg))
            stored += 1
        return json_out(WebhookAnswer(stored=stored))

    # --- outbound ----------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        """A comment gets a public answer under it; a direct message a reply by the Send
        API (with quick replies for the bot's buttons)."""
        account = message.account
        graph = self.graph(account)
        try:
            if message.reply_to_external_id and message.thread_id:
                out = await graph.post(f"{message.reply_to_external_id}/{self.reply_edge}",
                                       message=message.text)
                return SendResult(external_id=str(out.get("id") or "") or None)
            if not message.contact_external_id or message.contact_external_id.startswith(
                    "post:"):
                raise PermanentDeliveryError(Said(N_(
                    "this contact has no %(network)s conversation to answer in"),
                    network=self.display_name))
            body: dict[str, Any] = {"text": message.text}
            if message.buttons:
                body["quick_replies"] = [
                    {"content_type": "text", "title": b.label[:20], "payload": b.payload}
                    for b in message.buttons[:QUICK_REPLIES]]
            node = f"{self.own_id(account)}/messages"

            async def text() -> str:
                out = await graph.post(node, recipient={"id": message.contact_external_id},
                                       messaging_type="RESPONSE", message=body)
                return str(out.get("message_id") or "")
            first = await message.parts.once(TEXT_PART, text) if message.text.strip() \
                else None
            last_file = await outfiles.send_files(graph, node, message)
        except GraphError as exc:
            raise failure(exc, self.display_name) from exc
        return SendResult(external_id=first or last_file or None)

    async def publish(self, account: AccountInfo, target: str, text: str,
                      media: list[dict[str, Any]]) -> str:
        try:
            return await self._publish(self.graph(account), target or self.own_id(account),
                                       text, [str(m["url"]) for m in media])
        except GraphError as exc:
            raise failure(exc, self.display_name) from exc

    @abstractmethod
    async def _publish(self, graph: Graph, node: str, text: str, urls: list[str]) -> str:
        """Publish on this network; the network's id of the post."""


class FacebookChannel(MetaChannel):
    kind: ClassVar[str] = "facebook"
    settings_form: ClassVar[SettingsForm] = SettingsForm(
        ("page_id", "access_token", "app_secret", "api_base_url"), SECRETS)
    display_name: ClassVar[str] = "Facebook"
    max_text_length: ClassVar[int] = 2000  # Messenger's limit for one text message
    id_setting: ClassVar[str] = "page_id"
    webhook_object: ClassVar[str] = "page"
    reply_edge: ClassVar[str] = "comments"
    publishing: ClassVar[Publishing] = Publishing(
        "facebook", "Facebook", target_setting="page_id", target_hint="Page id",
        tags=("fb", "facebook"), text=63206)

    async def _publish(self, graph: Graph, node: str, text: str, urls: list[str]) -> str:
        if not urls:
            return str((await graph.post(f"{node}/feed", message=text))["id"])
        if len(urls) == 1:
            out = await graph.post(f"{node}/photos", url=urls[0], message=text or None)
            return str(out.get("post_id") or out["id"])
        # Several images: upload each unpublished (invisible), then one feed post.
        ids = [str((await graph.post(f"{node}/photos", url=u, published=False))["id"])
               for u in urls]
        out = await graph.post(f"{node}/feed", message=text or None,
                               attached_media=[{"media_fbid": i} for i in ids])
        return str(out["id"])


class InstagramChannel(MetaChannel):
    kind: ClassVar[str] = "instagram"
    settings_form: ClassVar[SettingsForm] = SettingsForm(
        ("ig_user_id", "access_token", "app_secret", "api_base_url"), SECRETS)
    display_name: ClassVar[str] = "Instagram"
    max_text_length: ClassVar[int] = 1000  # Instagram direct messages
    id_setting: ClassVar[str] = "ig_user_id"
    webhook_object: ClassVar[str] = "instagram"
    reply_edge: ClassVar[str] = "replies"
    publishing: ClassVar[Publishing] = Publishing(
        "instagram", "Instagram", target_setting="ig_user_id",
        target_hint="Instagram account id", tags=("ig", "instagram"), text=2200,
        caption=2200, needs_media=True, hashtags=30)

    async def _publish(self, graph: Graph, node: str, text: str, urls: list[str]) -> str:
        if not urls:
            raise PermanentDeliveryError(Said(N_("Instagram posts need at least one image")))
        if len(urls) == 1:
            container = str((await graph.post(f"{node}/media", image_url=urls[0],
                                              caption=text))["id"])
        else:
            children = [str((await graph.post(f"{node}/media", image_url=u,
                                              is_carousel_item=True))["id"]) for u in urls]
            for child in children:
                await self._ready(graph, child)
            container = str((await graph.post(f"{node}/media", media_type="CAROUSEL",
                                              children=",".join(children),
                                              caption=text))["id"])
        await self._ready(graph, container)
        return str((await graph.post(f"{node}/media_publish", creation_id=container))["id"])

    async def _ready(self, graph: Graph, container: str) -> None:
        """Wait until Meta has fetched and processed the container's image."""
        for _ in range(CONTAINER_POLLS):
            status = str((await graph.get(container, fields="status_code")).get(
                "status_code") or "FINISHED")
            if status == "FINISHED":
                return
            if status in ("ERROR", "EXPIRED"):
                raise PermanentDeliveryError(Said(N_(
                    "Instagram could not use the image (container %(container)s is "
                    "%(status)s); check the image URL is public and a JPEG"),
                    container=container, status=status))
            await asyncio.sleep(1.0)
        raise DeliveryError(Said(N_("Instagram was still processing container %(container)s "
                                    "after %(seconds)s s"), container=container,
                                 seconds=CONTAINER_POLLS))
