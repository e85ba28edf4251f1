"""What a channel takes in a reply's files, and the files a refused reply leaves behind.

Each adapter declares the bytes its channel takes (``file_limits``: Telegram 50 MB a
file, Messenger and Instagram 25 MB, e-mail 18 MB in all); a reply over them is refused
on the page with a 413 that names the file and the limit, before anything is kept or
stored. The limits are made small here by patching the web chat's declaration. A reply
refused after its files were written (its text too long) leaves them to the clock's
sweep, which removes them once they are older than the grace, unless a message holds
the same bytes (files are named by their hash)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from bot.core import attachments
from bot.core.errors import TooLarge
from bot.core.keys import SETTINGS
from bot.core.outfiles import FileLimits
from bot.models import Message, MessageAttachment
from bot.services.attachments import sweep
from bot.services.replies import OUTBOX
from channels.webchat.adapter import WebChat
from tests.conftest import Shop
from tests.web.test_reply_files import PDF, PNG, reply_form, visitor_chat
from tests.web.test_web import as_admin


def kept_files(shop: Shop) -> set[str]:
    """The names of the files under <data_dir>/attachments."""
    folder = attachments.folder(shop.client.app[SETTINGS])
    return {p.name for p in Path(folder).rglob("*") if p.is_file()} if folder.exists() else set()


async def test_a_file_over_the_channels_limit_is_refused_before_anything_is_kept(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    ws, _, cid = await visitor_chat(shop, "limit0001")
    csrf = await as_admin(shop)
    monkeypatch.setattr(WebChat, "file_limits", FileLimits(per_file=2000))
    before = kept_files(shop)
    big = b"%PDF-1.4 " + b"x" * 2000
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        csrf, "the catalogue", ("small.png", PNG, "image/png"),
        ("catalogue.pdf", big, "application/pdf")))
    assert resp.status == 413
    assert ("catalogue.pdf is too large for Web chat: it takes files of at most 2 kB."
            in await resp.text())
    assert kept_files(shop) == before  # not even the small one was written
    assert not await Message.filter(text="the catalogue").exists()

    # Together over the channel's total (one e-mail carries them all): named, refused.
    monkeypatch.setattr(WebChat, "file_limits", FileLimits(total=3000))
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        csrf, "both", ("a.pdf", PDF + b"a" * 1500, "application/pdf"),
        ("b.pdf", PDF + b"b" * 1500, "application/pdf")))
    assert resp.status == 413
    assert ("a.pdf, b.pdf come to 3.4 kB together: Web chat takes at most 3 kB of files "
            "in one reply." in await resp.text())
    assert kept_files(shop) == before
    assert not await MessageAttachment.all().exists()

    # Within the limits the same reply goes out.
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        csrf, "one", ("a.pdf", PDF, "application/pdf")), allow_redirects=False)
    assert resp.status == 302, await resp.text()
    assert kept_files(shop) == before | {hashlib.sha256(PDF).hexdigest()}
    await ws.close()


async def test_the_outbox_refuses_files_over_the_channels_limit_for_every_caller(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    ws, _, cid = await visitor_chat(shop, "limit0002")
    monkeypatch.setattr(WebChat, "file_limits", FileLimits(per_file=1000))
    digest = attachments.write(shop.client.app[SETTINGS], PDF)
    described = {"file_name": "big.pdf", "content_type": "application/pdf",
                 "size": 1001, "sha256": digest}
    with pytest.raises(TooLarge) as refused:
        await shop.client.app[OUTBOX].send(cid, "via the service", None, files=[described])
    assert refused.value.status == 413
    assert str(refused.value) == (
        "big.pdf is too large for Web chat: it takes files of at most 1 kB.")
    assert not await Message.filter(text="via the service").exists()
    await ws.close()


def age(shop: Shop, *names: str, seconds: float) -> None:
    """Set the time of these kept files (and temporary files) ``seconds`` back."""
    folder = attachments.folder(shop.client.app[SETTINGS])
    when = time.time() - seconds
    for name in names:
        os.utime(next(folder.rglob(name)), (when, when))


async def test_a_reply_refused_after_its_files_were_kept_leaves_them_to_the_sweep(
        shop: Shop) -> None:
    ws, _, cid = await visitor_chat(shop, "limit0003")
    csrf = await as_admin(shop)
    settings = shop.client.app[SETTINGS]
    grace = settings.attachment_orphan_grace_seconds
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        csrf, "the picture", ("red.png", PNG, "image/png")), allow_redirects=False)
    assert resp.status == 302
    png, pdf = hashlib.sha256(PNG).hexdigest(), hashlib.sha256(PDF).hexdigest()
    assert kept_files(shop) == {png}

    # The text is over the web chat's 5000 characters: refused after the files were
    # written. They stay for now (another reply may be storing the same bytes).
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        csrf, "x" * 5001, ("red.png", PNG, "image/png"),
        ("invoice.pdf", PDF, "application/pdf")))
    assert resp.status == 400 and "at most 5000 characters" in await resp.text()
    # answering a message that is not of this conversation: refused the same way
    form = reply_form(csrf, "see the invoice", ("note.txt", b"a note", "text/plain"))
    form.add_field("reply_to_message_id", "999999")
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=form)
    assert resp.status == 400 and "reply_to_message_id" in await resp.text()
    txt = hashlib.sha256(b"a note").hexdigest()
    assert kept_files(shop) == {png, pdf, txt}
    assert await MessageAttachment.all().count() == 1

    # Within the grace the sweep removes nothing, held or not.
    assert await sweep(settings) == 0
    assert kept_files(shop) == {png, pdf, txt}
    # Past it: the PDF no message holds goes; the PNG the first reply holds stays, however
    # old (the refused reply wrote the same bytes: the one file is shared); the text file,
    # written again just now by a reply still on its way, stays until it is old too.
    age(shop, png, seconds=10 * 365 * 86400)
    age(shop, pdf, txt, seconds=grace + 60)
    digest = attachments.write(settings, b"a note")  # the same bytes, written again
    assert await sweep(settings) == 1
    assert kept_files(shop) == {png, txt} and digest == txt
    age(shop, txt, seconds=grace + 60)
    assert await sweep(settings) == 1
    assert kept_files(shop) == {png}
    resp = await shop.client.get(f"/inbox/{cid}/files/"
                                 f"{(await MessageAttachment.get()).id}")
    assert resp.status == 200 and await resp.read() == PNG
    await ws.close()
