"""The marketing mailer: renders a mail from ``templates/email/<lang>.j2`` (text) and
``layout.html`` (HTML), with ``List-Unsubscribe`` / ``List-Unsubscribe-Post`` (RFC 8058
one-click) and a deterministic Message-ID, and sends it with the shop's e-mail account
(over the e-mail adapter's kept-open SMTP connections).

Its links carry signed tokens (:func:`sign`, :func:`unsign`): the unsubscribe link, the
click redirect, the open pixel and the double opt-in confirmation. Marketing
(``scheduler.marketing``) checks them when they come back.
"""

from __future__ import annotations

import html
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import aiosmtplib
import jinja2
from aiohttp import web
from jinja2 import TemplateError

from bot.core import bounded
from bot.core.channel import AccountInfo
from bot.core.time import utcnow
from bot.core.vault import SealError
from bot.models import ChannelAccount, Contact
from bot.services.flows.texts import TEMPLATES, Texts, language
from bot.services.replies import account_info, contact_context
from channels.email import mime
from channels.email.account import HostRefused
from channels.email.adapter import message_id
from channels.signing import Link, read_link, sign_link
from config import Settings

log = logging.getLogger("switchboard.marketing")  # the mailer logs as marketing
MAILS = Texts("email")
_layout = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES / "email"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
BUTTONS = {"cart": ("cart_button", "url"), "review": ("review_button", "review_url"),
           "welcome": ("shop_button", "shop_url"), "winback": ("shop_button", "shop_url"),
           "confirm": ("confirm_button", "confirm_url")}


# --- signed links ----------------------------------------------------------------------------

def sign(secret: str, purpose: str, value: str) -> str:
    """``value`` signed for ``purpose`` and stamped with the time (channels.signing)."""
    return sign_link(secret, purpose, value)


def unsign(secret: str, purpose: str, token: str) -> Link | None:
    """The link's value and issue time if we signed it; ``Link.fresh`` tells its age."""
    return read_link(secret, purpose, token)


# --- sending -----------------------------------------------------------------------------------

class PermanentMailError(Exception):
    permanent = True


class MailNotBuilt(PermanentMailError):
    """This contact's mail cannot be made: its template, or its address (a line break in
    it would start a header of its own)."""


class TemplateFailed(MailNotBuilt):
    """A broadcast's subject or body cannot be rendered (for this contact)."""


@runtime_checkable
class SendsMail(Protocol):
    """What the mailer needs of the e-mail adapter (``EmailChannel.send_mail``)."""

    async def send_mail(self, account: AccountInfo,
                        mail: EmailMessage | tuple[str, str, bytes]) -> None: ...


@dataclass(frozen=True)
class Prepared:
    account: AccountInfo
    mail: tuple[str, str, bytes]  # sender, recipient, the bytes
    subject: str
    message_id: str


