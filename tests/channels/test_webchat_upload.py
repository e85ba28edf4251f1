"""Issue 22 point 3: a web chat visitor sends a file (``POST /chat/upload``). Its limits
(size, types judged by the bytes), its doors (visitor cookie, the shop's origins), a
retried upload stored once, and the file in the staff thread and the visitor's history."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.models import Message, MessageAttachment
from tests.conftest import Shop, make_settings, start_shop
from tests.web.test_web import as_admin

SHOP = "https://shop.example.test"
# A 1x1 transparent PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYA"
                       "AjCB0C8AAAAASUVORK5CYII=")
LIMIT = 4096


@pytest.fixture
async def shop(aiohttp_client: Any, tmp_path: Path) -> Shop:
    return await start_shop(aiohttp_client, make_settings(tmp_path,
                                                          attachment_max_bytes=LIMIT))


@pytest.fixture(params=["sqlite", "postgres"])
async def shop_any_db(request: pytest.FixtureRequest, aiohttp_client: Any,
                      tmp_path: Path) -> Shop:
    """The shop on SQLite, then on PostgreSQL: the lookups of a visitor's files."""
    extra = {} if request.param == "sqlite" else {
        "database_url": request.getfixturevalue("postgres").create_db(migrated=True)}
    return await start_shop(aiohttp_client, make_settings(
        tmp_path, attachment_max_bytes=LIMIT, **extra))


async def visitor(shop: Shop) -> int:
    account = int(shop.seed["webchat_account_id"])
    assert (await shop.client.get(f"/chat?account={account}")).status == 200
    return account


def form(data: bytes, name: str = "photo.png", client_id: str = "upload0001",
         ctype: str = "image/png") -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field("client_id", client_id)
    body.add_field("file", data, filename=name, content_type=ctype)
    return body


async def post(shop: Shop, account: int, body: Any, origin: str | None = SHOP,
               **headers: str) -> tuple[int, Any]:
    if origin is not None:
        headers["Origin"] = origin
    resp = await shop.client.post(f"/chat/upload?account={account}", data=body,
                                  headers=headers)
    ctype = resp.headers.get("Content-Type", "")
    return resp.status, await (resp.json() if "json" in ctype else resp.text())


async def test_a_picture_is_stored_once_and_shown_to_staff_and_the_visitor(
        shop_any_db: Shop) -> None:
    shop = shop_any_db
    account = await visitor(shop)
    status, ack = await post(shop, account, form(PNG))
    assert status == 201, ack
    assert ack["client_id"] == "upload0001" and len(ack["files"]) == 1
    f = ack["files"][0]
    assert f["content_type"] == "image/png" and f["image"] and f["file_name"] == "photo.png"

    # A retry of the same upload (the answer was lost): the same message, nothing new.
    again, ack2 = await post(shop, account, form(PNG))
    assert again == 200 and ack2["id"] == ack["id"] and ack2["files"] == ack["files"]
    assert await Message.filter(id=ack["id"]).count() == 1
    assert await MessageAttachment.filter(message_id=ack["id"]).count() == 1

    # The visitor gets their own picture back, inline, as a PNG.
    mine = await shop.client.get(f["url"])
    assert mine.status == 200 and await mine.read() == PNG
    assert mine.headers["Content-Type"] == "image/png"
    assert mine.headers["Content-Disposition"].startswith("inline")
    # ... and it is in their history when the widget connects.
    ws = await shop.client.ws_connect(f"/chat/ws?account={account}", headers={"Origin": SHOP})
    hello = await ws.receive_json(timeout=5)
    await ws.close()
    assert [h["files"] for h in hello["history"] if h["id"] == ack["id"]] == [ack["files"]]

    # Staff see it inline on the conversation page.
    cid = (await Message.filter(id=ack["id"]).values("conversation_id"))[0]["conversation_id"]
    await as_admin(shop)
    page = await (await shop.client.get(f"/inbox/{cid}")).text()
    assert f'<img src="/inbox/{cid}/files/{f["id"]}"' in page


