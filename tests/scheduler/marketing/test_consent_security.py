"""Issue 19 points 5 (/subscribe's next), 7 (the signup form never undoes an unsubscribe
or a bounce; a bounce counts only for a mail the shop sent) and 16 (/subscribe's limit,
and its origin check)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from bot.core.channel import AccountInfo
from bot.core.keys import ADAPTERS
from bot.core.time import utcnow
from bot.models import ChannelAccount, Contact, MailSend
from channels.email.adapter import message_id
from channels.email.mailer import MAILER
from channels.email.parse import parse_mail
from scheduler.marketing import consent
from tests.conftest import Shop, make_settings, start_shop


class Sent:
    """Stands in for the mailer's send_confirmation: who would have been mailed."""

    def __init__(self) -> None:
        self.to: list[str] = []

    async def __call__(self, contact: Contact) -> None:
        self.to.append(str(contact.email))


@pytest.fixture
def sent(shop: Shop) -> Sent:
    fake = Sent()
    shop.client.app[MAILER].send_confirmation = fake
    return fake


def address() -> str:
    return f"ann-{uuid.uuid4().hex[:8]}@customer.test"


# --- point 7: the public form never brings back someone who left ---------------------------

@pytest.mark.parametrize("left", ["unsubscribed", "bounced"])
async def test_signup_form_does_not_undo_leaving(shop: Shop, sent: Sent, left: str) -> None:
    email = address()
    contact = await Contact.create(name="Ann", email=email, email_consent=left,
                                   email_consent_source="unsubscribe link")
    resp = await shop.client.post("/subscribe", data={"email": email.upper()})
    assert resp.status == 202  # the same answer as for anyone: it tells no one who left
    await contact.refresh_from_db()
    assert contact.email_consent == left
    assert contact.email_consent_source == "unsubscribe link"
    assert sent.to == []  # and nothing is mailed to them


async def test_signup_form_checks_every_contact_with_the_address(shop: Shop,
                                                                 sent: Sent) -> None:
    """An older contact with the address and no consent yet (a chat visitor, say) does not
    let the form reach the one that unsubscribed."""
    email = address()
    older = await Contact.create(name="Ann", email=email)
    left = await Contact.create(name="Ann L", email=email, email_consent="unsubscribed")
    assert (await shop.client.post("/subscribe", json={"email": email})).status == 202
    await left.refresh_from_db()
    await older.refresh_from_db()
    assert (left.email_consent, older.email_consent) == ("unsubscribed", "")
    assert sent.to == []


async def test_signup_form_still_signs_up_a_new_address(shop: Shop, sent: Sent) -> None:
    email = address()
    assert (await shop.client.post("/subscribe", json={"email": email})).status == 202
    assert (await Contact.get(email=email)).email_consent == "pending"
    assert sent.to == [email]


# --- point 5: next goes only to the shop's own origins ------------------------------------------

@pytest.mark.parametrize(("nxt", "where"), [
    ("https://shop.example.test/thanks?x=1", "https://shop.example.test/thanks?x=1"),
    ("https://SHOP.example.test:443/thanks", "https://shop.example.test/thanks"),
    ("/thanks", "/thanks"),
    ("https://evil.example/thanks", None),
    ("https://shop.example.test.evil.example/", None),
    ("https://shop.example.test@evil.example/", None),
    ("https://shop.example.test\\@evil.example/", None),
    ("https://evil.example\\@shop.example.test/", None),
    ("//evil.example/", None),
    ("/\\evil.example", None),
    ("/\t/evil.example", None),
    ("http://shop.example.test/thanks", None),  # another scheme: another origin
    ("javascript:alert(1)", None),
    ("https://[::1", None),
])
async def test_next_leads_only_to_the_shops_origins(shop: Shop, sent: Sent, nxt: str,
                                                    where: str | None) -> None:
    resp = await shop.client.post("/subscribe", allow_redirects=False,
                                  data={"email": address(), "next": nxt})
    if where is None:
        assert resp.status == 202 and "Location" not in resp.headers
        assert "Check your inbox" in await resp.text()
    else:
        assert resp.status == 303 and resp.headers["Location"] == where


