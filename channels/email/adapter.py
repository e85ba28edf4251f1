"""E-mail as an inbox channel: a mailbox read over IMAP (IDLE where the server offers
it, else polling), replies sent over SMTP with the headers that keep the thread.

Account settings: ``address`` (the shop's address, the From of replies), ``imap_host``,
``imap_port``, ``imap_tls`` (``ssl``, ``starttls`` or ``none``), ``imap_user``,
``imap_password``, ``folder`` (default INBOX), ``smtp_host``, ``smtp_port``, ``smtp_tls``,
``smtp_user``, ``smtp_password``. Both logins are checked before the account is enabled.

Exactly once: a mail's ``Message-ID`` is its external id, so reading a mail twice (after
a restart, or a second process) stores it once. The loop remembers the highest UID it
has stored; on (re)start it looks back ``LOOKBACK_DAYS`` and skips what is already known.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import ssl
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any, ClassVar

import aioimaplib
import aiosmtplib
from aiohttp import web

from bot.core.channel import (
    AccountInfo,
    AccountSetupError,
    CannotConnect,
    ChannelContext,
    ContactInfo,
    DeliveryError,
    InboundMessage,
    InvalidAuth,
    OutboundMessage,
    PermanentDeliveryError,
    RecipientUnreachable,
    SendResult,
    SettingsForm,
)
from channels.email.parse import Mail, parse_mail
from channels.email.pool import DEFAULT_CONCURRENCY, DEFAULT_RATE, SmtpPool
from channels.loops import AccountLoops

log = logging.getLogger("switchboard.email")
LOOKBACK_DAYS = 7
POLL_SECONDS = 30.0  # without IDLE; with IDLE the server tells us at once
IDLE_SECONDS = 300.0  # re-issue IDLE this often (servers drop idle connections ~30 min)
TLS_MODES = ("ssl", "starttls", "none")
_UID = re.compile(rb"UID (\d+)")


class MailboxError(Exception):
    """The IMAP server refused a command."""


def _cfg(account: AccountInfo, key: str, default: Any = "") -> Any:
    value = (account.settings or {}).get(key)
    return default if value in (None, "") else value


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def mail_to_inbound(account_id: int, mail: Mail) -> InboundMessage:
    text = mail.text
    if mail.subject and not mail.in_reply_to and not mail.references:
        text = f"{mail.subject}\n\n{text}" if text else mail.subject  # a new thread's topic
    return InboundMessage(
        channel_account_id=account_id, external_id=mail.message_id,
        contact=ContactInfo(external_id=mail.from_addr, name=mail.from_name or None,
                            email=mail.from_addr),
        text=text or "(no text)", sent_at=mail.sent_at, thread_id=mail.thread_root,
        attachments=mail.attachments,
        meta={"subject": mail.subject, "message_id": mail.message_id,
              "references": list(mail.references), "full_text": mail.full_text[:20000]})


class EmailChannel:
    kind: ClassVar[str] = "email"
    settings_form: ClassVar[SettingsForm] = SettingsForm(
        ("address", "imap_host", "imap_port", "imap_tls", "imap_user", "imap_password",
         "folder", "smtp_host", "smtp_port", "smtp_tls", "smtp_user", "smtp_password"),
        ("imap_password", "smtp_password"))
    display_name: ClassVar[str] = "E-mail"
    max_text_length: ClassVar[int] = 100_000
    supports_media: ClassVar[bool] = True
    rate_per_sec: ClassVar[float | None] = None  # set per account (settings.rate_per_sec)

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.loops = AccountLoops(ctx, self.kind, self.imap_key, self._watch)
        self._pools: dict[int, tuple[tuple[Any, ...], SmtpPool]] = {}

    @staticmethod
    def imap_key(account: AccountInfo) -> tuple[Any, ...]:
        return tuple(_cfg(account, k) for k in ("imap_host", "imap_port", "imap_tls",
                                                 "imap_user", "imap_password", "folder",
                                                 "address"))

    # --- checking an account -------------------------------------------------------------

    async def validate_account(self, account: AccountInfo) -> None:
        """Log in to IMAP (and open the folder) and to SMTP before enabling the account."""
        for key in ("address", "imap_host", "smtp_host"):
            if not _cfg(account, key):
                raise AccountSetupError(f"settings.{key} is missing")
        if "@" not in str(_cfg(account, "address")):
            raise AccountSetupError("settings.address must be an e-mail address")
        for key in ("imap_tls", "smtp_tls"):
            if _cfg(account, key, "ssl") not in TLS_MODES:
                raise AccountSetupError(f"settings.{key} must be one of {', '.join(TLS_MODES)}")
        client = await self._imap(account)
        with contextlib.suppress(Exception):
            await client.logout()
        _drop(client)
        smtp = self._smtp(account)
        try:
            await smtp.connect()
            if _cfg(account, "smtp_user"):
                await smtp.login(str(_cfg(account, "smtp_user")),
                                 str(_cfg(account, "smtp_password")))
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise InvalidAuth(f"the SMTP server refused the login: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise CannotConnect(f"cannot reach the SMTP server "
                                f"{_cfg(account, 'smtp_host')}: {exc}") from exc
        finally:
            with contextlib.suppress(Exception):
                await smtp.quit()

    async def _imap(self, account: AccountInfo) -> aioimaplib.IMAP4:
        host = str(_cfg(account, "imap_host"))
        tls = _cfg(account, "imap_tls", "ssl")
        port = int(_cfg(account, "imap_port", 993 if tls == "ssl" else 143))
        client = (aioimaplib.IMAP4_SSL(host, port, timeout=20, ssl_context=_tls_context())
                  if tls == "ssl" else aioimaplib.IMAP4(host, port, timeout=20))
        try:  # the constructor only starts connecting: errors show up from here
            await client.wait_hello_from_server()
            if tls == "starttls":
                await client.starttls(_tls_context())
        except (OSError, TimeoutError, aioimaplib.Abort) as exc:
            _drop(client)
            raise CannotConnect(f"cannot reach the IMAP server {host}:{port}: {exc}") from exc
        try:
            user = str(_cfg(account, "imap_user") or _cfg(account, "address"))
            resp = await client.login(user, str(_cfg(account, "imap_password")))
            if resp.result != "OK":
                raise InvalidAuth(f"the IMAP server refused the login for {user}: "
                                  f"{_said(resp)}")
            folder = str(_cfg(account, "folder", "INBOX"))
            resp = await client.select(folder)
            if resp.result != "OK":
                raise AccountSetupError(f"cannot open the folder {folder!r}: {_said(resp)}")
        except BaseException:
            _drop(client)
            raise
        _note_new_mail(client)
        return client

    def _smtp(self, account: AccountInfo) -> aiosmtplib.SMTP:
        tls = _cfg(account, "smtp_tls", "ssl")
        port = int(_cfg(account, "smtp_port", 465 if tls == "ssl" else 587))
        return aiosmtplib.SMTP(hostname=str(_cfg(account, "smtp_host")), port=port,
                               use_tls=tls == "ssl", start_tls=tls == "starttls",
                               timeout=30, tls_context=_tls_context())

    # --- reading the mailbox -------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return []

    def endpoints(self) -> list[Any]:
        return []

    async def start(self) -> None:
        await self.loops.start()

    async def stop(self) -> None:
        await self.loops.stop()
        pools, self._pools = self._pools, {}
        for _, pool in pools.values():
            await pool.close()

    async def _watch(self, account: AccountInfo) -> None:
        """Keep reading the mailbox: reconnect with backoff after any failure."""
        delay = 1.0
        last_uid = 0
        while True:
            client: aioimaplib.IMAP4 | None = None
            try:
                client = await self._imap(account)
                delay = 1.0
                last_uid = await self._catch_up(account, client, last_uid)
                while True:
                    await self._wait_for_mail(client)
                    last_uid = await self._read_new(account, client, last_uid)
            except Exception as exc:
                log.warning("mailbox loop failed; reconnecting", extra={
                    "account": account.id, "error": f"{type(exc).__name__}: {exc}"})
            finally:  # failed, or stopped (cancelled): the connection goes either way
                if client is not None:
                    _drop(client)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    async def _catch_up(self, account: AccountInfo, client: aioimaplib.IMAP4,
                        last_uid: int) -> int:
        if last_uid:
            return await self._read_new(account, client, last_uid)
        since = (datetime.now(UTC) - timedelta(days=LOOKBACK_DAYS)).strftime("%d-%b-%Y")
        return await self._read(account, client, f"SINCE {since}", 0)

    async def _read_new(self, account: AccountInfo, client: aioimaplib.IMAP4,
                        last_uid: int) -> int:
        """Store every mail past ``last_uid``; read again while the server announced new
        mail during the read (see :func:`_note_new_mail`)."""
        while True:
            last_uid = await self._read(account, client, f"UID {last_uid + 1}:*", last_uid)
            if not _take_news(client):
                return last_uid

    async def _read(self, account: AccountInfo, client: aioimaplib.IMAP4, criteria: str,
                    last_uid: int) -> int:
        """Store every mail matching ``criteria`` past ``last_uid``; the new highest UID."""
        _take_news(client)  # what this SEARCH will see needs no second look
        resp = await client.uid_search(*criteria.split(" ", 1), charset=None)
        if resp.result != "OK":
            raise MailboxError(f"SEARCH failed: {_said(resp)}")
        uids = sorted(int(u) for line in resp.lines[:1] for u in line.split() if u.isdigit())
        for uid in (u for u in uids if u > last_uid):
            raw = await self._fetch(client, uid)
            if raw is not None:
                await self._store(account, raw)
            last_uid = uid  # only after it is stored: a crash reads it again
        return last_uid

    async def _fetch(self, client: aioimaplib.IMAP4, uid: int) -> bytes | None:
        resp = await client.uid("fetch", str(uid), "(BODY.PEEK[])")
        if resp.result != "OK":
            raise MailboxError(f"FETCH {uid} failed: {_said(resp)}")
        for line in resp.lines:
            if isinstance(line, bytearray):  # the literal: the whole message
                return bytes(line)
        return None  # expunged meanwhile

    async def _store(self, account: AccountInfo, raw: bytes) -> None:
        mail = parse_mail(raw)
        if mail.bounced:
            for address in mail.bounced:
                await self.ctx.mark_bounced(account.id, address)
            log.info("bounce recorded", extra={"account": account.id,
                                               "addresses": list(mail.bounced)})
            return
        own = str(_cfg(account, "address")).lower()
        if not mail.from_addr or mail.from_addr == own:
            return  # our own mail (a copy in the folder), or no sender at all
        await self.ctx.ingest(mail_to_inbound(account.id, mail))

    async def _wait_for_mail(self, client: aioimaplib.IMAP4) -> None:
        """Until the server says something changed (IDLE), or a while (polling)."""
        if _take_news(client):
            return  # announced during the last read, and not again once IDLE starts
        if not client.has_capability("IDLE"):
            await asyncio.sleep(POLL_SECONDS)
            return
        idle = await client.idle_start(timeout=IDLE_SECONDS)
        try:
            while True:
                pushed = await client.wait_server_push(timeout=IDLE_SECONDS)
                if any(b"EXISTS" in (x if isinstance(x, bytes | bytearray) else b"")
                       for x in (pushed if isinstance(pushed, list) else [])) or \
                        pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
        except TimeoutError:
            pass
        finally:
            if client.has_pending_idle():
                client.idle_done()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(idle, 10)

    # --- replying ------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        account = message.account
        to = message.contact_external_id
        if "@" not in to:
            raise PermanentDeliveryError("this contact has no e-mail address")
        mail = compose_reply(account, message)
        try:
            await self.send_mail(account, mail)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if all(400 <= c < 500 for c in codes):
                raise DeliveryError(f"the mail server deferred {to}: "
                                    f"{exc.recipients[0].message}") from exc
            raise RecipientUnreachable(f"the mail server refused {to}: "
                                       f"{exc.recipients[0].message}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise DeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
            raise PermanentDeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"cannot reach the SMTP server: {exc}") from exc
        return SendResult(external_id=str(mail["Message-ID"]))

    async def send_mail(self, account: AccountInfo,
                        mail: EmailMessage | tuple[str, str, bytes]) -> None:
        """Hand one mail to the account's SMTP server over a kept-open connection, within
        the account's concurrency and rate (raises aiosmtplib's errors)."""
        key = tuple(_cfg(account, k) for k in ("smtp_host", "smtp_port", "smtp_tls",
                                               "smtp_user", "smtp_password", "concurrency",
                                               "rate_per_sec"))
        held = self._pools.get(account.id)
        if held is None or held[0] != key:
            if held is not None:
                await held[1].close()
            user = str(_cfg(account, "smtp_user"))
            pool = SmtpPool(lambda: self._smtp(account),
                            (user, str(_cfg(account, "smtp_password"))) if user else None,
                            int(_cfg(account, "concurrency", DEFAULT_CONCURRENCY)),
                            float(_cfg(account, "rate_per_sec", DEFAULT_RATE)))
            held = self._pools[account.id] = (key, pool)
        await held[1].send(mail)


def message_id(account: AccountInfo, key: str) -> str:
    """A deterministic Message-ID: the same key always gives the same id, so a mail sent
    again after a crash is recognisably the same mail."""
    domain = str(_cfg(account, "address")).rsplit("@", 1)[-1] or "switchboard.local"
    digest = hashlib.sha256(f"{account.id}:{key}".encode()).hexdigest()[:24]
    return f"<sb.{digest}@{domain}>"


def compose_reply(account: AccountInfo, message: OutboundMessage) -> EmailMessage:
    """A staff reply as a mail in the customer's thread (In-Reply-To, References)."""
    meta = message.reply_to_meta or {}
    subject = str(meta.get("subject") or "").strip()
    if subject and not subject.lower().startswith(("re:", "aw:", "odp:", "ответ:")):
        subject = f"Re: {subject}"
    mail = EmailMessage()
    mail["From"] = formataddr((account.name, str(_cfg(account, "address"))))
    mail["To"] = message.contact_external_id
    mail["Subject"] = subject or f"Your message to {account.name}"
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = message_id(account, f"reply:{message.message_id}")
    if message.reply_to_external_id:
        refs = [*(meta.get("references") or []), message.reply_to_external_id]
        mail["In-Reply-To"] = message.reply_to_external_id
        mail["References"] = " ".join(dict.fromkeys(refs))
    mail.set_content(message.text)
    return mail


