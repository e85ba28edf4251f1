"""Telegram bots as an inbox channel: polling (default) or webhook, one loop per account.

python-telegram-bot is the client (``telegram.Bot``, pointed at each account's API base
URL, so a self-hosted ``telegram-bot-api`` or a test fake works the same). We use its Bot
API methods and error classes; not its Application/JobQueue: the server already has a
loop, a clock and a due-work table, and one Switchboard process runs many bots.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict
from telegram import Bot, InputMediaPhoto, ReplyParameters
from telegram.error import InvalidToken, NetworkError, TelegramError, TimedOut

from bot.core.auth import same
from bot.core.channel import (
    FLOW_PREFIX,
    AccountInfo,
    AccountSetupError,
    CannotConnect,
    ChannelContext,
    ChannelError,
    InvalidAuth,
    OutboundMessage,
    OutcomeUnknown,
    PermanentDeliveryError,
    Publishing,
    SendResult,
    SettingsForm,
    StaffAnswer,
    StaffInput,
)
from bot.core.clean import without_nul
from bot.core.http import ApiError, Call, Endpoint, json_out
from bot.core.i18n import N_, lazy
from bot.core.outbound import check_url, refused
from bot.core.outfiles import TEXT_PART, FileLimits
from bot.core.said import Said
from channels.loops import AccountLoops, lease_live
from channels.telegram import files, outfiles
from channels.telegram.client import (
    DEFAULT_API,
    base_allowed,
    check_base,
    check_proxies,
    failure,
    http_request,
    keyboard,
    new_bot,
    send_piece,
)
from channels.telegram.parse import (
    Edited,
    NewMessage,
    Parsed,
    Pressed,
    Staff,
    message_id,
    parse_update,
    split_text,
    to_html,
)
from channels.telegram.polling import keep_webhook, poll, take_update
from channels.webhooks import account_from_path

log = logging.getLogger("switchboard.telegram")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ACCOUNT = web.RequestKey("telegram_account", AccountInfo)
MODES = ("polling", "webhook")
WEBHOOK_PATH = "/api/v1/telegram/{account_id}/webhook"


class UpdateBody(BaseModel):
    """A Telegram Update; only ``update_id`` is required, the rest is Telegram's to add."""

    model_config = ConfigDict(extra="allow")
    update_id: int


class WebhookAnswer(BaseModel):
    ok: bool


