"""A local fake of the Telegram Bot API, over real HTTP, for tests and benchmarks.

It speaks the Bot API's wire format (``/bot<token>/<method>``, form or JSON parameters,
``{"ok": …, "result" | "error_code", "description", "parameters"}`` answers) for the
methods Switchboard uses, keeps what bots send so tests can read it, and can be told to
fail: a 429 with ``retry_after``, or a 403 for a user who blocked the bot. As the real
Bot API does, a getUpdates that comes while another one for the same bot is still
waiting ends the waiting one with 409 Conflict ("terminated by other getUpdates
request"): two pollers of one bot show up as ``FakeBot.conflicts``.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

HTML_TAGS = re.compile(r"</?(b|strong|i|em|u|ins|s|strike|del|a|code|pre|tg-spoiler|"
                       r"blockquote|span)(\s[^>]*)?>")


@dataclass
class FakeBot:
    token: str
    id: int
    username: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    webhook: dict[str, Any] | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    edited: list[dict[str, Any]] = field(default_factory=list)
    answered: list[dict[str, Any]] = field(default_factory=list)
    # The getUpdates waiting now (set when a newer one ends it), and what overlapped.
    polling: asyncio.Event | None = None
    conflicts: int = 0  # getUpdates ended with 409 because another one came
    polls: int = 0  # getUpdates calls answered


class FakeTelegram:
    """``app()`` is the aiohttp application; ``base_url`` is what accounts point at."""

    def __init__(self) -> None:
        self.bots: dict[str, FakeBot] = {}
        self.blocked: set[int] = set()  # chat ids whose user blocked the bot
        self.fail: list[tuple[str, int, int]] = []  # (method, status, retry_after) once each
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.files: dict[str, bytes] = {}
        self._ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self.base_url = ""
        self.latency = 0.0  # seconds each send takes, as a slow network would

    def add_bot(self, token: str, username: str = "shop_bot") -> FakeBot:
        bot = FakeBot(token, int(token.split(":")[0]), username)
        self.bots[token] = bot
        return bot

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        return app

    # --- what tests call -----------------------------------------------------------------

    def push(self, token: str, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates; gives it the next update_id if it has none."""
        update.setdefault("update_id", next(self._update_ids))
        bot = self.bots[token]
        bot.updates.append(update)
        bot.arrived.set()
        return update

    def private_message(self, user_id: int, text: str | None, language_code: str = "en",
                        first_name: str = "Ann", **extra: Any) -> dict[str, Any]:
        user = {"id": user_id, "is_bot": False, "first_name": first_name,
                "language_code": language_code}
        msg = {"message_id": next(self._ids), "date": int(time.time()),
               "chat": {"id": user_id, "type": "private", "first_name": first_name},
               "from": user, **extra}
        if text is not None:  # a photo or file may come without text
            msg["text"] = text
        return {"message": msg}

    def group_message(self, chat_id: int, user_id: int, text: str, title: str = "Shop fans",
                      first_name: str = "Bob", language_code: str = "en",
                      thread_id: int | None = None, reply_to: dict[str, Any] | None = None,
                      topic: bool = False) -> dict[str, Any]:
        """A member's message in a (super)group; ``reply_to`` is the message it answers
        (Telegram then sets ``message_thread_id`` in supergroups)."""
        msg: dict[str, Any] = {
            "message_id": next(self._ids), "date": int(time.time()),
            "chat": {"id": chat_id, "type": "supergroup", "title": title},
            "from": {"id": user_id, "is_bot": False, "first_name": first_name,
                     "language_code": language_code}, "text": text}
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
            msg["message_thread_id"] = thread_id or reply_to.get(
                "message_thread_id") or reply_to["message_id"]
        elif thread_id is not None:
            msg["message_thread_id"] = thread_id
        if topic:
            msg["is_topic_message"] = True
        return {"message": msg}

    def channel_post_copy(self, chat_id: int, channel_id: int, text: str) -> dict[str, Any]:
        """What a discussion group receives when the linked channel publishes a post."""
        return {"message_id": next(self._ids), "date": int(time.time()),
                "chat": {"id": chat_id, "type": "supergroup", "title": "Shop fans"},
                "from": {"id": 777000, "is_bot": False, "first_name": "Telegram"},
                "sender_chat": {"id": channel_id, "type": "channel", "title": "Shop news"},
                "is_automatic_forward": True, "text": text}

    def press(self, user_id: int, sent: dict[str, Any], data: str) -> dict[str, Any]:
        """The user pressed the inline button with ``data`` under a message the bot sent."""
        return {"callback_query": {
            "id": str(next(self._ids)), "chat_instance": "ci", "data": data,
            "from": {"id": user_id, "is_bot": False, "first_name": "Ann"},
            "message": sent["result"]}}

    # --- the protocol ----------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        if request.content_type == "application/json":
            data = await request.json()
            return dict(data) if isinstance(data, dict) else {}
        out: dict[str, Any] = {}
        for key, value in (await request.post()).items():
            if isinstance(value, str):
                try:
                    out[key] = json.loads(value)
                except ValueError:
                    out[key] = value
            else:  # an uploaded file (multipart/form-data), as the Bot API takes them
                out[key] = {"file_name": value.filename, "content_type": value.content_type,
                            "data": value.file.read()}
                value.file.close()
        return out

    @staticmethod
    def _uploaded(p: dict[str, Any], key: str) -> Any:
        """A file parameter: an upload ({"file_name", "data"}, kept with what was sent) or
        a file_id / URL; an "attach://" reference that names no upload is a 400."""
        value = p.get(key)
        if isinstance(value, str) and value.startswith("attach://"):
            value = p.get(value.removeprefix("attach://"))
        return value

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(status: int, description: str, **parameters: Any) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    async def _method(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        bot = self.bots.get(token)
        if bot is None:
            return self._error(401, "Unauthorized")
        params = await self._params(request)
        self.calls.append((token, method, params))
        for i, (name, status, retry) in enumerate(self.fail):
            if name == method:
                del self.fail[i]
                if status == 429:
                    return self._error(429, f"Too Many Requests: retry after {retry}",
                                       retry_after=retry)
                return self._error(status, "Injected failure")
        handler = getattr(self, "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", method).lower(), None)
        if handler is None:
            return self._error(404, "Not Found: method not found")
        result = handler(bot, params)
        if asyncio.iscoroutine(result):
            result = await result
        return result if isinstance(result, web.Response) else self._ok(result)

    def _get_me(self, bot: FakeBot, p: dict[str, Any]) -> dict[str, Any]:
        return {"id": bot.id, "is_bot": True, "first_name": "Shop", "username": bot.username,
                "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def _get_updates(self, bot: FakeBot, p: dict[str, Any]) -> Any:
        if bot.webhook is not None:
            return self._error(409, "Conflict: can't use getUpdates method while webhook "
                                    "is active; use deleteWebhook to delete the webhook first")
        if bot.polling is not None:  # another getUpdates is in flight: Telegram ends it
            bot.polling.set()
        mine = bot.polling = asyncio.Event()
        try:
            offset = int(p.get("offset") or 0)
            bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
            if not bot.updates:
                bot.arrived.clear()
                waits = [asyncio.ensure_future(bot.arrived.wait()),
                         asyncio.ensure_future(mine.wait())]
                try:
                    await asyncio.wait(waits, timeout=float(p.get("timeout") or 0),
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waits:
                        w.cancel()
            if mine.is_set():
                bot.conflicts += 1
                return self._error(409, "Conflict: terminated by other getUpdates request; "
                                        "make sure that only one bot instance is running")
            bot.polls += 1
            limit = int(p.get("limit") or 100)
            return [u for u in bot.updates if u["update_id"] >= offset][:limit]
        finally:
            if bot.polling is mine:
                bot.polling = None

    def _set_webhook(self, bot: FakeBot, p: dict[str, Any]) -> bool:
        bot.webhook = {"url": p["url"], "secret_token": p.get("secret_token")}
        return True

    def _delete_webhook(self, bot: FakeBot, p: dict[str, Any]) -> bool:
        bot.webhook = None
        return True

    async def _message_out(self, bot: FakeBot, p: dict[str, Any], **content: Any) -> Any:
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._message_out_now(bot, p, **content)

    def _message_out_now(self, bot: FakeBot, p: dict[str, Any], **content: Any) -> Any:
        raw = str(p["chat_id"])
        if raw.startswith("@"):  # a public channel by its username
            chat: dict[str, Any] = {"id": -1000000000000 - len(raw), "type": "channel",
                                    "username": raw[1:]}
        else:
            chat_id = int(raw)
            if chat_id in self.blocked:
                return self._error(403, "Forbidden: bot was blocked by the user")
            chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        msg = {"message_id": next(self._ids), "date": int(time.time()), "chat": chat,
               "from": self._get_me(bot, p), **content}
        markup = p.get("reply_markup")
        if markup:  # Telegram echoes an inline keyboard; callback_data is at most 64 bytes
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if len(str(button.get("callback_data", "")).encode()) > 64:
                        return self._error(400, "Bad Request: BUTTON_DATA_INVALID")
            msg["reply_markup"] = markup
        if p.get("message_thread_id"):
            msg["message_thread_id"] = int(p["message_thread_id"])
        record = {**p, "result": msg, "received_at": time.time()}
        bot.sent.append(record)
        return msg

    def _send_message(self, bot: FakeBot, p: dict[str, Any]) -> Any:
        text = str(p.get("text") or "")
        if p.get("parse_mode") == "HTML":
            stripped = HTML_TAGS.sub("", text)
            if "<" in stripped or ">" in stripped or re.search(r"&(?!(lt|gt|amp|quot|#\d+);)",
                                                               stripped):
                return self._error(400, "Bad Request: can't parse entities")
            text = html.unescape(stripped)
        if not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return self._error(400, "Bad Request: message is too long")
        return self._message_out(bot, p, text=text)

    def _send_photo(self, bot: FakeBot, p: dict[str, Any]) -> Any:
        if len(str(p.get("caption") or "")) > 1024:
            return self._error(400, "Bad Request: message caption is too long")
        photo = self._uploaded(p, "photo")
        if not photo:
            return self._error(400, "Bad Request: there is no photo in the request")
        file_id = f"photo{len(bot.sent)}" if isinstance(photo, dict) else str(photo)
        return self._message_out(bot, p, photo=[{"file_id": file_id,
                                                 "file_unique_id": "u", "width": 1,
                                                 "height": 1}],
                                 caption=p.get("caption"))

    def _send_document(self, bot: FakeBot, p: dict[str, Any]) -> Any:
        document = self._uploaded(p, "document")
        if not isinstance(document, dict) or not document.get("data"):
            return self._error(400, "Bad Request: there is no document in the request")
        return self._message_out(bot, p, document={
            "file_id": f"doc{len(bot.sent)}", "file_unique_id": "d",
            "file_name": document["file_name"], "file_size": len(document["data"])},
            caption=p.get("caption"))

    async def _send_media_group(self, bot: FakeBot, p: dict[str, Any]) -> Any:
        items = p.get("media") or []
        if not 2 <= len(items) <= 10:
            return self._error(400, "Bad Request: wrong number of media in the album")
        out = []
        for item in items:
            if item.get("type") != "photo" or not item.get("media"):
                return self._error(400, "Bad Request: wrong media in the album")
            if len(str(item.get("caption") or "")) > 1024:
                return self._error(400, "Bad Request: message caption is too long")
            out.append(await self._message_out(
                bot, {**p, "media": None}, photo=[{"file_id": item["media"],
                                                   "file_unique_id": "u", "width": 1,
                                                   "height": 1}],
                caption=item.get("caption"), media_group_id="album"))
        return out

    def _edit_message_text(self, bot: FakeBot, p: dict[str, Any]) -> Any:
        bot.edited.append(p)
        return {"message_id": int(p.get("message_id") or 0), "date": int(time.time()),
                "chat": {"id": int(p.get("chat_id") or 0), "type": "private"},
                "text": p.get("text")}

    def _answer_callback_query(self, bot: FakeBot, p: dict[str, Any]) -> bool:
        bot.answered.append(p)
        return True

    def _get_file(self, bot: FakeBot, p: dict[str, Any]) -> Any:
        file_id = str(p.get("file_id"))
        if file_id not in self.files:
            return self._error(400, "Bad Request: invalid file_id")
        return {"file_id": file_id, "file_unique_id": file_id[-8:],
                "file_size": len(self.files[file_id]), "file_path": f"files/{file_id}.bin"}

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] not in self.bots:
            return web.Response(status=401)
        file_id = request.match_info["path"].removeprefix("files/").removesuffix(".bin")
        if file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id],
                            content_type="application/octet-stream")
