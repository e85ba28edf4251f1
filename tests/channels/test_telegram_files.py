"""A customer's Telegram photos and documents fetched with getFile (the fake Bot API over
HTTP), kept on disk and shown in the thread (issue 22 point 3), on SQLite and PostgreSQL:
a redelivered update stores nothing twice, a file over the limit is not even
downloaded, one Telegram will not hand out is noted, and the message is always kept."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from bot.core import attachments
from bot.core.keys import SETTINGS
from bot.models import Message, MessageAttachment
from config import Settings
from tests.channels.test_telegram import Telegram, connect, fake_api, until
from tests.conftest import start_shop
from tests.fakes.telegram_api import FakeTelegram
from tests.web.test_web import as_admin

__all__ = ["fake_api"]
JPEG = b"\xff\xd8\xff\xe0" + b"\x02" * 60
PDF = b"%PDF-1.4 price list"


@pytest.fixture
async def tg(aiohttp_client: Any, any_db: Settings, fake_api: tuple[FakeTelegram, str]
             ) -> AsyncIterator[Telegram]:
    shop = await start_shop(aiohttp_client, replace(any_db, attachment_max_bytes=1000))
    yield await connect(shop, *fake_api, "webhook")


async def send(tg: Telegram, update_id: int, **content: Any) -> Message:
    update = {"update_id": update_id, **tg.fake.private_message(8001, None, **content)}
    for _ in range(2):  # the second is Telegram redelivering it
        resp = await tg.webhook(update)
        assert resp.status == 200, await resp.text()
    return await until(lambda: Message.filter(  # type: ignore[no-any-return]
        external_id=f"8001:{update['message']['message_id']}").first())


def fetched(tg: Telegram) -> list[str]:
    return [p.get("file_id") for _, m, p in tg.fake.calls if m == "getFile"]


async def test_photos_and_documents_are_fetched_kept_and_shown(tg: Telegram) -> None:
    tg.fake.files.update({"PH-BIG": JPEG, "DOC-1": PDF})
    photo = await send(tg, 1, caption="this colour?", photo=[
        {"file_id": "PH-SMALL", "file_unique_id": "a", "width": 90, "height": 90,
         "file_size": 10},
        {"file_id": "PH-BIG", "file_unique_id": "b", "width": 800, "height": 800,
         "file_size": len(JPEG)}])
    doc = await send(tg, 2, document={"file_id": "DOC-1", "file_unique_id": "c",
                                      "file_name": "price list.pdf",
                                      "mime_type": "application/pdf", "file_size": len(PDF)})
    huge = await send(tg, 3, caption="my video", video={
        "file_id": "VID-1", "file_unique_id": "d", "file_size": 50_000_000})
    gone = await send(tg, 4, document={"file_id": "DOC-GONE", "file_unique_id": "e",
                                       "file_name": "old.zip", "file_size": 20})

    rows = await MessageAttachment.all().order_by("id").values_list(
        "message_id", "file_name", "content_type", "size", "sha256")
    assert rows == [  # one row each, though every update came twice
        (photo.id, "photo.jpg", "image/jpeg", len(JPEG), hashlib.sha256(JPEG).hexdigest()),
        (doc.id, "price list.pdf", "application/pdf", len(PDF),
         hashlib.sha256(PDF).hexdigest())]
    settings = tg.shop.client.app[SETTINGS]
    assert attachments.path_of(settings, hashlib.sha256(PDF).hexdigest()).read_bytes() == PDF
    assert "VID-1" not in fetched(tg)  # over the limit: never downloaded
    assert huge.text == "my video" and huge.attachments[0]["refused"] == "too_large"
    assert gone.attachments[0]["refused"] == "unavailable"
    assert photo.attachments[0]["file_id"] == "PH-BIG"  # the channel's id is kept too

    await as_admin(tg.shop)
    page = await (await tg.shop.client.get(f"/inbox/{photo.conversation_id}")).text()  # type: ignore[attr-defined]
    pic = await MessageAttachment.get(message_id=photo.id)
    src = f"/inbox/{photo.conversation_id}/files/{pic.id}"  # type: ignore[attr-defined]
    assert f'<img src="{src}" alt="photo.jpg"' in page
    assert "price list.pdf</a>" in page
    assert "video was not kept: it is larger than 1.0 kB." in page
    assert await (await tg.shop.client.get(src)).read() == JPEG
