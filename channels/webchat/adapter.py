"""Web chat: a widget page at ``/chat``, an embeddable ``/widget.js``, and a websocket.

A visitor is known by a signed cookie (``sb_v<account>``), so their history survives a
reload. Each message the widget sends carries a client-made id; it becomes the message's
``external_id``, so a resend after a dropped connection is stored once. The server
acknowledges a message only after ``ingest`` has committed it.

Only the shop's own sites may use the socket, and each client address has limits
(:mod:`channels.webchat.guard`). A visitor sends a file with ``POST /chat/upload``
(:mod:`channels.webchat.files`) and sees the files of their conversations (their own,
and those staff attach to replies) at ``/chat/files/<id>``. The account's settings:
``title``, ``greeting`` and ``origins`` (the shop sites, besides ``public_url`` and
``allowed_origins``, whose pages may open the socket and frame the chat).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
from collections import defaultdict
from datetime import datetime
from typing import Any, ClassVar

from aiohttp import WSCloseCode, WSMsgType, web

from bot.core import attachments, csp
from bot.core.auth import same
from bot.core.channel import (
    AccountInfo,
    AccountSetupError,
    ChannelContext,
    ContactInfo,
    InboundMessage,
    OutboundMessage,
    SendResult,
    SettingsForm,
)
from bot.core.clean import db_id, without_nul
from bot.core.events import RelayResumed, SocketPush
from bot.core.i18n import _, lazy
from bot.core.origins import origin_of
from bot.core.outfiles import NO_FILE_LIMITS, FileLimits
from channels.webchat import files
from channels.webchat.guard import Guard

log = logging.getLogger("switchboard.webchat")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_PAYLOAD = re.compile(r"^[a-z_]{1,20}(:[A-Za-z0-9_-]{1,40})?$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]+$")


class WebChat:
    kind: ClassVar[str] = "webchat"
    display_name: ClassVar[str] = "Web chat"
    max_text_length: ClassVar[int] = 5000
    supports_media: ClassVar[bool] = True  # staff's files: shown in the widget
    file_limits: ClassVar[FileLimits] = NO_FILE_LIMITS  # kept here: the shop's own limit
    rate_per_sec: ClassVar[float | None] = None
    settings_form: ClassVar[SettingsForm] = SettingsForm(("origins",))

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.guard = Guard(ctx.settings)
        self._chat_js: str | None = None
        self._sockets: dict[tuple[int, str], set[web.WebSocketResponse]] = defaultdict(set)
        self._all: set[web.WebSocketResponse] = set()
        if ctx.bus is not None:  # a reply delivered by another process, to a socket here
            ctx.bus.subscribe(SocketPush, self._on_push, when=self._holds, everywhere=True)
            # replies pushed by other processes may have been missed: the widgets reconnect
            # and get the visitor's history in their "hello"
            ctx.bus.subscribe(RelayResumed, self._on_resumed, when=lambda _: bool(self._all))

    # --- visitor identity ----------------------------------------------------------------

    def _sig(self, account_id: int, visitor: str) -> str:
        key = self.ctx.settings.secret_key.get().encode()
        return hmac.new(key, f"webchat:{account_id}:{visitor}".encode(),
                        hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def cookie_name(account_id: int) -> str:
        return f"sb_v{account_id}"

    def visitor_of(self, request: web.Request, account_id: int) -> str | None:
        raw = request.cookies.get(self.cookie_name(account_id), "")
        visitor, _, sig = raw.partition(".")
        if visitor and sig and same(sig, self._sig(account_id, visitor)):
            return visitor
        return None

    async def _account(self, request: web.Request) -> AccountInfo:
        raw = request.query.get("account", "")
        account_id = db_id(raw)
        account = await self.ctx.get_account(account_id) if account_id is not None else None
        if account is None or account.kind != self.kind:
            raise web.HTTPNotFound(text=f"no web chat account {raw!r}")
        return account

    # --- routes ----------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/chat", self.page), web.get("/widget.js", self.script),
                web.get("/chat.js", self.script), web.get("/chat/ws", self.websocket),
                web.post("/chat/upload", self.visitor_upload),
                web.get("/chat/files/{aid}", self.visitor_file)]

    async def _visitor(self, request: web.Request, *,
                       origin_required: bool) -> tuple[AccountInfo, str]:
        """The account and the visitor of a request from the widget: 403 if it comes from
        another site's page (checked first) or carries no visitor cookie."""
        account = await self._account(request)
        self.guard.check_origin(request, account, required=origin_required)
        visitor = self.visitor_of(request, account.id)
        if visitor is None:
            raise web.HTTPForbidden(text="open /chat first: no visitor cookie")
        return account, visitor

    def endpoints(self) -> list[Any]:
        return []

    async def page(self, request: web.Request) -> web.Response:
        account = await self._account(request)
        visitor = self.visitor_of(request, account.id)
        html = self.ctx.render("widget/chat.html", {
            "account": account, "embed": request.query.get("embed") == "1",
            "greeting": account.settings["greeting"] if "greeting" in account.settings
            else _("Hi! How can we help you today?"),  # the visitor's language (Accept-Language)
            "title": account.settings.get("title", account.name),
            "max_bytes": self.ctx.settings.attachment_max_bytes,
            "max_mb": files.megabytes(self.ctx.settings.attachment_max_bytes)})
        resp = web.Response(text=html, content_type="text/html")
        # Framed only by this site and the shop's own (their pages hold the widget).
        resp.headers[csp.HEADER] = csp.embeddable_policy(
            self.ctx.settings, sorted(self.guard.origins(account)))
        if visitor is None:
            self.guard.count(self.guard.visitors, request)
            visitor = secrets.token_urlsafe(16)
            secure = bool(self.ctx.settings.cookie_secure)
            # Embedded on a shop's own site the widget is a cross-site iframe: that needs
            # SameSite=None, which browsers accept only on Secure (HTTPS) cookies.
            resp.set_cookie(self.cookie_name(account.id),
                            f"{visitor}.{self._sig(account.id, visitor)}",
                            max_age=365 * 86400, httponly=True, secure=secure,
                            samesite="None" if secure else "Lax", path="/")
        return resp

    async def script(self, request: web.Request) -> web.Response:
        """``/widget.js`` (the shop sites' snippet) or ``/chat.js`` (the /chat page's own
        script: a file, so the page needs no inline script)."""
        if request.path == "/chat.js":
            if self._chat_js is None:
                self._chat_js = self.ctx.render("widget/chat.js", {})
            js = self._chat_js
        else:
            account = await self._account(request)
            js = self.ctx.render("widget/widget.js", {"account": account})
        return web.Response(text=js, content_type="application/javascript",
                            headers={"Cache-Control": "public, max-age=300",
                                     "Vary": "Accept-Language"})  # widget.js's words

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        # Before anything is read with the visitor's cookie: a page of another site opening
        # this socket in the visitor's browser gets 403 (its Origin is not the shop's).
        account, visitor = await self._visitor(request, origin_required=False)
        address = self.guard.socket_opened(request)
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
        key = (account.id, visitor)
        try:
            await ws.prepare(request)
        except BaseException:
            self.guard.socket_closed(address)
            raise
        self._sockets[key].add(ws)
        self._all.add(ws)
        try:
            history = [{**h, "files": [files.view(account.id, f) for f in h.get("files", ())]}
                       for h in await self.ctx.contact_history(account.id, visitor)]
            await ws.send_json({"type": "hello", "history": history,
                                "email_known": any(h.get("email_known") for h in history)},
                               dumps=_dumps)
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                await self._on_frame(ws, account, visitor, frame.data, address)
        finally:
            self.guard.socket_closed(address)
            self._sockets[key].discard(ws)
            if not self._sockets[key]:
                del self._sockets[key]
            self._all.discard(ws)
        return ws

    async def visitor_upload(self, request: web.Request) -> web.Response:
        """One file from the visitor, stored as their message (see channels.webchat.files)."""
        account, visitor = await self._visitor(request, origin_required=True)
        self.guard.count(self.guard.messages, request)
        limit = self.ctx.settings.attachment_max_bytes
        try:
            up = await files.read(request, limit)
            if not _CLIENT_ID.match(up.client_id):
                raise files.bad(_("The upload could not be read."))  # no client_id
            ctype = attachments.sniff(up.data)
            if ctype is None:
                raise files.unsupported()
        except files.Refused as refused:
            return refused.response()
        kind = "image" if ctype in attachments.INLINE_IMAGES else "file"
        stored = await asyncio.to_thread(attachments.store, self.ctx.settings, up.data,
                                         up.file_name, ctype, kind)
        result = await self.ctx.ingest(InboundMessage(
            channel_account_id=account.id, external_id=f"{visitor}:{up.client_id}",
            contact=ContactInfo(external_id=visitor, locale=_locale(up.locale)),
            text="", attachments=(stored,)))
        kept = await self.ctx.message_files(result.message_id)
        return web.json_response(
            {"type": "ack", "client_id": up.client_id, "id": result.message_id,
             "files": [files.view(account.id, f) for f in kept]},
            status=201 if result.created else 200)

    async def visitor_file(self, request: web.Request) -> web.StreamResponse:
        """A file of the visitor's own conversations (theirs, or one staff sent them)."""
        account, visitor = await self._visitor(request, origin_required=False)
        return await files.serve(request, self.ctx.settings, self.ctx.contact_file,
                                 account.id, visitor)

    async def _on_frame(self, ws: web.WebSocketResponse, account: AccountInfo, visitor: str,
                        data: str, address: str) -> None:
        try:
            frame = without_nul(json.loads(data))  # see bot.clean
            kind = frame.get("type")
        except (ValueError, AttributeError):
            await ws.send_json({"type": "error", "message": "frames must be JSON objects"})
            return
        if kind in ("message", "button", "email"):
            wait = self.guard.message_wait(address)
            if wait is not None:
                await ws.send_json({"type": "error", "client_id": frame.get("client_id"),
                                    "retry_after": math.ceil(wait),
                                    "message": "too many messages; wait a moment"})
                return
        if kind in ("message", "button"):
            text = frame.get("text")
            client_id = frame.get("client_id")
            payload = frame.get("payload") if kind == "button" else None
            if kind == "button" and not (isinstance(payload, str) and _PAYLOAD.match(payload)):
                await ws.send_json({"type": "error", "message": "unknown button"})
                return
            if not isinstance(text, str) or not text.strip():
                await ws.send_json({"type": "error", "message": "empty message"})
                return
            if len(text) > self.max_text_length:
                await ws.send_json({"type": "error", "client_id": client_id,
                                    "message": f"at most {self.max_text_length} characters"})
                return
            if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
                await ws.send_json({"type": "error", "message": "client_id is missing"})
                return
            result = await self.ctx.ingest(InboundMessage(
                channel_account_id=account.id, external_id=f"{visitor}:{client_id}",
                contact=ContactInfo(external_id=visitor,
                                    locale=_locale(frame.get("locale"))),
                text=text, payload=payload))
            # Only now, with the message committed, does the widget mark it delivered.
            await ws.send_json({"type": "ack", "client_id": client_id,
                                "id": result.message_id})
        elif kind == "email":
            email = frame.get("email")
            if not isinstance(email, str) or not _EMAIL.match(email.strip()):
                await ws.send_json({"type": "email_error",
                                    "message": "that does not look like an e-mail address"})
                return
            ok = await self.ctx.update_contact(account.id, visitor, {"email": email.strip()})
            await ws.send_json({"type": "email_saved"} if ok else
                               {"type": "email_error", "message": "send a message first"})
        else:
            await ws.send_json({"type": "error", "message": f"unknown frame type {kind!r}"})

    # --- channel protocol ------------------------------------------------------------------

    async def validate_account(self, account: AccountInfo) -> None:
        """Web chat has no remote side to check; its ``origins`` must be origins."""
        for part in str(account.settings.get("origins") or "").replace(",", " ").split():
            if origin_of(part) is None:
                raise AccountSetupError(lazy("settings.origins: %(origin)r is not an origin "
                                             "like https://shop.example", origin=part[:100]))

    async def send(self, message: OutboundMessage) -> SendResult:
        """Push to the visitor's open widgets, here and (through the bus) in the other
        processes. Offline visitors see it in their history."""
        key = (message.account.id, message.contact_external_id)
        await self._push(key, _frame(message.message_id, message.text, message.created_at,
                                     [{"label": b.label, "payload": b.payload}
                                      for b in message.buttons],
                                     [files.view(key[0], f) for f in message.files]))
        if self.ctx.bus is not None:  # the other processes: their own sockets, not ours
            self.ctx.bus.publish(SocketPush(self.kind, key[0], key[1], message.message_id),
                                 here=False)
        return SendResult()

    def _holds(self, ev: SocketPush) -> bool:
        return ev.channel_kind == self.kind and (ev.account_id, ev.contact) in self._sockets

    async def _on_push(self, ev: SocketPush) -> None:
        row = await self.ctx.load_message(ev.message_id)
        if row is None or row["direction"] != "out":
            return
        await self._push((ev.account_id, ev.contact),
                         _frame(row["id"], row["text"], row["created_at"], row["buttons"],
                                [files.view(ev.account_id, f) for f in row.get("files", ())]))

    async def _push(self, key: tuple[int, str], payload: dict[str, Any]) -> None:
        sockets = list(self._sockets.get(key, ()))
        await asyncio.gather(*(ws.send_json(payload) for ws in sockets if not ws.closed),
                             return_exceptions=True)

    async def _on_resumed(self, _: RelayResumed) -> None:
        for ws in list(self._all):
            await ws.close(code=WSCloseCode.SERVICE_RESTART, message=b"catch up")

    async def close_all(self) -> None:
        for ws in list(self._all):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def _frame(message_id: int, text: str, created_at: datetime, buttons: list[dict[str, str]],
           attached: list[dict[str, Any]]) -> dict[str, Any]:
    """An outbound message as the widget shows it (one shape, whichever process sends)."""
    return {"type": "message", "id": message_id, "direction": "out", "text": text,
            "created_at": created_at.isoformat(), "files": attached,
            "buttons": [{"label": b["label"], "payload": b["payload"]} for b in buttons]}


def _locale(value: Any) -> str | None:
    if isinstance(value, str) and re.match(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$", value):
        return value
    return None


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=lambda o: o.isoformat() if hasattr(o, "isoformat") else str(o))
