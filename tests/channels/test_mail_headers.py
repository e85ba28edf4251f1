"""Issue 19 point 12: a line break in a name or subject (a contact's name, a marketer's
subject, the shop's name) never starts a header of its own in a built mail."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from typing import Any

import pytest

from bot.core.channel import AccountInfo
from bot.models import Contact
from channels.email import mime
from channels.email.mailer import Mailer
from tests.conftest import make_settings

EVIL = "Hello\r\nBcc: x@evil.example\r\nX-Evil: 1"


def parse(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.SMTP)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


@pytest.mark.parametrize("line_break", ["\r\n", "\n", "\r"])
def test_line_breaks_in_subject_and_name_inject_no_header(line_break: str) -> None:
    evil = EVIL.replace("\r\n", line_break)
    raw = mime.build(evil, "shop@example.com", "ann@example.com", evil, "<id@example.com>",
                     "Mon, 01 Jan 2024 00:00:00 +0000", "text", "<p>html</p>",
                     {"X-Switchboard": evil})
    msg = parse(raw)
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert "Bcc" not in msg.keys()  # noqa: SIM118 (keys() lists repeated headers too)
    assert "x@evil.example" in str(msg["Subject"])  # kept, on the subject's one line
    assert msg.get_body(("plain",)).get_content().strip() == "text"  # type: ignore[union-attr]


def test_non_ascii_subject_with_line_break_injects_no_header() -> None:
    raw = mime.build("Zoë\r\nBcc: x@evil.example", "shop@example.com", "ann@example.com",
                     "Größe\r\nBcc: x@evil.example", "<id@example.com>",
                     "Mon, 01 Jan 2024 00:00:00 +0000", "text", "<p>html</p>")
    msg = parse(raw)
    assert msg["Bcc"] is None
    assert str(msg["Subject"]).startswith("Größe")


def test_an_address_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        mime.build("Shop", "shop@example.com", "ann@example.com\r\nBcc: x@evil.example",
                   "Hi", "<id@example.com>", "Mon, 01 Jan 2024 00:00:00 +0000", "t", "h")


async def test_marketer_subject_and_contact_name_inject_no_header(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, shop_name="Shop\r\nBcc: shop@evil.example")
    mailer = Mailer({}, settings)
    account = AccountInfo(id=1, kind="email", name="Shop", callback_url="",
                          settings={"address": "shop@example.com"}, secret="s")
    contact = Contact(id=7, name="Ann\r\nBcc: name@evil.example", email="ann@example.com")
    rendered = mailer._assemble(contact, "en", "Sale {{ 1 }}\r\nBcc: subj@evil.example",
                                "Body", [], "", "shop_button", True, "bc:1:7")
    _, _, raw = mailer.compose(account, "ann@example.com", "bc:1:7", rendered,
                               mailer.unsubscribe_url(7))
    msg = parse(raw)
    assert msg["Bcc"] is None
    assert "evil" not in "".join(k for k in msg.keys())


def test_a_staff_reply_to_a_subject_with_an_encoded_line_break_injects_no_header() -> None:
    """An inbound subject '=?utf-8?q?Hi=0D=0ABcc:_x@evil.example?=' decodes to a line
    break; the reply's subject (and the account's name) keep it on one line."""
    from datetime import UTC, datetime

    from bot.core.channel import OutboundMessage
    from channels.email.adapter import compose_reply
    from channels.email.parse import _header

    subject = _header("=?utf-8?q?Hi=0D=0ABcc:_x@evil.example?=")
    assert "\r\n" in subject
    account = AccountInfo(id=1, kind="email", name="Shop\r\nBcc: name@evil.example",
                          callback_url="", settings={"address": "shop@example.com"},
                          secret="s")
    mail = compose_reply(account, OutboundMessage(
        message_id=5, conversation_id=1, account=account,
        contact_external_id="ann@example.com", thread_id=None, text="Thanks",
        created_at=datetime.now(UTC), reply_to_external_id="<m1@example.com>",
        reply_to_meta={"subject": subject}))
    msg = parse(mail.as_bytes(policy=policy.SMTP))
    assert msg["Bcc"] is None
    assert str(msg["Subject"]) == "Re: Hi Bcc: x@evil.example"


async def test_a_contact_address_with_a_line_break_fails_its_broadcast_mail_only(
        shop: Any) -> None:
    from bot.models import Broadcast, ChannelAccount, MailSend
    from channels.email.mailer import MAILER
    from scheduler.marketing.broadcasts import BroadcastRunner

    await Contact.create(name="Eve", email="eve@example.test\r\nBcc: x@evil.example",
                         tags=["crlf"])
    status, seg = await shop.api("POST", "/api/v1/segments", json={
        "name": "crlf", "rules": {"conditions": [{"tag": "crlf"}]}})
    assert status == 201, seg
    await ChannelAccount.create(kind="email", name="mail", secret="e" * 64,
                                settings={"address": "shop@example.test"})
    status, b = await shop.api("POST", "/api/v1/broadcasts", json={
        "name": "b", "segment_id": seg["id"], "subject_a": "Hi", "body": "Body"})
    assert status == 201, b
    mailer = shop.client.server.app[MAILER]
    await BroadcastRunner(mailer).advance(b["id"])
    mail = await MailSend.get(broadcast_id=b["id"])
    assert mail.state == "failed" and "line break" in mail.error
    assert (await Broadcast.get(id=b["id"])).state == "sent"


async def test_a_drip_to_an_address_with_a_line_break_ends_instead_of_crashing_each_tick(
        shop: Any) -> None:
    from bot.models import ChannelAccount, Enrollment
    from scheduler.marketing.drips import DRIPS

    await ChannelAccount.create(kind="email", name="mail", secret="e" * 64,
                                settings={"address": "shop@example.test"})
    status, body = await shop.api("POST", "/api/v1/events", json={
        "id": "signup-zed", "type": "signup", "contact": {"email": "zed@example.test"}})
    assert status in (200, 201) and body["enrolled"], body
    await Contact.filter(id=body["contact_id"]).update(
        email="zed@example.test\r\nBcc: x@evil.example", email_consent="subscribed")
    await shop.client.server.app[DRIPS].run_due()
    enrolment = await Enrollment.get(contact_id=body["contact_id"])
    assert enrolment.state == "exited" and "line break" in enrolment.ended_reason
