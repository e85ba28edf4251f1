"""Marketing e-mail consent per contact: pending, subscribed, unsubscribed or bounced,
with when and what set it. Every marketing send checks it; a change is honoured at once.

The one way through double opt-in (:func:`sign_up`, then :func:`confirm`) and out
(:func:`unsubscribe`), for the public pages and any other front end alike.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta

from bot.core.clean import fit
from bot.core.time import utcnow
from bot.models import Contact, Direction, Enrollment, MailSend, Message
from scheduler.marketing.errors import InvalidEmail, MailUnavailable
from scheduler.marketing.events import ContactFields, record_event

log = logging.getLogger("switchboard.consent")  # consent changes
# The signup's mail failures, under the name operators filter marketing's on.
marketing_log = logging.getLogger("switchboard.marketing")
STATES = ("pending", "subscribed", "unsubscribed", "bounced")
LEFT = ("unsubscribed", "bounced")  # only the owner's unsubscribe or a real bounce set these
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RESEND_AFTER = timedelta(minutes=10)


async def set_consent(email: str, state: str, source: str) -> int:
    """Set the consent of every contact with this address; how many there were."""
    if state not in STATES:
        raise ValueError(f"consent must be one of {', '.join(STATES)}")
    changed = await Contact.filter(email=email.strip().lower()).update(
        email_consent=state, email_consent_at=utcnow(), email_consent_source=source[:200])
    log.info("e-mail consent changed", extra={"state": state, "source": source,
                                              "contacts": changed})
    return changed


async def left_addresses(emails: Iterable[str | None]) -> set[str]:
    """Those of ``emails`` (lowercased) that some contact unsubscribed or bounced. Consent
    belongs to the address: a contact that gets it later (a chat visitor typing it, with
    no consent of its own) is no way round its owner's unsubscribe."""
    wanted = sorted({e.strip().lower() for e in emails if e})
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        rows = await Contact.filter(email__in=wanted[start:start + 500],
                                    email_consent__in=LEFT).values_list("email", flat=True)
        found.update(str(r).lower() for r in rows)
    return found


async def mark_bounced(account_id: int, address: str, message_ids: tuple[str, ...]) -> bool:
    """A delivery status notification said mail to ``address`` cannot be delivered. It
    counts (the address becomes *bounced*; True) only if it names, by Message-ID, a mail
    the shop sent to that address: a marketing mail (``MailSend``) or a reply from the
    inbox. Anyone can send a delivery report; only we know our Message-IDs (keyed with the
    account's secret: ``channels.email.adapter.message_id``), so a forged one silences no
    customer. A bounced confirmation mail is not recorded, so it does not count."""
    address = address.strip().lower()
    ids = [i for i in message_ids if i][:10]
    if not address or not ids or not await _sent_to(address, ids):
        log.warning("bounce ignored: it names no mail we sent to that address",
                    extra={"account": account_id, "message_ids": len(ids)})
        return False
    await set_consent(address, "bounced", f"bounce received by e-mail account {account_id}")
    return True


async def _sent_to(address: str, ids: list[str]) -> bool:
    if await MailSend.filter(message_id__in=ids, to__iexact=address).exists():
        return True
    return await Message.filter(external_id__in=ids, direction=Direction.OUTBOUND,
                                conversation__contact__email__iexact=address).exists()


async def sign_up(email: str, name: str, locale: str | None,
                  send_confirmation: Callable[[Contact], Awaitable[None]]) -> None:
    """The signup form: the contact (found by address, else new) becomes *pending* and
    gets the confirmation mail; at most one such mail every RESEND_AFTER, and none for an
    address already subscribed. Raises InvalidEmail or MailUnavailable.

    An address that unsubscribed or bounced stays so, and is mailed nothing: anyone can
    post this form with anyone's address, so it cannot undo the owner's choice (nor a
    bounce). The answer is the same as for any address, so the form tells no one who
    left. (So this form is no way back for such an address: a known limit.)"""
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 254 or \
            any(ord(c) < 0x20 or ord(c) == 0x7F for c in email):
        raise InvalidEmail()
    # a locale longer than its column is not one; a name is cut with a marker
    name, locale = fit(name, 200), locale if locale and len(locale) <= 16 else None
    if await Contact.filter(email=email, email_consent__in=LEFT).exists():
        log.info("signup form ignored: the address left", extra={"source": "signup form"})
        return
    contact = await Contact.filter(email=email).order_by("id").first()
    if contact is None:
        contact = await Contact.create(email=email, name=name, locale=locale or None)
    if contact.email_consent == "subscribed":
        return
    recent = contact.email_consent == "pending" and contact.email_consent_at and \
        utcnow() - contact.email_consent_at < RESEND_AFTER
    if recent:
        return
    await set_consent(email, "pending", "signup form (waiting for confirmation)")
    try:
        await send_confirmation(contact)
    except Exception as exc:  # the SMTP server, the account: nothing is sent
        marketing_log.warning("confirmation mail not sent", extra={"error": str(exc)})
        raise MailUnavailable() from exc


async def confirm(contact_id: int) -> bool:
    """The confirmation link was followed: the contact is *subscribed* and the welcome
    series starts (a ``signup`` event). False if there is no such contact, or if it left
    (unsubscribed, bounced) after that link was mailed: an old link, or a mail scanner
    following it, never subscribes someone again; signing up again mails a new one."""
    contact = await Contact.filter(id=contact_id).first()
    if contact is None or not contact.email or \
            contact.email_consent not in ("pending", "subscribed"):
        return False
    if contact.email_consent != "subscribed":
        await set_consent(contact.email, "subscribed", "double opt-in confirmed")
        await record_event("signup", "optin", f"optin:{contact.id}",
                           ContactFields(email=contact.email), {})
    return True


async def unsubscribe(contact_id: int, source: str) -> None:
    """Unsubscribed at once: the consent changes and every active enrolment ends."""
    contact = await Contact.filter(id=contact_id).first()
    if contact is None:
        return
    if contact.email:
        await set_consent(contact.email, "unsubscribed", source)
    else:
        await Contact.filter(id=contact_id).update(
            email_consent="unsubscribed", email_consent_at=utcnow(),
            email_consent_source=source[:200])
    await Enrollment.filter(contact_id=contact_id, state="active").update(
        state="exited", ended_reason="unsubscribed", due_at=None)