async def test_a_text_file_and_a_pdf_are_downloads(shop: Shop) -> None:
    account = await visitor(shop)
    for name, data, ctype in (("notes.txt", "Xin chào, size 38?\n".encode(), "text/plain"),
                              ("order.pdf", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n", "application/pdf")):
        status, ack = await post(shop, account, form(data, name, client_id=f"up-{name[:5]}x"))
        assert status == 201, ack
        f = ack["files"][0]
        assert (f["content_type"], f["image"]) == (ctype, False)
        got = await shop.client.get(f["url"])
        assert got.headers["Content-Type"] == "application/octet-stream"
        assert got.headers["Content-Disposition"].startswith("attachment")


async def test_the_type_is_judged_by_the_bytes(shop: Shop) -> None:
    account = await visitor(shop)
    # Bytes declared as a PNG, an executable, binary declared as SVG: refused.
    for i, (data, name, ctype) in enumerate((
            (b"\x00\x01binary", "photo.png", "image/png"),
            (b"MZ\x90\x00\x03\x00\x00\x00", "setup.exe", "application/octet-stream"),
            (b"\x00<svg onload=alert(1)>", "x.svg", "image/svg+xml"))):
        status, body = await post(shop, account, form(data, name, f"badtype{i}0", ctype))
        assert status == 415, body
        assert body["error"]["code"] == "unsupported_type"
        assert "PDF" in body["error"]["message"]
    # A PNG declared as text is still a PNG (shown inline).
    status, ack = await post(shop, account, form(PNG, "a.txt", "liar000001", "text/plain"))
    assert status == 201 and ack["files"][0]["content_type"] == "image/png"
    assert await MessageAttachment.all().count() == 1


async def test_size_and_bad_input(shop: Shop) -> None:
    account = await visitor(shop)
    status, body = await post(shop, account, form(PNG + b"\0" * LIMIT, client_id="toolarge01"))
    assert status == 413 and body["error"]["code"] == "too_large", body
    assert "MB" in body["error"]["message"]
    exact = PNG + b"\0" * (LIMIT - len(PNG))  # exactly the limit is allowed
    assert (await post(shop, account, form(exact, client_id="exactly001")))[0] == 201

    no_id = aiohttp.FormData()
    no_id.add_field("file", PNG, filename="a.png", content_type="image/png")
    empty, nofile, extra = form(b""), aiohttp.FormData(), form(PNG)
    nofile.add_field("client_id", "nofile0001")
    extra.add_field("other", "x")
    for body_in in (no_id, form(PNG, client_id="bad id!"), empty, nofile, extra,
                    b'{"client_id": "json000001"}'):
        status, body = await post(shop, account, body_in)
        assert status == 400, body
        assert body["error"]["code"] == "bad_upload" and body["error"]["message"]
    # A body that claims to be a form and is not one.
    status, body = await post(shop, account, b"--nope\r\n\r\n", **{
        "Content-Type": "multipart/form-data; boundary=xyz"})
    assert status == 400, body
    assert await Message.filter(text="").count() == 1  # only the exact-limit file


async def test_only_the_visitor_from_the_shops_site(shop_any_db: Shop,
                                                    aiohttp_client: Any) -> None:
    shop = shop_any_db
    account = await visitor(shop)
    # Another site's page posting with the visitor's cookie; a POST without Origin.
    for origin in ("https://evil.example", None):
        status, _ = await post(shop, account, form(PNG), origin=origin)
        assert status == 403
    # No visitor cookie: a fresh client.
    stranger = await aiohttp_client(shop.client.server)
    resp = await stranger.post(f"/chat/upload?account={account}", data=form(PNG),
                               headers={"Origin": SHOP})
    assert resp.status == 403
    assert (await post(shop, 999999, form(PNG)))[0] == 404
    assert await MessageAttachment.all().count() == 0

    # One visitor never reaches another's file.
    status, ack = await post(shop, account, form(PNG))
    assert status == 201
    other = await aiohttp_client(shop.client.server)
    assert (await other.get(f"/chat?account={account}")).status == 200
    assert (await other.get(ack["files"][0]["url"])).status == 404
    assert (await stranger.get(ack["files"][0]["url"])).status == 403
    assert (await shop.client.get(f"/chat/files/nope?account={account}")).status == 404


async def test_a_file_larger_than_a_request_body_is_taken(aiohttp_client: Any,
                                                          tmp_path: Path) -> None:
    """The upload is read as a stream up to attachment_max_bytes (20 MiB by default), not
    held to max_body_bytes (256 KiB), the limit of other request bodies."""
    shop = await start_shop(aiohttp_client, make_settings(tmp_path))
    account = await visitor(shop)
    big = PNG + b"\0" * (600 * 1024)
    status, ack = await post(shop, account, form(big, client_id="bigfile001"))
    assert status == 201, ack
    assert ack["files"][0]["size"] == len(big)