def _drop(client: aioimaplib.IMAP4 | None) -> None:
    """Close an IMAP connection at once, without a LOGOUT round trip (the loop stopped or
    failed); nothing is left for the garbage collector to find open."""
    protocol = getattr(client, "protocol", None)
    transport = getattr(protocol, "transport", None)
    if transport is not None:
        transport.close()


def _note_new_mail(client: aioimaplib.IMAP4) -> None:
    """Remember every untagged ``* n EXISTS`` the server sends on this connection.

    The server announces mail that arrives while we read inside the answer to our SEARCH
    or FETCH, and aioimaplib drops untagged lines that no pending command claims. The
    server counts it as said, so IDLE would not report that mail either: it would sit
    unread until the next mail or the IDLE timeout (five minutes). So the protocol's
    untagged-line handler is wrapped to set a flag, which the reading loop checks."""
    protocol: Any = client.protocol
    handle = protocol._untagged_response
    protocol.switchboard_news = False

    def untagged(line: bytes) -> Any:
        if line.rstrip().upper().endswith(b" EXISTS"):
            protocol.switchboard_news = True
        return handle(line)
    protocol._untagged_response = untagged


def _take_news(client: aioimaplib.IMAP4) -> bool:
    """Whether new mail was announced since the last call (and forget it)."""
    protocol: Any = client.protocol
    news = bool(getattr(protocol, "switchboard_news", False))
    protocol.switchboard_news = False
    return news


def _said(resp: Any) -> str:
    lines = [ln.decode(errors="replace") if isinstance(ln, bytes | bytearray) else str(ln)
             for ln in getattr(resp, "lines", [])]
    return " ".join(lines)[:200] or str(getattr(resp, "result", ""))


def build(ctx: ChannelContext) -> Any:
    return EmailChannel(ctx)