class Mailer:
    """Renders and sends marketing mails (drip steps, broadcasts), the double opt-in mail
    and staff alerts with the shop's (first enabled) e-mail account."""

    def __init__(self, adapters: Mapping[str, object], settings: Settings) -> None:
        self.adapters, self.settings = adapters, settings
        self._account: tuple[float, AccountInfo] | None = None

    def base(self) -> str:
        return self.settings.public_url.rstrip("/") or \
            f"http://{self.settings.host}:{self.settings.port}"

    def render(self, contact: Contact, template: str, context: dict[str, Any],
               marketing: bool = True, key: str = "") -> tuple[str, str, str]:
        """(subject, text, html) in the contact's language; a marketing mail ends with
        the unsubscribe link. With ``key`` (a MailSend's), its link goes through the
        click redirect and the HTML carries the open pixel."""
        lang = language(contact.locale)
        shop = self.settings.shop_name
        first = (contact.name or "").split(" ")[0]
        items = [{"title": str(i.get("title") or i.get("name") or ""),
                  "quantity": i.get("quantity", 1), "price": str(i.get("price") or "")}
                 for i in context.get("items") or [] if isinstance(i, dict)]
        label_key, url_key = BUTTONS.get(template.split("_", 1)[0], ("shop_button", ""))
        return self._assemble(
            contact, lang, MAILS.text(lang, f"{template}_subject", shop=shop),
            MAILS.text(lang, f"{template}_body", name=first, shop=shop), items,
            str(context.get(url_key) or ""), label_key, marketing, key)

    def _assemble(self, contact: Contact, lang: str, subject: str, body: str,
                  items: list[dict[str, Any]], url: str, label_key: str, marketing: bool,
                  key: str) -> tuple[str, str, str]:
        shop = self.settings.shop_name
        if url and key:
            url = self.click_url(key, url)
        unsub = self.unsubscribe_url(contact.id)
        lines = [body]
        if items:
            lines.append(MAILS.text(lang, "items_heading") + ":\n" + "\n".join(
                f"- {i['title']} × {i['quantity']} {i['price']}".rstrip() for i in items))
        if url:
            lines.append(f"{MAILS.text(lang, label_key)}: {url}")
        if marketing:
            lines.append(f"--\n{MAILS.text(lang, 'unsubscribe_note', shop=shop)}\n"
                         f"{MAILS.text(lang, 'unsubscribe')}: {unsub}")
        html = _layout.get_template("layout.html").render(
            lang=lang, subject=subject, shop=shop, body=body, items=items,
            items_heading=MAILS.text(lang, "items_heading"), button_url=url,
            button=MAILS.text(lang, label_key), note=MAILS.text(lang, "unsubscribe_note",
                                                                   shop=shop),
            unsubscribe=MAILS.text(lang, "unsubscribe"),
            unsubscribe_url=unsub if marketing else "",
            pixel_url=self.open_url(key) if key else "")
        return subject, "\n\n".join(lines), html

    async def prepare_custom(self, key: str, contact: Contact, subject: str,
                             body: str) -> Prepared:
        """A broadcast's mail: its subject and body are the marketer's own (sandboxed
        jinja2 with the contact's fields, like canned replies), rendered off the event loop
        within the template limits (:mod:`bot.core.bounded`); TemplateFailed if they
        cannot be."""
        account = await self.account()
        rendered = await self.render_custom(contact, subject, body, key)
        mail = self.compose(account, str(contact.email), key, rendered,
                            self.unsubscribe_url(contact.id))
        return Prepared(account, mail, rendered[0], message_id(account, key))

    async def render_custom(self, contact: Contact, subject: str, body: str,
                            key: str = "") -> tuple[str, str, str]:
        """(subject, text, html) of a broadcast's mail for ``contact``, in its language
        (what :meth:`prepare_custom` sends, and the compose page's preview); TemplateFailed
        if the marketer's subject or body cannot be rendered."""
        fields = contact_context(contact)
        try:
            subject, body = (await bounded.render_async(subject, fields),
                             await bounded.render_async(body, fields))
        except TemplateError as exc:
            raise TemplateFailed(f"the template could not be rendered: {exc}") from None
        return self._assemble(contact, language(contact.locale), subject, body, [], "",
                              "shop_button", True, key)

    def open_url(self, key: str) -> str:
        return f"{self.base()}/o/{sign(self.settings.secret_key.get(), 'open', key)}.gif"

    def click_url(self, key: str, url: str) -> str:
        value = f"{key}|{url}"  # the link carries the URL itself: only "<issued>.<mac>" here
        mac = sign(self.settings.secret_key.get(), "click", value).removeprefix(value + ".")
        return f"{self.base()}/c/{quote(key, safe='')}/{mac}?u={quote(url, safe='')}"

    def unsubscribe_url(self, contact_id: int) -> str:
        token = sign(self.settings.secret_key.get(), "unsubscribe", str(contact_id))
        return f"{self.base()}/u/{token}"

    async def account(self) -> AccountInfo:
        """The e-mail account marketing mail goes out from (looked up every few seconds,
        not for every mail)."""
        now = time.monotonic()
        if self._account is not None and self._account[0] > now:
            return self._account[1]
        rows = await ChannelAccount.filter(kind="email", enabled=True).order_by("id")
        for row in rows:
            try:
                info = account_info(row)
            except SealError:  # unreadable under this secret_key: the next account sends
                log.warning("e-mail account skipped: its secrets cannot be opened",
                            extra={"account": row.id})
                continue
            self._account = (now + 5.0, info)
            return info
        raise PermanentMailError("no e-mail account is connected to send from" if not rows
                                 else "no e-mail account's secrets can be opened (was "
                                 "secret_key changed? enter them again on the Channels page)")

    def compose(self, account: AccountInfo, to: str, key: str, rendered: tuple[str, str, str],
                unsubscribe: str = "") -> tuple[str, str, bytes]:
        """(sender, recipient, the mail's bytes) with a Message-ID derived from ``key``."""
        subject, text, html = rendered
        sender = str(account.settings["address"])
        extra = {"X-Switchboard": key}
        if unsubscribe:
            extra["List-Unsubscribe"] = f"<{unsubscribe}>"
            extra["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        try:
            raw = mime.build(self.settings.shop_name, sender, to, subject,
                             message_id(account, key), format_datetime(utcnow()), text,
                             html, extra)
        except ValueError as exc:  # an address with a line break
            raise MailNotBuilt(str(exc)) from None
        return sender, to, raw

    async def send_notice(self, to: str, subject: str, text: str) -> None:
        """A plain mail to the shop's staff (an alert): not marketing, no tracking."""
        account = await self.account()
        key = f"notice:{secrets.token_hex(8)}"
        raw = mime.build(self.settings.shop_name, str(account.settings["address"]), to,
                         subject, message_id(account, key), format_datetime(utcnow()),
                         text, f"<pre>{html.escape(text)}</pre>", {"X-Switchboard": key})
        await self._deliver(account, (str(account.settings["address"]), to, raw))

    async def send_confirmation(self, contact: Contact) -> None:
        """The double opt-in mail: one signed link that confirms the subscription."""
        account = await self.account()
        token = sign(self.settings.secret_key.get(), "confirm", str(contact.id))
        rendered = self.render(contact, "confirm_1",
                               {"confirm_url": f"{self.base()}/confirm/{token}"},
                               marketing=False)
        key = f"confirm:{contact.id}:{int(utcnow().timestamp() // 3600)}"
        await self._deliver(account, self.compose(account, str(contact.email), key,
                                                  rendered))

    async def prepare(self, key: str, contact: Contact, template: str,
                      context: dict[str, Any]) -> Prepared:
        """A drip step's mail, ready to send (its Message-ID follows from ``key``)."""
        account = await self.account()
        rendered = self.render(contact, template, context, key=key)
        mail = self.compose(account, str(contact.email), key, rendered,
                            self.unsubscribe_url(contact.id))
        return Prepared(account, mail, rendered[0], message_id(account, key))

    async def deliver(self, prepared: Prepared) -> None:
        """Send it. A reply finds the contact by its address (``bot.core.ingest``), so it lands
        on this contact's conversation."""
        await self._deliver(prepared.account, prepared.mail)

    async def _deliver(self, account: AccountInfo, mail: tuple[str, str, bytes]) -> None:
        """Send; a 5xx answer is a PermanentMailError (trying again cannot help)."""
        adapter = self.adapters.get("email")
        if not isinstance(adapter, SendsMail):
            raise PermanentMailError("the e-mail channel is not installed")
        try:
            await adapter.send_mail(account, mail)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if any(c >= 500 for c in codes):
                first = exc.recipients[0]
                raise PermanentMailError(f"refused ({first.code}): {first.message}") from exc
            raise
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                raise PermanentMailError(f"SMTP {exc.code}: {exc.message}") from exc
            raise
        except HostRefused as exc:  # the outbound policy: trying again cannot help
            raise PermanentMailError(str(exc)) from exc


MAILER: web.AppKey[Mailer] = web.AppKey("mailer")
