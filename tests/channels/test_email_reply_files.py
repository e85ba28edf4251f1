"""Files attached to a reply on the conversation page reach the customer's mailbox as
MIME attachments, against the real Postfix and Dovecot (tests/mailserver.py), in the
thread of the customer's mail (issue 22 point 3)."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from bot.models import Message
from tests.channels.test_email import arrived, box, customer
from tests.web.test_reply_files import PDF, PNG, reply_form
from tests.web.test_web import as_admin

__all__ = ["box"]


@pytest.mark.slow  # real Postfix and Dovecot
async def test_reply_with_files_arrives_as_attachments(box: Any) -> None:
    shop, mail, _, address = box
    ann = customer(mail)
    first = EmailMessage()
    first["From"], first["To"] = f"Ann <{ann}>", address
    first["Subject"], first["Message-ID"] = "Invoice please", make_msgid(domain="c.test")
    first.set_content("Could you send the invoice and a photo?")
    await asyncio.to_thread(mail.send, first)
    stored = await arrived(first["Message-ID"])
    cid = stored.conversation_id  # type: ignore[attr-defined]

    csrf = await as_admin(shop)
    assert 'name="files"' in await (await shop.client.get(f"/inbox/{cid}")).text()
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        csrf, "Both attached.", ("hóa đơn.pdf", PDF, "application/pdf"),
        ("photo.png", PNG, "image/png")), allow_redirects=False)
    assert resp.status == 302, await resp.text()
    got = (await asyncio.to_thread(mail.wait_for, ann, 1))[0]
    assert got["Subject"] == "Re: Invoice please"
    assert got["In-Reply-To"] == first["Message-ID"]
    assert got.get_body(("plain",)).get_content().strip() == "Both attached."
    files = [(p.get_filename(), p.get_content_type(), p.get_content())
             for p in got.iter_attachments()]
    assert files == [("hóa đơn.pdf", "application/pdf", PDF), ("photo.png", "image/png", PNG)]
    reply = await Message.get(conversation_id=cid, direction="out")
    assert reply.external_id == got["Message-ID"] and reply.status.value == "sent"
