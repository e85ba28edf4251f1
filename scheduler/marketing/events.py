"""Shop events (signup, checkout started or updated, order placed): the one way they come
in, from the REST API, the store webhooks and the double opt-in alike.

:func:`record_event` stores an event once (per source and id), finds or creates the
contact by e-mail, credits an order to the mail clicked before it (:func:`attribute`),
and lets the sequences react (``scheduler.marketing.sequences.on_event``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from bot.models import Contact, MailSend, ShopEvent
from bot.services.reports.shop_state import cents
from scheduler.marketing.clock import now
from scheduler.marketing.sequences import on_event

ATTRIBUTION = timedelta(days=7)  # an order this soon after a click converts the mail


def set_window(days: int) -> None:
    """The attribution window, from the setting ``attribution_days`` (the composition
    root sets it at start)."""
    global ATTRIBUTION
    ATTRIBUTION = timedelta(days=days)


class ContactFields(NamedTuple):
    """Who an event is about (only ``email`` finds the contact; the rest fills gaps)."""

    email: str
    name: str = ""
    locale: str | None = None
    phone: str | None = None


class Recorded(NamedTuple):
    event: ShopEvent
    created: bool  # False: a redelivery, nothing changed
    enrolled: list[int]  # ids of the new enrolments

    @property
    def contact_id(self) -> int:
        return int(self.event.contact_id)  # type: ignore[attr-defined]


async def record_event(kind: str, source: str, external_id: str, contact: ContactFields,
                       payload: dict[str, object], occurred_at: datetime | None = None
                       ) -> Recorded:
    """Store an event once. A redelivered event (same source and id) changes nothing."""
    known = await ShopEvent.filter(source=source, external_id=external_id).first()
    if known is not None:
        return Recorded(known, False, [])
    email = contact.email.strip().lower()
    person = await Contact.filter(email=email).order_by("id").first() if email else None
    if person is None:
        person = await Contact.create(name=contact.name, email=email or None,
                                      locale=contact.locale or None,
                                      phone=contact.phone or None)
    else:
        given = contact._asdict()
        fill = {k: given[k] for k in ("name", "locale", "phone")
                if given[k] and not getattr(person, k)}
        if fill:
            await Contact.filter(id=person.id).update(**fill)
    event = await ShopEvent.create(kind=kind, source=source, external_id=external_id,
                                   contact=person, payload=payload,
                                   occurred_at=occurred_at or now())
    if kind == "order_placed":
        await attribute(event)
    return Recorded(event, True, await on_event(event))


async def attribute(order: ShopEvent) -> None:
    """An order within ATTRIBUTION of a click on a mail converts that mail (the latest
    clicked one), with the order's total as its revenue."""
    since = order.occurred_at - ATTRIBUTION
    mail = await MailSend.filter(contact_id=order.contact_id,  # type: ignore[attr-defined]
                                 clicked_at__gte=since, clicked_at__lte=order.occurred_at,
                                 converted_at__isnull=True).order_by("-clicked_at").first()
    if mail is None:
        return
    # the reports' reading of a total (a decimal comma is one: 12,50 is 12.50)
    revenue = cents(order.payload.get("total")) / 100
    await MailSend.filter(id=mail.id, converted_at__isnull=True).update(
        converted_at=order.occurred_at, revenue=revenue)