async def test_next_may_lead_to_allowed_origins(aiohttp_client: Any, tmp_path: Path) -> None:
    shop = await start_shop(aiohttp_client, make_settings(
        tmp_path, allowed_origins="https://sandals.example, http://localhost:8080"))
    shop.client.app[MAILER].send_confirmation = Sent()
    for nxt in ("https://sandals.example/thanks", "http://localhost:8080/ok"):
        resp = await shop.client.post("/subscribe", allow_redirects=False,
                                      data={"email": address(), "next": nxt})
        assert resp.status == 303 and resp.headers["Location"] == nxt


# --- point 16 and its sibling: /subscribe's origin and limit ---------------------------------

async def test_a_foreign_page_cannot_post_the_form(shop: Shop, sent: Sent) -> None:
    for origin, status in (("https://evil.example", 403), ("null", 403),
                           ("https://shop.example.test", 202)):
        email = address()
        resp = await shop.client.post("/subscribe", headers={"Origin": origin},
                                      json={"email": email})
        assert resp.status == status, origin
    assert len(sent.to) == 1
    resp = await shop.client.post("/subscribe", headers={"Origin": "https://evil.example"},
                                  data={"email": address()})
    assert resp.status == 403 and "own site" in await resp.text()


async def test_subscribe_is_limited_per_address(aiohttp_client: Any, tmp_path: Path,
                                                still_limits: None) -> None:
    shop = await start_shop(aiohttp_client, make_settings(
        tmp_path, public_limit_address="2/minute"))
    shop.client.app[MAILER].send_confirmation = Sent()
    for _ in range(2):
        assert (await shop.client.post("/subscribe", json={"email": address()})).status == 202
    resp = await shop.client.post("/subscribe", json={"email": address()})
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json())["error"]["code"] == "too_many"
    resp = await shop.client.post("/subscribe", data={"email": address()})
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1


# --- point 7: a bounce counts only for a mail we sent -------------------------------------

def dsn(failed: str, original_id: str | None, headers_only: bool = False) -> bytes:
    """An RFC 3464 delivery status notification about a mail to ``failed``, returning the
    mail (``message/rfc822``) or only its headers (``text/rfc822-headers``)."""
    original = (f"From: hello@shop.test\r\nTo: {failed}\r\nSubject: Sale\r\n"
                + (f"Message-ID: {original_id}\r\n" if original_id else ""))
    returned = ("Content-Type: text/rfc822-headers\r\n\r\n" + original if headers_only
                else "Content-Type: message/rfc822\r\n\r\n" + original + "\r\nOur sale\r\n")
    return (
        "From: MAILER-DAEMON@mx.customer.test\r\nTo: hello@shop.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mx.customer.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type="delivery-status"; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nYour mail could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.test\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--B\r\n{returned}--B--\r\n").encode()


def test_a_dsn_names_the_failed_mail() -> None:
    for headers_only in (False, True):
        mail = parse_mail(dsn("gone@customer.test", "<sb.abc@shop.test>", headers_only))
        assert mail.bounced == ("gone@customer.test",)
        assert mail.bounced_ids == ("<sb.abc@shop.test>",)


async def mail_sent_to(email: str) -> tuple[Contact, str]:
    contact = await Contact.create(name="Ann", email=email, email_consent="subscribed")
    mid = f"<sb.{uuid.uuid4().hex}@shop.test>"
    await MailSend.create(key=f"test:{uuid.uuid4().hex}", contact=contact, to=email,
                          message_id=mid, state="sent")
    return contact, mid


async def store(shop: Shop, raw: bytes) -> None:
    """What the e-mail channel does with a mail read from the mailbox."""
    adapter = shop.client.app[ADAPTERS]["email"]
    account = AccountInfo(id=1, kind="email", name="Shop mail", callback_url="",
                          settings={"address": "hello@shop.test"}, secret="s")
    await adapter._store(account, raw)


