"""Every field an inbound message brings from outside fits its column (issue 19 point 3):
one over-long value failed the write on PostgreSQL ("value too long") and stopped the
channel's loop on that item for ever. Fitted once, where InboundMessage becomes rows."""

from __future__ import annotations

from typing import Any

from bot.core.channel import ContactInfo, InboundMessage
from bot.models import Contact, Conversation, Identity, Message
from bot.services import contacts
from bot.services.inbox import INTAKE, edit_inbound
from tests.conftest import Shop, message


def long_contact(tag: str) -> ContactInfo:
    return ContactInfo(external_id=f"{tag}-" + "i" * 400, name="N" * 300,
                       email="e" * 300 + "@shop.test", phone="5" * 100, locale="x" * 40)


async def test_over_long_values_are_stored_fitted(shop_any_db: Shop) -> None:
    intake = shop_any_db.client.app[INTAKE]
    acct = shop_any_db.seed["api_account_id"]
    ext, thread = "<" + "m" * 400 + "@mail.test>", "<" + "r" * 400 + "@mail.test>"
    msg = InboundMessage(channel_account_id=acct, external_id=ext, contact=long_contact("c"),
                         text="hello", thread_id=thread, author=long_contact("a"),
                         payload="p" * 100, meta={"subject": "s"})
    first = await intake.ingest(msg)
    assert first.created
    stored = await Message.get(id=first.message_id)
    assert len(stored.external_id or "") == 255 and "…" in (stored.external_id or "")
    assert stored.meta["uncut"] == {"external_id": ext, "thread_id": thread}
    assert stored.meta["subject"] == "s"
    assert stored.payload == "p" * 63 + "…"
    conv = await Conversation.get(id=first.conversation_id)
    assert len(conv.thread_key or "") == 255
    contact = await Contact.get(id=first.contact_id)
    assert contact.name == "N" * 199 + "…"
    assert contact.email is None  # too long to be an address: not kept
    assert contact.phone == "5" * 63 + "…" and contact.locale == "x" * 15 + "…"
    idents = await Identity.all().order_by("id").values_list("external_id", flat=True)
    assert all(len(str(i)) <= 255 for i in idents)
    author = await Contact.get(id=stored.author_id)  # type: ignore[attr-defined]
    assert len(author.name) == 200

    # the same message again is a redelivery; another long id in the thread joins it
    again = await intake.ingest(msg)
    assert not again.created and again.message_id == first.message_id
    other = await intake.ingest(InboundMessage(
        channel_account_id=acct, external_id=ext.replace(">", "2>"),
        contact=long_contact("c"), text="more", thread_id=thread))
    assert other.created and other.message_id != first.message_id
    assert other.conversation_id == first.conversation_id
    # the look-ups by the whole id find what was stored fitted
    assert await edit_inbound(acct, ext, "edited") == first.message_id
    assert await contacts.thread_known(acct, thread)
    assert len(await contacts.contact_history(acct, long_contact("c").external_id)) == 2
    assert await contacts.update_contact_fields(acct, long_contact("c").external_id,
                                                {"name": "Z" * 500})
    assert (await Contact.get(id=first.contact_id)).name == "Z" * 199 + "…"


async def test_the_api_channel_refuses_over_long_values_with_a_4xx(shop_any_db: Shop
                                                                   ) -> None:
    cases: list[dict[str, Any]] = [
        message(external_id="x" * 256), message(thread_id="t" * 256),
        message(contact="c" * 256),
        {**message(), "contact": {"external_id": "c", "name": "n" * 201}},
    ]
    for field, size in (("email", 255), ("phone", 65), ("locale", 17)):
        body = message()
        body["contact"][field] = "a" * (size - 10) + "@shop.test" if field == "email" \
            else "a" * size
        cases.append(body)
    for body in cases:
        resp = await shop_any_db.inbound(body)
        assert 400 <= resp.status < 500, (resp.status, await resp.text())


async def test_a_lone_surrogate_is_cleaned_even_with_nothing_else_to_clean(
        shop_any_db: Shop) -> None:
    intake = shop_any_db.client.app[INTAKE]
    msg = InboundMessage(channel_account_id=shop_any_db.seed["api_account_id"],
                         external_id="s-1", contact=ContactInfo("c-s", name="Ann \udc80"),
                         text="caf\udce9 ok")
    stored = await Message.get(id=(await intake.ingest(msg)).message_id)
    assert stored.text == "caf\ufffd ok"
    assert (await Contact.get(name="Ann \ufffd")).name == "Ann \ufffd"
