"""Customer files kept on disk by their SHA-256, one ``message_attachments`` row each,
written with their message in one transaction (issue 22 point 3): a redelivery stores
nothing twice, a file over the limit is refused with the message kept."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from bot.core import attachments
from bot.core.channel import ContactInfo, InboundMessage
from bot.core.keys import SETTINGS
from bot.models import Message, MessageAttachment
from bot.services.inbox import INTAKE
from tests.conftest import Shop, make_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def test_store_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, attachment_max_bytes=100)
    first = attachments.store(settings, PNG, "cat.png", "image/png; name=cat.png", "photo")
    digest = hashlib.sha256(PNG).hexdigest()
    assert first == {"type": "photo", "file_name": "cat.png", "content_type": "image/png",
                     "size": len(PNG), "sha256": digest}
    path = attachments.path_of(settings, digest)
    assert path == tmp_path / "attachments" / digest[:2] / digest and path.read_bytes() == PNG
    again = attachments.store(settings, PNG, "other.png", "image/png")
    assert again["sha256"] == digest  # the same bytes: the same file, written once
    assert [p.name for p in path.parent.iterdir()] == [digest]  # no temporary left behind

    big = attachments.store(settings, b"x" * 101, "big.pdf", "application/pdf")
    assert big["refused"] == attachments.TOO_LARGE and "sha256" not in big
    assert big["size"] == 101 and big["limit"] == 100
    assert attachments.rows([big, {"file_id": "tg"}, first]) == [
        ("cat.png", "image/png", len(PNG), digest)]
    with pytest.raises(ValueError):
        attachments.path_of(settings, "../../secret.key")


async def test_rows_go_in_with_the_message_once(shop_any_db: Shop) -> None:
    app = shop_any_db.client.app
    settings, intake = app[SETTINGS], app[INTAKE]
    stored = attachments.store(settings, PNG, "cat.png", "image/png", "photo")
    refused = attachments.store(replace(settings, attachment_max_bytes=10), b"y" * 11,
                                "huge.zip", "application/zip")
    msg = InboundMessage(channel_account_id=shop_any_db.seed["api_account_id"],
                         external_id="with-files", contact=ContactInfo("cust-f"),
                         text="see photo", attachments=(stored, refused))
    first = await intake.ingest(msg)
    again = await intake.ingest(msg)  # a redelivery
    assert first.created and not again.created
    rows = await MessageAttachment.all().values("message_id", "file_name", "content_type",
                                                "size", "sha256")
    assert rows == [{"message_id": first.message_id, "file_name": "cat.png",
                     "content_type": "image/png", "size": len(PNG),
                     "sha256": stored["sha256"]}]
    kept = await Message.get(id=first.message_id)  # the refused file's note stays with it
    assert kept.text == "see photo" and kept.attachments[1]["refused"] == "too_large"