async def test_a_forged_bounce_silences_no_one(shop: Shop) -> None:
    email = address()
    contact, mid = await mail_sent_to(email)
    other, other_mid = await mail_sent_to(address())
    for forged in (dsn(email, None),  # names no mail
                   dsn(email, "<made-up@shop.test>"),  # a mail we never sent
                   dsn(email, other_mid)):  # our mail, but to someone else
        await store(shop, forged)
        await contact.refresh_from_db()
        assert contact.email_consent == "subscribed"
    await store(shop, dsn(email.upper(), mid))  # the real thing
    await contact.refresh_from_db()
    assert contact.email_consent == "bounced" and "bounce" in contact.email_consent_source
    await other.refresh_from_db()
    assert other.email_consent == "subscribed"


async def test_a_bounced_reply_from_the_inbox_counts(shop: Shop) -> None:
    from bot.models import Conversation, DeliveryStatus, Direction, Message

    email = address()
    contact = await Contact.create(name="Ann", email=email)
    account = await ChannelAccount.filter(kind="api").first()
    assert account is not None
    conv = await Conversation.create(contact=contact, channel_account=account,
                                     channel_kind="api", last_message_at=utcnow())
    mid = f"<sb.{uuid.uuid4().hex}@shop.test>"
    await Message.create(conversation=conv, channel_account=account, direction=Direction.OUTBOUND,
                         external_id=mid, text="Thanks!", status=DeliveryStatus.SENT)
    assert not await consent.mark_bounced(1, email, ("<other@shop.test>",))
    assert await consent.mark_bounced(1, email, (mid,))
    assert (await Contact.get(id=contact.id)).email_consent == "bounced"


def test_message_ids_cannot_be_worked_out_from_the_key() -> None:
    def account(secret: str) -> AccountInfo:
        return AccountInfo(id=1, kind="email", name="m", callback_url="",
                           settings={"address": "hello@shop.test"}, secret=secret)
    a, b = account("one secret"), account("another")
    assert message_id(a, "enr:1:step:0") == message_id(a, "enr:1:step:0")  # deterministic
    assert message_id(a, "enr:1:step:0") != message_id(b, "enr:1:step:0")
    assert message_id(a, "enr:1:step:0").endswith("@shop.test>")


# --- the sibling: consent belongs to the address, not to one contact -------------------------

async def test_a_second_contact_with_a_left_address_gets_no_marketing(shop: Shop) -> None:
    """A chat visitor who types an address that unsubscribed (as another contact) has no
    consent of its own: no broadcast reaches it, and left_addresses names it."""
    from types import SimpleNamespace

    from bot.models import Segment
    from scheduler.marketing.broadcasts import BroadcastRunner

    email = address()
    await Contact.create(name="Ann", email=email, email_consent="unsubscribed")
    visitor = await Contact.create(name="Visitor", email=email.title())  # typed in the chat
    fresh = await Contact.create(name="Bo", email=address())
    seg = await Segment.create(name=f"all-{uuid.uuid4().hex[:6]}", rules={"conditions": []})
    people = await BroadcastRunner(shop.client.app[MAILER]).audience(
        SimpleNamespace(segment_id=seg.id))  # type: ignore[arg-type]
    ids = {c.id for c in people}
    assert visitor.id not in ids and fresh.id in ids
    assert await consent.left_addresses([email.upper(), fresh.email, None]) == {email}


@pytest.mark.parametrize("body", [
    {"email": address(), "locale": "x" * 40},
    {"email": address(), "name": "N" * 500, "locale": "vi"},
    {"email": address(), "name": "Ann\x00 \ud800"},
    {"email": "ann\x00@customer.test"},
    {"email": "ann\x7f@customer.test"},
])
async def test_signup_form_takes_bad_text_without_a_500(shop: Shop, sent: Sent,
                                                        body: dict[str, str]) -> None:
    """The public form is a way in like any other: text is cleaned, a name fitted, a locale
    that cannot be one dropped, an address with a control character refused (never a 500,
    on PostgreSQL neither)."""
    resp = await shop.client.post("/subscribe", json=body)
    assert resp.status in (202, 400, 422), await resp.text()
    if resp.status == 202:
        contact = await Contact.get(email=body["email"].replace("\x00", ""))
        assert len(contact.name) <= 200 and "\x00" not in contact.name
        assert contact.locale in (None, "vi")
