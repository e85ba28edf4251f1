"""Files attached to a reply on the conversation page, delivered by the chat apps against
the local fakes (issue 22 point 3): Telegram uploads a picture with sendPhoto and any
other file with sendDocument (multipart), after the text; Messenger uploads each file with
the Send API's ``filedata``; a comment thread offers no file input and refuses files. A
retry after a failure halfway sends only the parts that did not go out."""

from __future__ import annotations

from typing import Any

from bot.models import Conversation, Message
from tests.channels.test_meta import IG, PAGE, Meta, meta, soon
from tests.channels.test_telegram import connect, fake_api, until
from tests.conftest import Shop
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram
from tests.web.test_reply_files import PDF, PNG, reply_form
from tests.web.test_web import as_admin

__all__ = ["fake_api", "meta"]


async def test_telegram_reply_with_a_photo_and_a_document(
        shop: Shop, fake_api: tuple[FakeTelegram, str]) -> None:
    tg = await connect(shop, *fake_api, "webhook")
    await soon(lambda: tg.bot.webhook)
    update = {"update_id": 930001, **tg.fake.private_message(7101, "Do you have it in red?")}
    assert (await tg.webhook(update)).status == 200
    stored = await tg.stored(f"7101:{update['message']['message_id']}")
    cid = stored.conversation_id  # type: ignore[attr-defined]
    csrf = await as_admin(shop)
    assert 'name="files"' in await (await shop.client.get(f"/inbox/{cid}")).text()

    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        csrf, "Yes, here:", ("red.png", PNG, "image/png"),
        ("sizes.pdf", PDF, "application/pdf")), allow_redirects=False)
    assert resp.status == 302, await resp.text()
    await soon(lambda: len(tg.bot.sent) == 3)
    text, photo, document = tg.bot.sent
    assert text["text"] == "Yes, here:" and str(text["chat_id"]) == "7101"
    assert photo["photo"]["data"] == PNG and photo["photo"]["file_name"] == "red.png"
    assert document["document"]["data"] == PDF
    assert document["document"]["file_name"] == "sizes.pdf"
    reply = await until(lambda: Message.filter(conversation_id=cid, status="sent").first())
    assert reply.external_id == f"7101:{text['result']['message_id']}"

    # The document fails once (Telegram answers 500): the retry sends the document
    # alone, not the text and the photo again.
    tg.fake.fail.append(("sendDocument", 500, 0))
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        csrf, "And the other one:", ("blue.png", PNG + b"b", "image/png"),
        ("care.pdf", PDF + b"c", "application/pdf")), allow_redirects=False)
    assert resp.status == 302
    second = await until(lambda: Message.filter(text="And the other one:",
                                                status="sent").first(), timeout=20)
    sent = tg.bot.sent[3:]
    assert [s.get("text") for s in sent] == ["And the other one:", None, None]
    assert sent[1]["photo"]["file_name"] == "blue.png"
    assert sent[2]["document"]["file_name"] == "care.pdf"
    assert [c[1] for c in tg.fake.calls if c[1].startswith("send")][-4:] == [
        "sendMessage", "sendPhoto", "sendDocument", "sendDocument"]
    assert second.attempts == 2 and set(second.meta["sent_parts"]) == {
        "text", *(f"file:{a}" for a in await second.files.all().values_list("id", flat=True))}


async def test_messenger_reply_uploads_each_file_and_comments_take_none(meta: Meta) -> None:
    assert (await meta.hook("facebook", FakeGraph.dm(PAGE, "psid-7", "hi", "m_7"))
            ).status == 200
    cid = (await soon_message("m_7")).conversation_id  # type: ignore[attr-defined]
    shop = meta.shop
    csrf = await as_admin(shop)
    resp = await shop.client.post(f"/inbox/{cid}/reply", data=reply_form(
        csrf, "Our catalogue", ("shoe.png", PNG, "image/png"),
        ("catalogue.pdf", PDF, "application/pdf")), allow_redirects=False)
    assert resp.status == 302, await resp.text()
    page = meta.fake.accounts[PAGE]
    await soon(lambda: len(page.messages) == 3)
    text, image, doc = page.messages
    assert text["message"] == {"text": "Our catalogue"} and text["filedata"] is None
    for sent, kind, name, data, ctype in ((image, "image", "shoe.png", PNG, "image/png"),
                                          (doc, "file", "catalogue.pdf", PDF,
                                           "application/pdf")):
        assert sent["recipient"] == "psid-7" and sent["messaging_type"] == "RESPONSE"
        assert sent["message"] == {"attachment": {"type": kind,
                                                  "payload": {"is_reusable": False}}}
        assert sent["filedata"] == {"file_name": name, "content_type": ctype, "data": data}
    reply = await until(lambda: Message.filter(conversation_id=cid, status="sent").first())
    assert reply.external_id == text["mid"]

    # An Instagram comment thread: answered in public, where no file goes.
    body = FakeGraph.ig_comment(IG, "17890", "c-9", "ig-u9", "mai.shop", "Giá?")
    assert (await meta.hook("instagram", body)).status == 200
    thread = await Conversation.get(thread_key="post/17890")
    html = await (await shop.client.get(f"/inbox/{thread.id}")).text()
    assert 'name="files"' not in html and "This channel carries text only here" in html
    resp = await shop.client.post(f"/inbox/{thread.id}/reply", data=reply_form(
        csrf, "see", ("shoe.png", PNG, "image/png")))
    assert resp.status == 400 and "Files cannot be sent" in await resp.text()
    assert not meta.fake.replies


async def soon_message(external_id: str) -> Any:
    return await until(lambda: Message.filter(external_id=external_id).first())
