"""E-mail as an inbox channel against a real Postfix and Dovecot (tests/mailserver.py):
the account check, mail read over IMAP (IDLE), parsing (charsets, HTML, attachments,
quoted history), threading, replies over SMTP threaded in the customer's mailbox, and
bounces marking the address.

Scenario 1 (a customer mails, staff reply, the customer's mailbox shows the reply in
the thread) and scenario 7 (a windows-1251 mail with an attachment) of issue 5 are here.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest

from bot.core import attachments
from bot.core.keys import SETTINGS
from bot.models import Contact, Conversation, Message, MessageAttachment
from channels.email.parse import fold_quotes, html_to_text, parse_mail
from tests.channels.test_telegram import until
from tests.conftest import Shop, make_settings, start_shop
from tests.mailserver import MailServer


def account_settings(mail: MailServer, address: str, password: str = "secret"
                     ) -> dict[str, Any]:
    return {"address": address, "imap_host": "127.0.0.1", "imap_port": mail.imap_port,
            "imap_tls": "none", "imap_user": address, "imap_password": password,
            "smtp_host": "127.0.0.1", "smtp_port": mail.smtp_port, "smtp_tls": "none"}


async def connect_mailbox(shop: Shop, mail: MailServer) -> tuple[dict[str, Any], str]:
    address = mail.add_user(f"shop-{uuid.uuid4().hex[:8]}@shop.test")
    status, account = await shop.api("POST", "/api/v1/channels", json={
        "kind": "email", "name": "Shop mail", "settings": account_settings(mail, address)})
    assert status == 201, account
    return account, address


@pytest.fixture
async def box(aiohttp_client: Any, tmp_path: Path, mailserver: MailServer
              ) -> tuple[Shop, MailServer, dict[str, Any], str]:
    shop = await start_shop(aiohttp_client, make_settings(tmp_path))
    account, address = await connect_mailbox(shop, mailserver)
    return shop, mailserver, account, address


def customer(mail: MailServer) -> str:
    return mail.add_user(f"ann-{uuid.uuid4().hex[:8]}@customer.test")


async def arrived(external_id: str) -> Message:
    async def check() -> Message | None:
        return await Message.filter(external_id=external_id).first()
    return await until(check, timeout=20)  # type: ignore[no-any-return]


@pytest.mark.slow  # real Postfix and Dovecot
async def test_account_check_refuses_a_bad_login(box: Any) -> None:
    shop, mail, _, address = box
    status, err = await shop.api("POST", "/api/v1/channels", json={
        "kind": "email", "name": "x", "settings": account_settings(mail, address, "wrong")})
    assert status == 400 and err["error"]["code"] == "invalid_auth"
    assert "refused the login" in err["error"]["message"]
    status, err = await shop.api("POST", "/api/v1/channels", json={
        "kind": "email", "name": "x", "settings": {**account_settings(mail, address),
                                                   "imap_port": 9}})
    assert status == 400 and err["error"]["code"] == "cannot_connect"
    status, err = await shop.api("POST", "/api/v1/channels", json={
        "kind": "email", "name": "x", "settings": {**account_settings(mail, address),
                                                   "folder": "Nope"}})
    assert status == 400 and "Nope" in err["error"]["message"]
    _, listed = await shop.api("GET", "/api/v1/channels")
    shown = next(a for a in listed if a["kind"] == "email")
    assert shown["settings"]["imap_password"].startswith("…")  # never shown back


@pytest.mark.slow  # real Postfix and Dovecot
async def test_scenario_1_reply_is_threaded_in_the_customers_mailbox(box: Any) -> None:
    shop, mail, account, address = box
    ann = customer(mail)
    first = EmailMessage()
    first["From"], first["To"] = f"Ann Nguyen <{ann}>", address
    first["Subject"], first["Message-ID"] = "Order #1042 size", make_msgid(domain="customer.test")
    first.set_content("Hello, can I change the size to 38?\n\n-- \nAnn\nSent from my phone")
    await asyncio.to_thread(mail.send, first)
    stored = await arrived(first["Message-ID"])
    assert stored.text == "Order #1042 size\n\nHello, can I change the size to 38?"
    contact = await Contact.get(id=(await Conversation.get(
        id=stored.conversation_id)).contact_id)  # type: ignore[attr-defined]
    assert contact.email == ann and contact.name == "Ann Nguyen"

    status, reply = await shop.api(
        "POST", f"/api/v1/conversations/{stored.conversation_id}/reply",  # type: ignore[attr-defined]
        json={"text": "Of course, done!"})
    assert status == 201
    got = (await asyncio.to_thread(mail.wait_for, ann, 1))[0]
    assert got["Subject"] == "Re: Order #1042 size"
    assert got["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in got["References"]
    assert got.get_content().strip() == "Of course, done!"
    assert (await Message.get(id=reply["id"])).external_id == got["Message-ID"]

    # The customer answers (quoting us): same conversation, only the new text shown.
    second = EmailMessage()
    second["From"], second["To"] = ann, address
    second["Subject"], second["Message-ID"] = "Re: Re: Order #1042 size", make_msgid(
        domain="customer.test")
    second["In-Reply-To"] = got["Message-ID"]
    second["References"] = f"{first['Message-ID']} {got['Message-ID']}"
    second.set_content("Thank you!\n\nOn Mon, 1 Dec 2026 Shop mail wrote:\n> Of course, done!")
    await asyncio.to_thread(mail.send, second)
    again = await arrived(second["Message-ID"])
    assert again.conversation_id == stored.conversation_id  # type: ignore[attr-defined]
    assert again.text == "Thank you!" and "Of course" in again.meta["full_text"]


@pytest.mark.slow  # real Postfix and Dovecot
async def test_scenario_7_windows_1251_with_attachment_and_html_tis620(box: Any) -> None:
    shop, mail, account, address = box
    ivan = customer(mail)
    outer = MIMEMultipart()
    outer["From"], outer["To"] = ivan, address
    outer["Subject"] = "=?windows-1251?B?" + __import__("base64").b64encode(
        "Счёт".encode("cp1251")).decode() + "?="
    outer["Message-ID"] = make_msgid(domain="customer.test")
    outer.attach(MIMEText("Здравствуйте, пришлите счёт.", "plain", "windows-1251"))
    pdf = MIMEApplication(b"%PDF-1.4 fake", "pdf")
    pdf.add_header("Content-Disposition", "attachment", filename="заказ.pdf")
    outer.attach(pdf)
    await asyncio.to_thread(mail.send, outer)
    stored = await arrived(outer["Message-ID"])
    assert stored.text == "Счёт\n\nЗдравствуйте, пришлите счёт."
    digest = hashlib.sha256(b"%PDF-1.4 fake").hexdigest()
    assert stored.attachments == [{"type": "file", "file_name": "заказ.pdf",
                                   "mime_type": "application/pdf", "file_size": 13,
                                   "content_type": "application/pdf", "size": 13,
                                   "sha256": digest}]
    # the file itself kept, by its hash, with a row beside its message (issue 22)
    settings = shop.client.app[SETTINGS]
    assert attachments.path_of(settings, digest).read_bytes() == b"%PDF-1.4 fake"
    assert await MessageAttachment.filter(message_id=stored.id).values_list(
        "file_name", "size", "sha256") == [("заказ.pdf", 13, digest)]
    got = await shop.client.get(f"/api/v1/messages/{stored.id}/attachments/0",
                                headers=shop.auth())  # from disk: e-mail keeps no file_id
    assert got.status == 200 and await got.read() == b"%PDF-1.4 fake"
    assert got.headers["Content-Type"] == "application/octet-stream"

    thai = MIMEText("<html><body><p>สวัสดีครับ</p><p>ราคา <b>350</b> บาท</p>"
                    "<style>p{}</style></body></html>", "html", "tis-620")
    thai["From"], thai["To"] = customer(mail), address
    thai["Subject"], thai["Message-ID"] = "ราคา", make_msgid(domain="customer.test")
    await asyncio.to_thread(mail.send, thai)
    shown = await arrived(thai["Message-ID"])
    assert shown.text == "ราคา\n\nสวัสดีครับ\n\nราคา 350 บาท"


@pytest.mark.slow  # real Postfix and Dovecot
async def test_a_bounce_marks_the_address(box: Any) -> None:
    shop, mail, account, address = box
    ghost = f"nobody-{uuid.uuid4().hex[:6]}@customer.test"  # no such mailbox
    first = EmailMessage()
    first["From"], first["To"] = ghost, address
    first["Subject"], first["Message-ID"] = "hi", make_msgid(domain="customer.test")
    first.set_content("a mail from an address that cannot receive")
    await asyncio.to_thread(mail.send, first)
    stored = await arrived(first["Message-ID"])
    await shop.api("POST", f"/api/v1/conversations/{stored.conversation_id}/reply",  # type: ignore[attr-defined]
                   json={"text": "Thanks!"})

    async def bounced() -> Contact | None:
        return await Contact.filter(email=ghost, email_consent="bounced").first()
    contact = await until(bounced, timeout=30)
    assert "bounce" in contact.email_consent_source and contact.email_consent_at
    # The bounce itself is not a customer message.
    assert not await Message.filter(text__contains="Undelivered").exists()


def test_parsing_helpers() -> None:
    assert fold_quotes("New text\n\n> old\n> older") == "New text"
    assert fold_quotes("Hi\n-- \nsig") == "Hi"
    assert fold_quotes("> only quoted") == "> only quoted"  # nothing new: keep it all
    assert html_to_text('<p>Hi <a href="https://x.test/o">order</a></p><script>x</script>'
                        ) == "Hi order (https://x.test/o)"
    raw = (b"From: a@b.test\r\nMessage-ID: <1@b.test>\r\nReferences: <r0@x> <r1@x>\r\n"
           b"In-Reply-To: <r1@x>\r\nContent-Type: text/plain; charset=koi8-u\r\n\r\n"
           + "Привіт".encode("koi8-u"))
    parsed = parse_mail(raw)
    assert parsed.full_text == "Привіт" and parsed.thread_root == "<r0@x>"
    unlabelled = parse_mail(b"From: a@b.test\r\nContent-Type: text/plain; charset=bogus\r\n"
                            b"\r\ncaf\xc3\xa9")
    assert unlabelled.full_text == "café" and unlabelled.message_id.endswith(
        "@no-message-id>")


@pytest.mark.slow  # real Postfix and Dovecot
def test_cli_connects_a_mailbox(tmp_path: Path, mailserver: MailServer) -> None:
    from tests.app.test_cli import run

    address = mailserver.add_user(f"cli-{uuid.uuid4().hex[:6]}@shop.test")
    settings = account_settings(mailserver, address)
    flags = [f"--setting={k}={v}" for k, v in settings.items()]
    local = {"SWITCHBOARD_ALLOW_PRIVATE_URLS": "true"}  # the mail server is on 127.0.0.1
    out = run(tmp_path, "channel", "add", "email", "--name", "Shop mail", *flags, env=local)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].isdigit()
    bad = run(tmp_path, "channel", "add", "email", "--name", "x",
              *[f for f in flags if "imap_password" not in f],
              "--setting=imap_password=wrong", env=local)
    assert bad.returncode != 0 and "refused the login" in bad.stdout + bad.stderr
    odd = run(tmp_path, "channel", "add", "email", "--name", "x", "--setting", "novalue")
    assert odd.returncode != 0 and "KEY=VALUE" in odd.stderr


@pytest.mark.slow  # real Postfix and Dovecot
async def test_admin_connects_a_mailbox_on_the_channels_page(box: Any) -> None:
    from tests.web.test_web import as_admin

    shop, mail, _, _ = box
    csrf = await as_admin(shop)
    address = mail.add_user(f"web-{uuid.uuid4().hex[:6]}@shop.test")
    form = {k: str(v) for k, v in account_settings(mail, address).items()
            if k != "imap_user"}
    resp = await shop.client.post("/admin/channels", data={
        "csrf_token": csrf, "kind": "email", "name": "Web mail", **form})
    assert resp.status == 200 and "Its secret is shown once" in await resp.text()
    page = await (await shop.client.get("/admin/channels")).text()
    assert f"{address} · IMAP 127.0.0.1" in page


@pytest.mark.slow  # real Postfix and Dovecot
async def test_mail_announced_during_a_read_is_not_left_for_idle(mailserver: MailServer
                                                                 ) -> None:
    """Real Dovecot: when new mail is announced (``* n EXISTS``) inside the answer to
    another command, Dovecot does not say it again when IDLE starts, and aioimaplib drops
    untagged lines no command claims. The mailbox loop must read again instead of going
    to IDLE, where the mail would wait for the next one or the 5-minute IDLE timeout."""
    from bot.core.channel import AccountInfo
    from channels.email import imap

    address = mailserver.add_user(f"race-{uuid.uuid4().hex[:8]}@shop.test")
    account = AccountInfo(1, "email", "race", "", account_settings(mailserver, address), "")
    client = await imap.connect(account, allow_private=True)
    try:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = customer(mailserver), address, "Hi"
        mail.set_content("Is this in stock?")
        await asyncio.to_thread(mailserver.send, mail)
        await asyncio.to_thread(mailserver.wait_for, address, 1)  # delivered
        # Another command's answer carries the announcement (here a NOOP; in the loop it
        # is the SEARCH or FETCH of the read going on when the mail lands).
        assert (await client.noop()).result == "OK"
        # The loop's next step: it must return at once to read, not sit in IDLE.
        await asyncio.wait_for(imap.wait_for_mail(client), timeout=5)
        assert not client.has_pending_idle()
    finally:
        await client.logout()


@pytest.mark.slow  # real Postfix and Dovecot
async def test_an_attachment_over_the_limit_is_refused_and_the_mail_kept(
        aiohttp_client: Any, tmp_path: Path, mailserver: MailServer) -> None:
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, attachment_max_bytes=64))
    _, address = await connect_mailbox(shop, mailserver)
    outer = MIMEMultipart()
    outer["From"], outer["To"] = customer(mailserver), address
    outer["Subject"], outer["Message-ID"] = "Photos", make_msgid(domain="customer.test")
    outer.attach(MIMEText("Two files", "plain", "utf-8"))
    small = MIMEApplication(b"small file", "octet-stream")
    small.add_header("Content-Disposition", "attachment", filename="note.bin")
    big = MIMEApplication(b"B" * 65, "zip")
    big.add_header("Content-Disposition", "attachment", filename="big.zip")
    outer.attach(small)
    outer.attach(big)
    await asyncio.to_thread(mailserver.send, outer)
    stored = await arrived(outer["Message-ID"])
    assert stored.text == "Photos\n\nTwo files"
    assert [a.get("refused") for a in stored.attachments] == [None, "too_large"]
    assert await MessageAttachment.filter(message_id=stored.id).values_list(
        "file_name", flat=True) == ["note.bin"]
    assert not (tmp_path / "attachments" / hashlib.sha256(b"B" * 65).hexdigest()[:2]).exists()
