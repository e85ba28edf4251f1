"""A local fake of Meta's Graph API, over real HTTP, for tests.

It speaks the wire format Switchboard uses: ``/{version}/{node}`` and
``/{version}/{node}/{edge}``, parameters as a query string (GET) or a form (POST) with
``access_token`` among them, JSON answers, and errors as ``{"error": {"message", "type",
"code", "error_subcode"?, "fbtrace_id"}}``. It knows Pages (feed, photos, messages),
Instagram accounts (media containers, media_publish, messages) and comments (comments,
replies), keeps what was published and sent, and can be told to fail.

It also builds webhook bodies as Meta sends them, signed with the app secret.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from channels.signing import sign

VERSION = "v21.0"


@dataclass
class Failure:
    edge: str  # "feed", "photos", "media", "media_publish", "messages", ...
    status: int  # HTTP status
    code: int  # Graph error code (4, 17, 32, 613: rate limits; 1, 2: transient; 190: token)
    times: int = 1


@dataclass
class Account:
    id: str
    token: str
    name: str
    kind: str  # "page" or "instagram"
    published: list[dict[str, Any]] = field(default_factory=list)
    photos: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)


class FakeGraph:
    """``app()`` is the aiohttp application; accounts point ``api_base_url`` at
    ``<server>/v21.0``."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.containers: dict[str, dict[str, Any]] = {}
        self.replies: list[dict[str, Any]] = []  # answers to comments
        self.calls: list[tuple[str, str, dict[str, Any]]] = []  # (method, path, params)
        self.fail: list[Failure] = []
        self.pending_polls = 0  # containers answer IN_PROGRESS this many times first
        self.latency = 0.0
        self._ids = itertools.count(10_000)
        # Meta's CDN, where webhooks' attachment links point: name -> (bytes, type, status)
        self.cdn: dict[str, tuple[bytes, str, int]] = {}
        self.cdn_hits: list[str] = []

    def add_page(self, page_id: str, token: str, name: str = "Shop page") -> Account:
        self.accounts[page_id] = Account(page_id, token, name, "page")
        return self.accounts[page_id]

    def add_instagram(self, ig_id: str, token: str, name: str = "shop.ig") -> Account:
        self.accounts[ig_id] = Account(ig_id, token, name, "instagram")
        return self.accounts[ig_id]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", f"/{VERSION}/{{node}}", self._node)
        app.router.add_route("*", f"/{VERSION}/{{node}}/{{edge}}", self._edge)
        app.router.add_get("/cdn/{name}", self._cdn)
        return app

    async def _cdn(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.cdn_hits.append(name)
        if name not in self.cdn:
            return web.Response(status=404, text="URL signature expired")
        data, ctype, status = self.cdn[name]
        return web.Response(body=data, status=status, headers={"Content-Type": ctype})

    # --- webhook bodies, as Meta posts them ------------------------------------------------

    @staticmethod
    def dm(page_id: str, sender: str, text: str, mid: str, obj: str = "page",
           attachments: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
        """A direct message; ``attachments`` are (type, url) pairs, sent as Meta does:
        ``{"type", "payload": {"url"}}``, and the text only when there is one."""
        now = int(time.time() * 1000)
        message: dict[str, Any] = {"mid": mid, **({"text": text} if text else {})}
        if attachments:
            message["attachments"] = [{"type": kind, "payload": {"url": url}}
                                      for kind, url in attachments]
        return {"object": obj, "entry": [{"id": page_id, "time": now, "messaging": [{
            "sender": {"id": sender}, "recipient": {"id": page_id}, "timestamp": now,
            "message": message}]}]}

    @staticmethod
    def page_comment(page_id: str, post_id: str, comment_id: str, author: str, name: str,
                     text: str, photo: str | None = None) -> dict[str, Any]:
        """A Page comment; ``photo`` is the link of the photo it carries, if any."""
        return {"object": "page", "entry": [{"id": page_id, "time": int(time.time()),
                "changes": [{"field": "feed", "value": {
                    "from": {"id": author, "name": name}, "item": "comment", "verb": "add",
                    "post_id": post_id, "comment_id": comment_id, "message": text,
                    "created_time": int(time.time()), **({"photo": photo} if photo else {})
                }}]}]}

    @staticmethod
    def ig_comment(ig_id: str, media_id: str, comment_id: str, author: str, username: str,
                   text: str) -> dict[str, Any]:
        return {"object": "instagram", "entry": [{"id": ig_id, "time": int(time.time()),
                "changes": [{"field": "comments", "value": {
                    "from": {"id": author, "username": username},
                    "media": {"id": media_id, "media_product_type": "FEED"},
                    "id": comment_id, "text": text}}]}]}

    @staticmethod
    def signed(body: dict[str, Any], app_secret: str) -> tuple[bytes, dict[str, str]]:
        raw = json.dumps(body).encode()
        return raw, {"X-Hub-Signature-256": sign(app_secret, raw),
                     "Content-Type": "application/json"}

    # --- the protocol ------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, code: int, message: str, subcode: int = 0,
               kind: str = "OAuthException") -> web.Response:
        err: dict[str, Any] = {"message": message, "type": kind, "code": code,
                               "fbtrace_id": "AbCdEf"}
        if subcode:
            err["error_subcode"] = subcode
        return web.json_response({"error": err}, status=status)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}

    def _injected(self, edge: str) -> web.Response | None:
        for f in self.fail:
            if f.edge == edge and f.times > 0:
                f.times -= 1
                if f.code in (4, 17, 32, 613):
                    return self._error(f.status, f.code, "(#4) Application request limit "
                                                         "reached", kind="OAuthException")
                return self._error(f.status, f.code, "An unexpected error has occurred. "
                                                     "Please retry your request later.",
                                   kind="FacebookApiException")
        return None

    def _auth(self, node: str, params: dict[str, Any]) -> Account | web.Response:
        token = params.get("access_token")
        owner = self.accounts.get(node)
        if owner is None:
            owner = next((a for a in self.accounts.values() if a.token == token), None)
        if not token or owner is None or owner.token != token:
            return self._error(400, 190, "Invalid OAuth access token - Cannot parse access "
                                         "token")
        return owner

    async def _node(self, request: web.Request) -> web.Response:
        node = request.match_info["node"]
        params = await self._params(request)
        self.calls.append((request.method, node, params))
        owner = self._auth(node, params)
        if isinstance(owner, web.Response):
            return owner
        if node in self.containers:
            c = self.containers[node]
            if c["polls"] > 0:
                c["polls"] -= 1
                return web.json_response({"id": node, "status_code": "IN_PROGRESS"})
            return web.json_response({"id": node, "status_code": c["status"]})
        if node == owner.id:
            key = "name" if owner.kind == "page" else "username"
            return web.json_response({"id": owner.id, key: owner.name})
        return self._error(400, 100, f"Unsupported get request. Object with ID '{node}' does "
                                     f"not exist", subcode=33, kind="GraphMethodException")

    async def _edge(self, request: web.Request) -> web.Response:
        node, edge = request.match_info["node"], request.match_info["edge"]
        params = await self._params(request)
        self.calls.append((request.method, f"{node}/{edge}", params))
        if request.method != "POST":
            return self._error(400, 100, "Unsupported request")
        owner = self._auth(node, params)
        if isinstance(owner, web.Response):
            return owner
        if (failed := self._injected(edge)) is not None:
            return failed
        handler = getattr(self, f"_{edge}", None)
        if handler is None:
            return self._error(400, 100, f"Unknown edge {edge!r}")
        result: web.Response = handler(owner, node, params)
        if self.latency:  # done, but the answer is slow (and may never arrive)
            await asyncio.sleep(self.latency)
        return result

    def _new_id(self) -> str:
        return str(next(self._ids))

    def _feed(self, page: Account, node: str, p: dict[str, Any]) -> web.Response:
        attached = json.loads(p.get("attached_media") or "[]")
        for a in attached:
            if a.get("media_fbid") not in page.photos:
                return self._error(400, 100, "Invalid parameter: attached_media")
        if not p.get("message") and not attached:
            return self._error(400, 100, "(#100) Missing message or attachment")
        post_id = f"{page.id}_{self._new_id()}"
        page.published.append({"id": post_id, "message": p.get("message", ""),
                               "photos": [page.photos[a["media_fbid"]]["url"]
                                          for a in attached]})
        return web.json_response({"id": post_id})

    def _photos(self, page: Account, node: str, p: dict[str, Any]) -> web.Response:
        if not p.get("url"):
            return self._error(400, 324, "(#324) Requires upload file")
        photo_id = self._new_id()
        page.photos[photo_id] = {"url": p["url"]}
        if p.get("published") == "false":
            return web.json_response({"id": photo_id})
        post_id = f"{page.id}_{self._new_id()}"
        page.published.append({"id": post_id, "message": p.get("message", ""),
                               "photos": [p["url"]]})
        return web.json_response({"id": photo_id, "post_id": post_id})

    def _media(self, ig: Account, node: str, p: dict[str, Any]) -> web.Response:
        cid = self._new_id()
        if p.get("media_type") == "CAROUSEL":
            children = [c for c in str(p.get("children") or "").split(",") if c]
            if not 2 <= len(children) <= 10 or any(c not in self.containers
                                                   for c in children):
                return self._error(400, 100, "(#100) The carousel needs 2 to 10 children")
            urls = [self.containers[c]["url"] for c in children]
        elif p.get("image_url"):
            urls = [p["image_url"]]
        else:
            return self._error(400, 100, "(#100) The parameter image_url is required")
        caption = p.get("caption", "")
        if len(caption) > 2200:
            return self._error(400, 100, "(#100) The caption is too long")
        self.containers[cid] = {"owner": ig.id, "url": urls[0], "urls": urls,
                                "caption": caption, "status": "FINISHED",
                                "polls": self.pending_polls, "published": False,
                                "carousel_item": p.get("is_carousel_item") == "true"}
        return web.json_response({"id": cid})

    def _media_publish(self, ig: Account, node: str, p: dict[str, Any]) -> web.Response:
        c = self.containers.get(str(p.get("creation_id")))
        if c is None or c["owner"] != ig.id or c["carousel_item"]:
            return self._error(400, 100, "(#100) Invalid creation_id")
        if c["polls"] > 0 or c["status"] != "FINISHED":
            return self._error(400, 9007, "(#9007) Media ID is not available",
                               subcode=2207027)
        if c["published"]:
            return self._error(400, 100, "(#100) This media was already published")
        c["published"] = True
        media_id = self._new_id()
        ig.published.append({"id": media_id, "caption": c["caption"], "urls": c["urls"]})
        return web.json_response({"id": media_id})

    def _messages(self, owner: Account, node: str, p: dict[str, Any]) -> web.Response:
        recipient = json.loads(p.get("recipient") or "{}")
        message = json.loads(p.get("message") or "{}")
        if not recipient.get("id") or not message.get("text"):
            return self._error(400, 100, "(#100) recipient and message are required")
        mid = f"m_{self._new_id()}"
        owner.messages.append({"recipient": recipient["id"], "message": message, "mid": mid,
                               "messaging_type": p.get("messaging_type")})
        return web.json_response({"recipient_id": recipient["id"], "message_id": mid})

    def _answer(self, owner: Account, node: str, p: dict[str, Any]) -> web.Response:
        if not p.get("message"):
            return self._error(400, 100, "(#100) message is required")
        reply_id = f"{node}_{self._new_id()}"
        self.replies.append({"comment": node, "message": p["message"], "id": reply_id})
        return web.json_response({"id": reply_id})

    _comments = _answer
    _replies = _answer
