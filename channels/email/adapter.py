"""E-mail as an inbox channel: a mailbox read over IMAP (IDLE where the server offers
it, else polling: :mod:`channels.email.imap`), replies sent over SMTP with the headers
that keep the thread.

Account settings: ``address`` (the shop's address, the From of replies), ``imap_host``,
``imap_port``, ``imap_tls`` (``ssl``, ``starttls`` or ``none``), ``imap_user``,
``imap_password``, ``folder`` (default INBOX), ``smtp_host``, ``smtp_port``, ``smtp_tls``,
``smtp_user``, ``smtp_password``. Both logins are checked before the account is enabled.

Exactly once: a mail's ``Message-ID`` is its external id, so reading a mail twice (after
a restart, or a second process) stores it once (see :mod:`channels.email.imap`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any, ClassVar

import aiosmtplib
from aiohttp import web

from bot.core import attachments
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
from bot.core.i18n import N_, lazy
from bot.core.outfiles import FileLimits
from bot.core.said import Said
from bot.services.quarantine import store_or_quarantine
from channels.email import imap, mime
from channels.email.account import HostRefused, cfg, check_server, tls_context
from channels.email.parse import Mail, mail_key, parse_mail
from channels.email.pool import DEFAULT_CONCURRENCY, DEFAULT_RATE, SmtpPool
from channels.loops import AccountLoops, lease_live
from config import Settings

log = logging.getLogger("switchboard.email")
TLS_MODES = ("ssl", "starttls", "none")


def mail_to_inbound(account_id: int, mail: Mail, settings: Settings | None = None
                    ) -> InboundMessage:
    """The mail as a message; with ``settings``, its attachments' files are stored first
    (:func:`bot.core.attachments.store`: idempotent, so a mail read again stores nothing
    twice), a file over the size limit refused with a note."""
    text = mail.text
    files = mail.attachments
    if settings is not None and mail.payloads:
        files = tuple({**a, **attachments.store(settings, data, a["file_name"], a["mime_type"])}
                      for a, data in zip(mail.attachments, mail.payloads, strict=True))
    if mail.subject and not mail.in_reply_to and not mail.references:
        text = f"{mail.subject}\n\n{text}" if text else mail.subject  # a new thread's topic
    return InboundMessage(
        channel_account_id=account_id, external_id=mail.message_id,
        contact=ContactInfo(external_id=mail.from_addr, name=mail.from_name or None,
                            email=mail.from_addr),
        text=text or "(no text)", sent_at=mail.sent_at, thread_id=mail.thread_root,
        attachments=files,
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
    # The files go out in one mail, base64 (a third larger): 18 MB of files make a mail
    # under the 25 MB that common mail services (Gmail, Microsoft 365) accept.
    file_limits: ClassVar[FileLimits] = FileLimits(total=18_000_000)
    rate_per_sec: ClassVar[float | None] = None  # set per account (settings.rate_per_sec)

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.loops = AccountLoops(ctx, self.kind, self.imap_key, self._watch)
        self._pools: dict[int, tuple[tuple[Any, ...], SmtpPool]] = {}

    @staticmethod
    def imap_key(account: AccountInfo) -> tuple[Any, ...]:
        return tuple(cfg(account, k) for k in ("imap_host", "imap_port", "imap_tls",
                                                "imap_user", "imap_password", "folder",
                                                "address"))

    # --- checking an account -------------------------------------------------------------

    async def validate_account(self, account: AccountInfo) -> None:
        """Log in to IMAP (and open the folder) and to SMTP before enabling the account."""
        for key in ("address", "imap_host", "smtp_host"):
            if not cfg(account, key):
                raise AccountSetupError(lazy("settings.%(key)s is missing", key=key))
        if "@" not in str(cfg(account, "address")):
            raise AccountSetupError(lazy("settings.address must be an e-mail address"))
        for key in ("imap_tls", "smtp_tls"):
            if cfg(account, key, "ssl") not in TLS_MODES:
                raise AccountSetupError(lazy("settings.%(key)s must be one of %(known)s", key=key,
                                             known=", ".join(TLS_MODES)))
        client = await imap.connect(account, allow_private=self._allow_private())
        with contextlib.suppress(Exception):
            await client.logout()
        imap.drop(client)
        await self._check_smtp(account)
        smtp = self._smtp(account)
        try:
            await smtp.connect()
            if cfg(account, "smtp_user"):
                await smtp.login(str(cfg(account, "smtp_user")),
                                 str(cfg(account, "smtp_password")))
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise InvalidAuth(lazy("the SMTP server refused the login: %(reason)s",
                                   reason=exc.message)) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise CannotConnect(lazy("cannot reach the SMTP server %(host)s: %(reason)s",
                                     host=cfg(account, "smtp_host"), reason=exc)) from exc
        finally:
            with contextlib.suppress(Exception):
                await smtp.quit()

    def _allow_private(self) -> bool:
        return bool(self.ctx.settings and self.ctx.settings.allow_private_urls)

    async def _check_smtp(self, account: AccountInfo) -> None:
        """The outbound policy for the SMTP host (HostRefused), before each connection."""
        port = int(cfg(account, "smtp_port", 465 if cfg(account, "smtp_tls", "ssl") == "ssl"
                       else 587))
        await check_server(str(cfg(account, "smtp_host")), port, "SMTP", self._allow_private())

    def _smtp(self, account: AccountInfo) -> aiosmtplib.SMTP:
        tls = cfg(account, "smtp_tls", "ssl")
        port = int(cfg(account, "smtp_port", 465 if tls == "ssl" else 587))
        return aiosmtplib.SMTP(hostname=str(cfg(account, "smtp_host")), port=port,
                               use_tls=tls == "ssl", start_tls=tls == "starttls",
                               timeout=30, tls_context=tls_context())

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
        """Keep reading the mailbox, storing each new mail (:func:`imap.watch`)."""
        await imap.watch(account, self._take, allow_private=self._allow_private(),
                         held=lease_live)

    async def _take(self, account: AccountInfo, raw: bytes) -> None:
        """Store one mail; one that keeps failing is quarantined after quarantine_tries
        (kept raw for an admin) so the mailbox loop moves past it instead of reading the
        same mail for ever. Until then :class:`imap.StoreLater` makes the loop read it
        again after its reconnect pause."""
        done = await store_or_quarantine(
            "imap", account.id, mail_key(raw), raw, lambda: self._store(account, raw),
            tries=self.ctx.settings.quarantine_tries)
        if not done:
            raise imap.StoreLater("a mail could not be stored; it is read again later")

    async def _store(self, account: AccountInfo, raw: bytes) -> None:
        mail = parse_mail(raw)
        if mail.bounced:
            # Anyone can send a delivery report: it counts only for a mail we sent to that
            # address, named by its (unguessable) Message-ID. Either way it is no message.
            counted = [a for a in mail.bounced
                       if await self.ctx.mark_bounced(account.id, a, mail.bounced_ids)]
            log.info("bounce recorded" if counted else "bounce ignored: names no mail we sent",
                     extra={"account": account.id, "addresses": len(mail.bounced),
                            "counted": len(counted)})
            return
        own = str(cfg(account, "address")).lower()
        if not mail.from_addr or mail.from_addr == own:
            return  # our own mail (a copy in the folder), or no sender at all
        if not mail.payloads:
            await self.ctx.ingest(mail_to_inbound(account.id, mail))
            return
        # the files written off the event loop, before the message (bot.core.attachments)
        await self.ctx.ingest(await asyncio.to_thread(mail_to_inbound, account.id, mail,
                                                      self.ctx.settings))

    # --- replying ------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        account = message.account
        to = message.contact_external_id
        if "@" not in to:
            raise PermanentDeliveryError(Said(N_("this contact has no e-mail address")))
        mail = await asyncio.to_thread(compose_reply, account, message) if message.files \
            else compose_reply(account, message)  # (files are read from disk)
        try:
            await self.send_mail(account, mail)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if all(400 <= c < 500 for c in codes):
                raise DeliveryError(Said(N_("the mail server deferred %(to)s: %(detail)s"),
                                         to=to, detail=exc.recipients[0].message)) from exc
            raise RecipientUnreachable(Said(N_("the mail server refused %(to)s: %(detail)s"),
                                            to=to, detail=exc.recipients[0].message)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise DeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
            raise PermanentDeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
        except HostRefused as exc:
            raise PermanentDeliveryError(str(exc)) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(Said(N_("cannot reach the SMTP server: %(detail)s"),
                                     detail=str(exc))) from exc
        return SendResult(external_id=str(mail["Message-ID"]))

    async def send_mail(self, account: AccountInfo,
                        mail: EmailMessage | tuple[str, str, bytes]) -> None:
        """Hand one mail to the account's SMTP server over a kept-open connection, within
        the account's concurrency and rate (raises aiosmtplib's errors)."""
        key = tuple(cfg(account, k) for k in ("smtp_host", "smtp_port", "smtp_tls",
                                              "smtp_user", "smtp_password", "concurrency",
                                              "rate_per_sec"))
        held = self._pools.get(account.id)
        if held is None or held[0] != key:
            if held is not None:
                await held[1].close()
            user = str(cfg(account, "smtp_user"))
            pool = SmtpPool(lambda: self._smtp(account),
                            (user, str(cfg(account, "smtp_password"))) if user else None,
                            int(cfg(account, "concurrency", DEFAULT_CONCURRENCY)),
                            float(cfg(account, "rate_per_sec", DEFAULT_RATE)),
                            functools.partial(self._check_smtp, account))
            held = self._pools[account.id] = (key, pool)
        await held[1].send(mail)


def message_id(account: AccountInfo, key: str) -> str:
    """A deterministic Message-ID: the same key always gives the same id, so a mail sent
    again after a crash is recognisably the same mail. Keyed with the account's secret, so
    no one else can work it out from the key (``enr:<id>:step:<n>``): a forged bounce
    cannot name one of our mails it has not seen."""
    domain = str(cfg(account, "address")).rsplit("@", 1)[-1] or "switchboard.local"
    text = f"{account.id}:{key}".encode()
    digest = hmac.new(account.secret.encode(), text, hashlib.sha256).hexdigest()[:32] \
        if account.secret else hashlib.sha256(text).hexdigest()[:24]
    return f"<sb.{digest}@{domain}>"


def compose_reply(account: AccountInfo, message: OutboundMessage) -> EmailMessage:
    """A staff reply as a mail in the customer's thread (In-Reply-To, References)."""
    meta = message.reply_to_meta or {}
    # a decoded subject ('=?utf-8?q?Hi=0D=0A…?=') or a name may hold a line break: kept
    # on one line, it can neither add a header nor make the mail unsendable
    subject = mime.one_line(str(meta.get("subject") or "")).strip()
    if subject and not subject.lower().startswith(("re:", "aw:", "odp:", "ответ:")):
        subject = f"Re: {subject}"
    mail = EmailMessage()
    mail["From"] = formataddr((mime.one_line(account.name), str(cfg(account, "address"))))
    mail["To"] = message.contact_external_id
    mail["Subject"] = subject or mime.one_line(f"Your message to {account.name}")
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = message_id(account, f"reply:{message.message_id}")
    if message.reply_to_external_id:
        # the whole Message-ID: a long one is stored fitted (with a hash) as the external id
        parent = str(meta.get("message_id") or message.reply_to_external_id)
        refs = [*(meta.get("references") or []), parent]
        mail["In-Reply-To"] = parent
        mail["References"] = " ".join(dict.fromkeys(refs))
    mail.set_content(message.text)
    for f in message.files:  # the mail is one part: it goes out whole or not at all
        maintype, _, subtype = f.content_type.partition("/")
        mail.add_attachment(f.read(), maintype=maintype or "application",
                            subtype=subtype or "octet-stream", filename=f.file_name)
    return mail