class TelegramChannel:
    kind: ClassVar[str] = "telegram"
    settings_form: ClassVar[SettingsForm] = SettingsForm(
        ("token", "api_base_url", "mode", "staff_chat_id", "staff_notify", "channel"), ("token",))
    display_name: ClassVar[str] = "Telegram"
    max_text_length: ClassVar[int] = 4 * 4096  # longer replies are split into messages
    supports_media: ClassVar[bool] = True
    # The Bot API takes an uploaded file of at most 50 MB (a picture over sendPhoto's
    # 10 MB goes as a document: channels.telegram.outfiles).
    file_limits: ClassVar[FileLimits] = FileLimits(per_file=50_000_000)
    rate_per_sec: ClassVar[float | None] = 30.0  # Telegram's global bot limit
    publishing: ClassVar[Publishing] = Publishing(
        "telegram", "Telegram", target_setting="channel", target_hint="@channel or chat id",
        tags=("tg", "telegram"), text=4096, caption=1024)

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self._bots: dict[int, tuple[tuple[str, str], Bot]] = {}
        # One loop per account, restarted when its token, API base or mode changes.
        # In polling mode one process at a time polls (Telegram answers 409 Conflict to a
        # second getUpdates); in webhook mode every process may (re)register the webhook.
        self.loops = AccountLoops(ctx, self.kind, self.config, self._run,
                                  leased=lambda account: self.config(account)[2] == "polling")

    # --- configuration -----------------------------------------------------------------

    @staticmethod
    def config(account: AccountInfo) -> tuple[str, str, str]:
        s = account.settings or {}
        token = str(s.get("token") or "").strip()
        base = str(s.get("api_base_url") or DEFAULT_API).rstrip("/")
        mode = str(s.get("mode") or "polling")
        return token, base, mode

    def bot(self, account: AccountInfo) -> Bot:
        token, base, _ = self.config(account)
        cached = self._bots.get(account.id)
        if cached is not None and cached[0] == (token, base):
            return cached[1]
        poll = self.ctx.settings.telegram_poll_timeout
        private = self._allow_private()
        bot = new_bot(token, base, http_request(private, 8, read_timeout=15),
                      http_request(private, read_timeout=poll + 10))
        self._bots[account.id] = ((token, base), bot)
        return bot

    async def validate_account(self, account: AccountInfo) -> None:
        """getMe with the token before the account is enabled."""
        token, base, mode = self.config(account)
        if ":" not in token:
            raise InvalidAuth(lazy("settings.token must be a bot token from @BotFather "
                                   "(digits, a colon, then letters)"))
        if mode not in MODES:
            raise AccountSetupError(lazy("settings.mode must be polling or webhook, not %(mode)r",
                                         mode=mode))
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise AccountSetupError(lazy("settings.api_base_url is not an http(s) URL: %(url)r",
                                         url=base))
        check_url(base, allow_private=self._allow_private(), field="settings.api_base_url")
        if mode == "webhook" and not (self.ctx.settings and self.ctx.settings.public_url):
            raise AccountSetupError(lazy("webhook mode needs SWITCHBOARD_PUBLIC_URL, the https "
                                         "address Telegram can reach this server at"))
        try:  # httpx is not the guarded session: the policy is checked here
            await check_base(base, self._allow_private())
        except OSError as exc:
            raise CannotConnect(lazy("cannot reach the Bot API at %(url)s: %(reason)s", url=base,
                                     reason=refused(exc) or exc)) from exc
        bot = new_bot(token, base, http_request(self._allow_private(), connect_timeout=5,
                                                read_timeout=10))
        try:
            async with bot:  # initialize() calls getMe
                me = bot.bot
        except InvalidToken as exc:
            raise InvalidAuth(lazy("Telegram rejected the token (getMe: %(reason)s)",
                                   reason=exc.message)) from exc
        except (NetworkError, TelegramError) as exc:
            raise CannotConnect(lazy("cannot reach the Bot API at %(url)s (%(reason)s)", url=base,
                                     reason=exc)) from exc
        log.info("telegram bot checked", extra={"username": me.username, "id": me.id})

    # --- inbound -----------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return []

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint(
            "POST", WEBHOOK_PATH, self.webhook,
            "Telegram webhook: Telegram posts bot updates here in webhook mode",
            "Telegram", perm=None, body=UpdateBody, response=WebhookAnswer,
            raw_check=self._check_secret, security="signature",
            responses={200: "stored (or already stored)",
                       403: f"{SECRET_HEADER} missing or wrong", 404: "unknown account",
                       503: "not stored this time (quarantined after quarantine_tries)"})]

    async def _check_secret(self, request: web.Request, raw: bytes) -> None:
        account = await account_from_path(self.ctx, request, self.kind, "Telegram")
        given = request.headers.get(SECRET_HEADER, "")
        if not same(given, account.secret):  # as bytes: any character is just wrong
            raise ApiError(403, "bad_secret", f"{SECRET_HEADER} does not match this account")
        request[ACCOUNT] = account

    async def webhook(self, call: Call) -> web.StreamResponse:
        account: AccountInfo = call.request[ACCOUNT]
        # One update that keeps failing is quarantined after quarantine_tries, so that
        # Telegram, which holds back every later update while it redelivers this one,
        # moves on; until then a 503 makes it deliver the update again.
        if not await take_update(account, call.body.model_dump(), self.handle_update,
                                 self.ctx.settings.quarantine_tries):
            raise ApiError(503, "not_stored", "the update could not be stored yet; "
                                              "Telegram delivers it again")
        return json_out(WebhookAnswer(ok=True))

    replay_sources: ClassVar[tuple[str, ...]] = ("telegram",)

    async def replay_import(self, account: AccountInfo, source: str, body: str) -> None:
        """An admin's "try again" of a quarantined update: its stored JSON is the whole
        update, handled as when it came (a stored one is a no-op: ingest is idempotent)."""
        await self.handle_update(account, json.loads(body))

    async def handle_update(self, account: AccountInfo, update: dict[str, Any]) -> None:
        """Store what an update carries; returns once it is committed."""
        # Settings such as the staff chat change while the loop runs: read them fresh
        # (from the core's short cache).
        account = await self.ctx.get_account(account.id) or account
        update = without_nul(update)  # staff commands and flows read it too (bot.clean)
        try:
            parsed = parse_update(account.id, update, staff_chat(account),
                                  self.ctx.staff_commands)
        except Exception:
            # A shape this code does not read. Skipped, not failed: failing it, the
            # webhook would answer 500 and Telegram would hold back every later update
            # while it retried this one (polling would refetch it). Database errors
            # below still fail the update, to be delivered again.
            log.exception("telegram update not understood; skipped",
                          extra={"account": account.id, "update": str(update)[:2000]})
            return
        parsed = await self._staff_flow(account, parsed)
        if isinstance(parsed, NewMessage):
            msg = parsed.msg
            if parsed.maybe_thread and await self.ctx.thread_known(account.id,
                                                                   parsed.maybe_thread):
                msg = replace(msg, thread_id=parsed.maybe_thread)
            await self.ctx.ingest(await files.keep(
                self.ctx.settings, msg, lambda fid: self.fetch_file(account, fid)))
        elif isinstance(parsed, Pressed):
            if parsed.msg is not None:
                await self.ctx.ingest(parsed.msg)
            with contextlib.suppress(TelegramError):  # only stops the button's spinner
                await self.bot(account).answer_callback_query(parsed.callback_id)
        elif isinstance(parsed, Staff):
            answer = await self.ctx.staff_input(parsed.input)
            if parsed.callback_id:
                with contextlib.suppress(TelegramError):
                    await self.bot(account).answer_callback_query(parsed.callback_id)
            if answer:
                try:
                    await self.post_to_chat(account, parsed.input.chat_id, answer)
                except ChannelError as exc:  # the command ran; its answer is a courtesy
                    log.warning("telegram staff answer not sent", extra={"error": str(exc)})
        elif isinstance(parsed, Edited):
            await self.ctx.edit(account.id, parsed.external_id, parsed.text, parsed.edited_at)
        else:
            log.debug("telegram update ignored", extra={"reason": parsed.reason,
                                                        "update_id": update.get("update_id")})

    async def _staff_flow(self, account: AccountInfo, parsed: Parsed) -> Parsed:
        """A private message or button that belongs to a staff member's step-by-step
        exchange with the bot (the interactive /post) is staff input, not a customer's."""
        msg = parsed.msg if isinstance(parsed, NewMessage | Pressed) else None
        if msg is None or msg.author is not None or msg.thread_id is not None:
            return parsed
        pressed = isinstance(parsed, Pressed)
        if pressed and not (msg.payload or "").startswith(FLOW_PREFIX):
            return parsed
        user = msg.contact.external_id  # in a private chat, the chat id is the user's id
        if not pressed and not await self.ctx.in_flow(account.id, user, user):
            return parsed
        return Staff(StaffInput(
            account_id=account.id, chat_id=user, user_external_id=user,
            user_name=msg.contact.name or "", text="" if pressed else msg.text,
            in_staff_chat=False, external_id=msg.external_id, attachments=msg.attachments,
            payload=msg.payload if pressed else None, language=msg.contact.locale),
            callback_id=parsed.callback_id if isinstance(parsed, Pressed) else "")

    # --- running accounts --------------------------------------------------------------

    async def start(self) -> None:
        check_proxies(self._allow_private())  # a SOCKS proxy in the environment: refused
        await self.loops.start()

    async def stop(self) -> None:
        await self.loops.stop()
        for _, bot in self._bots.values():
            with contextlib.suppress(Exception):
                await bot.shutdown()
        self._bots.clear()

    async def refresh(self) -> None:
        await self.loops.refresh()

    def _allow_private(self) -> bool:
        return bool(self.ctx.settings and self.ctx.settings.allow_private_urls)

    async def _run(self, account: AccountInfo) -> None:
        # Refused: not started (no crash loop); a change of the URL restarts it.
        if not await base_allowed(account.id, self.config(account)[1], self._allow_private()):
            return
        if self.config(account)[2] == "polling":
            await poll(self.bot(account), account, self.ctx.settings.telegram_poll_timeout,
                       self.handle_update, tries=self.ctx.settings.quarantine_tries,
                       held=lease_live)
        else:
            await keep_webhook(self.bot(account), account,
                               self.ctx.settings.public_url.rstrip("/")
                               + WEBHOOK_PATH.format(account_id=account.id))

    # --- outbound ----------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        chat_id = message.contact_external_id
        if not chat_id:
            raise PermanentDeliveryError(Said(N_("this contact has no Telegram chat")))
        bot = self.bot(message.account)
        extra: dict[str, Any] = {}
        thread = message.thread_id or ""
        if "/topic/" in thread:  # a forum topic: stay in it
            extra["message_thread_id"] = int(thread.rsplit("/", 1)[1])
        if message.reply_to_external_id:  # answer that comment, in its thread
            extra["reply_parameters"] = ReplyParameters(
                int(message.reply_to_external_id.rsplit(":", 1)[1]),
                allow_sending_without_reply=True)
        topic = {k: v for k, v in extra.items() if k == "message_thread_id"}

        async def text() -> str:
            pieces, last = split_text(message.text), None
            for sent, piece in enumerate(pieces):
                if sent == len(pieces) - 1 and message.buttons:
                    extra["reply_markup"] = keyboard(message.buttons)
                last = await send_piece(bot, chat_id, piece, sent, extra)
                extra.pop("reply_parameters", None)  # only the first part is the reply
            return message_id(chat_id, last.message_id) if last else ""
        first = await message.parts.once(TEXT_PART, text) if message.text.strip() else None
        last_file = await outfiles.send_files(bot, chat_id, message, topic)
        return SendResult(external_id=first or last_file or None)

    async def publish(self, account: AccountInfo, target: str, text: str,
                      media: list[dict[str, Any]]) -> str:
        """A post to a channel the bot is an admin of: a photo with a caption, or text."""
        bot = self.bot(account)
        try:
            if len(media) > 1:  # an album: the caption goes with the first photo
                album = [InputMediaPhoto(m["url"], caption=to_html(text) or None if i == 0
                                         else None, parse_mode="HTML")
                         for i, m in enumerate(media)]
                msg = (await bot.send_media_group(target, album))[0]
            elif media:
                msg = await bot.send_photo(target, media[0]["url"], caption=to_html(text) or None,
                                           parse_mode="HTML")
            else:
                msg = await bot.send_message(target, to_html(text), parse_mode="HTML")
        except TimedOut as exc:  # the request may have gone through: do not guess
            raise OutcomeUnknown(Said(N_("Telegram did not answer in time (%(detail)s)"),
                                      detail=str(exc))) from exc
        except TelegramError as exc:
            raise failure(exc) from exc
        return message_id(target, msg.message_id)

    async def post_to_chat(self, account: AccountInfo, chat_id: str,
                           text: str | StaffAnswer) -> str:
        """Post a plain-text note (a staff notification, a command's answer), with the
        answer's buttons under its last part."""
        buttons = text.buttons if isinstance(text, StaffAnswer) else ()
        pieces = split_text(text.text if isinstance(text, StaffAnswer) else text)
        last: Any = None
        for sent, piece in enumerate(pieces):
            extra = ({"reply_markup": keyboard(buttons)}
                     if buttons and sent == len(pieces) - 1 else {})
            last = await send_piece(self.bot(account), chat_id, piece, sent, extra)
        return str(last.message_id) if last else ""

    async def fetch_file(self, account: AccountInfo, file_id: str) -> tuple[bytes, str]:
        """A file staff opened: getFile, then download it (bytes, file path)."""
        f = await self.bot(account).get_file(file_id)
        return bytes(await f.download_as_bytearray()), str(f.file_path or "")



def staff_chat(account: AccountInfo) -> str:
    return str((account.settings or {}).get("staff_chat_id") or "").strip()
