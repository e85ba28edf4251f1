"""Staff attach files to a reply on the conversation page (issue 22 point 3): the reply
and its files stored in one transaction, delivered on the channels that carry files (web
chat here; Telegram and Messenger in tests/channels/test_reply_files_chat.py, e-mail in
tests/channels/test_email.py), refused clearly where the channel cannot carry them and
for bad input (too large, too many, no CSRF, a role that may not reply)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import Any

import aiohttp

from bot.core import attachments
from bot.core.keys import SETTINGS
from bot.models import Message, MessageAttachment
from tests.channels.test_telegram import until
from tests.conftest import Shop, message, start_shop
from tests.web.test_web import as_admin, login

PNG = b"\x89PNG\r\n\x1a\n" + b"\x02" * 40
PDF = b"%PDF-1.4 the invoice" * 10


def reply_form(csrf: str | None, text: str, *files: tuple[str, bytes, str]
               ) -> aiohttp.FormData:
    """The reply form as the browser sends it: multipart, with the files under "files"."""
    form = aiohttp.FormData(quote_fields=False)  # as browsers send names: raw UTF-8
    if csrf is not None:
        form.add_field("csrf_token", csrf)
    form.add_field("text", text)
    for name, data, ctype in files or (("", b"", "application/octet-stream"),):
        form.add_field("files", data, filename=name, content_type=ctype)
    return form


async def visitor_chat(shop: Shop, client_id: str = "visit0001") -> tuple[Any, int, int]:
    """A web chat visitor says hello: their open socket, the account and conversation."""
    account = int(shop.seed["webchat_account_id"])
    assert (await shop.client.get(f"/chat?account={account}")).status == 200
    ws = await shop.client.ws_connect(f"/chat/ws?account={account}")
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    await ws.send_json({"type": "message", "client_id": client_id, "text": "Is it blue?"})
    ack = await ws.receive_json(timeout=5)
    conv = (await Message.get(id=ack["id"])).conversation_id  # type: ignore[attr-defined]
    return ws, account, conv


async def test_web_chat_visitor_gets_the_files_and_only_they_can_open_them(
        shop_any_db: Shop) -> None:
    shop = shop_any_db
    ws, account, cid = await visitor_chat(shop)
    csrf = await as_admin(shop)
    page = await (await shop.client.get(f"/inbox/{cid}")).text()
    assert 'enctype="multipart/form-data"' in page
    assert '<input type="file" name="files" multiple>' in page

    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        csrf, "Here it is", ("blue.png", PNG, "image/png"),
        ("invoice.pdf", PDF, "application/pdf")), allow_redirects=False)
    assert resp.status == 302, await resp.text()
    frame = await ws.receive_json(timeout=5)
    assert frame["type"] == "message" and frame["text"] == "Here it is"
    got = {f["file_name"]: f for f in frame["files"]}
    assert set(got) == {"blue.png", "invoice.pdf"}
    assert got["blue.png"]["image"] is True and got["invoice.pdf"]["image"] is False
    reply = await Message.get(id=frame["id"])
    stored = await MessageAttachment.filter(message_id=reply.id).order_by("id").values_list(
        "file_name", "content_type", "size", "sha256")
    assert stored == [("blue.png", "image/png", len(PNG), hashlib.sha256(PNG).hexdigest()),
                      ("invoice.pdf", "application/pdf", len(PDF),
                       hashlib.sha256(PDF).hexdigest())]
    await until(lambda: Message.filter(id=reply.id, status="sent").exists())

    image = await shop.client.get(got["blue.png"]["url"])  # the visitor's own cookie
    assert image.status == 200 and await image.read() == PNG
    assert image.headers["Content-Type"] == "image/png"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    pdf = await shop.client.get(got["invoice.pdf"]["url"])
    assert pdf.status == 200 and await pdf.read() == PDF
    assert pdf.headers["Content-Disposition"].startswith("attachment; ")
    # a reload: the history carries the files too
    again = await shop.client.ws_connect(f"/chat/ws?account={account}")
    hello = await again.receive_json(timeout=5)
    assert [f["file_name"] for f in hello["history"][-1]["files"]] == ["blue.png", "invoice.pdf"]
    # staff see them in the thread
    page = await (await shop.client.get(f"/inbox/{cid}")).text()
    assert re.search(rf'<img src="/inbox/{cid}/files/\d+" alt="blue.png"', page)
    await ws.close()
    await again.close()

    # Another visitor (their own cookie) and no visitor at all get nothing.
    base = str(shop.client.make_url("/")).rstrip("/")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as stranger:
        assert (await stranger.get(f"{base}/chat?account={account}")).status == 200
        assert (await stranger.get(base + got["blue.png"]["url"])).status == 404
    async with aiohttp.ClientSession() as nobody:
        assert (await nobody.get(base + got["blue.png"]["url"])).status == 403


async def test_a_reply_of_files_only_and_a_channel_without_files(shop: Shop) -> None:
    ws, _, cid = await visitor_chat(shop, "visit0002")
    csrf = await as_admin(shop)
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        csrf, "", ("size-chart.pdf", PDF, "application/pdf")), allow_redirects=False)
    assert resp.status == 302, await resp.text()
    frame = await ws.receive_json(timeout=5)
    assert frame["text"] == "" and [f["file_name"] for f in frame["files"]] == ["size-chart.pdf"]
    await ws.close()

    # The API channel carries text only: the page says so, and files sent anyway are a
    # 400 that names the problem; nothing is stored.
    api_conv = (await (await shop.inbound(message("api-1"))).json())["conversation_id"]
    page = await (await shop.client.get(f"/inbox/{api_conv}")).text()
    assert 'type="file"' not in page and "This channel carries text only here" in page
    before = await Message.filter(conversation_id=api_conv).count()
    resp = await shop.client.post(f"/inbox/{api_conv}/reply", data=reply_form(
        csrf, "see attached", ("a.pdf", PDF, "application/pdf")))
    assert resp.status == 400
    assert "Files cannot be sent in this conversation" in await resp.text()
    assert await Message.filter(conversation_id=api_conv).count() == before
    # the same form without a file (an empty file input) is an ordinary reply
    resp = await shop.client.post(f"/inbox/{api_conv}/reply", data=reply_form(
        csrf, "text only"), allow_redirects=False)
    assert resp.status == 302
    assert await Message.filter(conversation_id=api_conv, text="text only").exists()


async def test_bad_uploads_are_refused_with_the_pages_message(aiohttp_client: Any,
                                                              settings: Any) -> None:
    shop = await start_shop(aiohttp_client, replace(settings, attachment_max_bytes=1000,
                                                    max_body_bytes=4096))
    ws, _, cid = await visitor_chat(shop, "visit0003")
    csrf = await as_admin(shop)
    big = b"x" * 1001
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        csrf, "too big", ("big.bin", big, "application/octet-stream")))
    assert resp.status == 413
    assert "big.bin is too large: a file may be at most 1 kB." in await resp.text()
    assert not attachments.path_of(shop.client.app[SETTINGS],
                                   hashlib.sha256(big).hexdigest()).exists()
    # more than the whole form may hold (5 files of the limit and the form): 413 too
    huge = [(f"f{i}.bin", bytes([i]) * 1000, "application/octet-stream") for i in range(10)]
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(csrf, "x", *huge))
    assert resp.status == 413 and "The form is too large" in await resp.text()
    six = [(f"f{i}.bin", bytes([i]) * 10, "application/octet-stream") for i in range(6)]
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(csrf, "x", *six))
    assert resp.status == 400 and "at most 5 files" in await resp.text()
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        csrf, "x", ("empty.txt", b"", "text/plain")))
    assert resp.status == 400 and "empty.txt is empty." in await resp.text()
    # no CSRF token: 403, nothing kept
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        None, "forged", ("p.png", PNG, "image/png")))
    assert resp.status == 403 and "CSRF" in await resp.text()
    assert not await Message.filter(text__in=["too big", "x", "forged"]).exists()
    assert not await MessageAttachment.all().exists()

    marketer = await shop.add_user("marketer")  # may not write in the inbox
    shop.client.session.cookie_jar.clear()
    mcsrf = await login(shop, marketer["email"], marketer["password"])
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        mcsrf, "marketing", ("p.png", PNG, "image/png")))
    assert resp.status == 403 and "may not" in await resp.text()
    assert not await Message.filter(text="marketing").exists()
    await ws.close()
