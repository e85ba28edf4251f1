"""Issue 22 point 3: the files customers send on Messenger and Instagram, and a Page
comment's photo, fetched from Meta's links (a local fake CDN) and kept, so staff see them
in the thread; a redelivery keeps nothing twice; a file that is too large or cannot be
fetched is a note on the message, which is always stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.core import attachments
from bot.core.channel import ChannelContext, ContactInfo, InboundMessage
from bot.core.keys import SETTINGS
from bot.core.outbound import client_session
from bot.models import Message, MessageAttachment
from channels.meta import files
from config import Settings
from tests.channels.test_meta import IG, PAGE, Meta, connect_meta
from tests.channels.test_webchat_upload import PNG
from tests.conftest import make_settings, start_shop
from tests.fakes.graph_api import FakeGraph
from tests.web.test_web import as_admin

LIMIT = 2048
PDF = b"%PDF-1.4\n" + b"x" * 100


@pytest.fixture
async def meta(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path) -> Meta:
    shop = await start_shop(aiohttp_client, make_settings(tmp_path,
                                                          attachment_max_bytes=LIMIT))
    return await connect_meta(shop, aiohttp_server)


def settings_of(meta: Meta) -> Settings:
    return meta.shop.client.server.app[SETTINGS]


def cdn(meta: Meta, name: str) -> str:
    return meta.base.replace("/v21.0", f"/cdn/{name}") + "?oh=signed&oe=6789"


async def files_of(mid: str) -> tuple[Message, list[dict[str, Any]]]:
    msg = await Message.get(external_id=mid)
    rows = await MessageAttachment.filter(message_id=msg.id).order_by("id").values(
        "file_name", "content_type", "size", "sha256")
    return msg, rows


async def test_messenger_files_are_kept_once_and_shown_to_staff(meta: Meta) -> None:
    meta.fake.cdn["12345_n.png"] = (PNG, "image/png", 200)
    meta.fake.cdn["invoice.pdf"] = (PDF, "application/pdf", 200)
    body = meta.fake.dm(PAGE, "u-7", "", "m_files", attachments=(
        ("image", cdn(meta, "12345_n.png")), ("file", cdn(meta, "invoice.pdf")),
        ("share", "https://www.facebook.com/shop/posts/1")))
    resp = await meta.hook("facebook", body)
    assert resp.status == 200 and (await resp.json())["stored"] == 1
    msg, rows = await files_of("m_files")
    assert [(r["file_name"], r["content_type"], r["size"]) for r in rows] == [
        ("12345_n.png", "image/png", len(PNG)), ("invoice.pdf", "application/pdf", len(PDF))]
    for r in rows:
        assert attachments.path_of(settings_of(meta), r["sha256"]).read_bytes() in (PNG, PDF)
    assert [a["type"] for a in msg.attachments] == ["image", "file", "share"]  # the link kept

    # Meta redelivers the batch: one message, the same two files, nothing new on disk.
    on_disk = sorted(p.name for p in attachments.folder(settings_of(meta)).rglob("*"))
    assert (await meta.hook("facebook", body)).status == 200
    assert await Message.filter(external_id="m_files").count() == 1
    assert await MessageAttachment.all().count() == 2
    assert sorted(p.name for p in attachments.folder(settings_of(meta)).rglob("*")) == \
        on_disk

    await as_admin(meta.shop)
    cid = (await Message.filter(id=msg.id).values("conversation_id"))[0]["conversation_id"]
    page = await (await meta.shop.client.get(f"/inbox/{cid}")).text()
    ids = await MessageAttachment.filter(message_id=msg.id).order_by("id").values_list(
        "id", flat=True)
    assert f'<img src="/inbox/{cid}/files/{ids[0]}"' in page
    assert f'<a href="/inbox/{cid}/files/{ids[1]}" download>invoice.pdf</a>' in page
    got = await meta.shop.client.get(f"/inbox/{cid}/files/{ids[0]}")
    assert got.status == 200 and await got.read() == PNG


async def test_instagram_dm_and_page_comment_photo(meta: Meta) -> None:
    meta.fake.cdn["ig.png"] = (PNG, "image/png", 200)
    meta.fake.cdn["photo.png"] = (PNG, "image/png", 200)
    dm = meta.fake.dm(IG, "ig-9", "this one", "ig_m1", "instagram",
                      attachments=(("image", cdn(meta, "ig.png")),))
    assert (await meta.hook("instagram", dm)).status == 200
    msg, rows = await files_of("ig_m1")
    assert msg.text == "this one" and [r["file_name"] for r in rows] == ["ig.png"]

    comment = meta.fake.page_comment(PAGE, f"{PAGE}_77", "77_1", "u-5", "Linh", "",
                                     photo=cdn(meta, "photo.png"))
    assert (await (await meta.hook("facebook", comment)).json())["stored"] == 1
    msg, rows = await files_of("77_1")
    assert [(r["file_name"], r["content_type"]) for r in rows] == [("photo.png", "image/png")]


async def test_a_file_that_fails_is_a_note_and_the_message_is_kept(meta: Meta) -> None:
    meta.fake.cdn["big.jpg"] = (b"\xff\xd8\xff" + b"\0" * LIMIT, "image/jpeg", 200)
    meta.fake.cdn["broken.png"] = (b"oops", "image/png", 500)
    meta.fake.cdn["fake.png"] = (b"<svg onload=alert(1)>", "image/png", 200)
    body = meta.fake.dm(PAGE, "u-8", "see these", "m_bad", attachments=(
        ("image", cdn(meta, "big.jpg")), ("image", cdn(meta, "broken.png")),
        ("video", cdn(meta, "gone.mp4")), ("image", cdn(meta, "fake.png"))))
    resp = await meta.hook("facebook", body)
    assert resp.status == 200 and (await resp.json())["stored"] == 1
    msg, rows = await files_of("m_bad")
    assert msg.text == "see these"
    refused = [(a["file_name"], a.get("refused"), a.get("reason")) for a in msg.attachments
               if a.get("refused")]
    assert refused == [("big.jpg", "too_large", None), ("broken.png", "unavailable", "HTTP 500"),
                       ("gone.mp4", "unavailable", "HTTP 404")]
    # Not a picture whatever it claims: kept, but only ever a download.
    assert [(r["file_name"], r["content_type"]) for r in rows] == [
        ("fake.png", "application/octet-stream")]

    await as_admin(meta.shop)
    cid = (await Message.filter(id=msg.id).values("conversation_id"))[0]["conversation_id"]
    page = await (await meta.shop.client.get(f"/inbox/{cid}")).text()
    assert "big.jpg was not kept: it is larger than 2.0 kB." in page
    assert "broken.png was not kept: it could not be fetched." in page
    assert "gone.mp4 was not kept: it could not be fetched." in page
    fake_id = await MessageAttachment.filter(message_id=msg.id).values_list("id", flat=True)
    assert f'<img src="/inbox/{cid}/files/{fake_id[0]}"' not in page
    assert f'<a href="/inbox/{cid}/files/{fake_id[0]}" download>fake.png</a>' in page


async def test_the_links_are_fetched_under_the_outbound_policy(aiohttp_server: Any,
                                                              tmp_path: Path) -> None:
    """With private addresses refused (a real shop), a link to this machine is not
    fetched: the files come through the server's guarded session (ChannelContext.http)."""
    fake = FakeGraph()
    fake.cdn["local.png"] = (PNG, "image/png", 200)
    server = await aiohttp_server(fake.app())
    settings = make_settings(tmp_path, allow_private_urls=False)

    async def nothing(*_: Any) -> Any:
        return None

    ctx = ChannelContext(ingest=nothing, settings=settings, get_account=nothing,
                         render=lambda *_: "", contact_history=nothing,
                         update_contact=nothing)
    async with client_session(settings) as ctx.session:
        for host in ("127.0.0.1", "localhost"):
            url = str(server.make_url("/cdn/local.png")).replace("127.0.0.1", host)
            msg = await files.keep(ctx, InboundMessage(
                1, "m_local", ContactInfo("u-1"), "", attachments=(
                    {"type": "image", "url": url},)))
            [note] = msg.attachments
            assert note["refused"] == "unavailable" and "loopback" in note["reason"], note
            assert "sha256" not in note
    assert fake.cdn_hits == []
