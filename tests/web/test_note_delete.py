"""Deleting a private note on the conversation page: its author or an admin may, others
are refused; the note leaves the thread but is kept (with who deleted it) on its history
page; open pages are told; the REST API's DELETE does the same."""

from __future__ import annotations

from bot.core.events import ConversationChanged
from bot.core.keys import BUS
from bot.models import Note, User
from tests.api.test_responses_match import _check as check
from tests.conftest import Shop, message
from tests.web.test_web import login


async def _conversation(shop: Shop) -> int:
    resp = await shop.inbound(message("nd-1", contact="c-nd", text="Where is my parcel?"))
    return int((await resp.json())["conversation_id"])


async def _as(shop: Shop, user: dict[str, str]) -> str:
    shop.client.session.cookie_jar.clear()
    return await login(shop, user["email"], user["password"])


async def _thread(shop: Shop, cid: int) -> str:
    return await (await shop.client.get(f"/inbox/{cid}?fragment=thread")).text()


async def test_author_deletes_a_note_others_are_refused(shop: Shop) -> None:
    cid = await _conversation(shop)
    author, other = await shop.add_user("agent"), await shop.add_user("agent")
    csrf = await _as(shop, author)
    await shop.client.post(f"/inbox/{cid}/notes", data={"csrf_token": csrf,
                                                        "text": "Courier lost it"})
    note = await Note.get(conversation_id=cid)
    await shop.client.post(f"/notes/{note.id}", data={"csrf_token": csrf,
                                                      "text": "Courier lost it, refund"})
    assert f'action="/notes/{note.id}/delete"' in await _thread(shop, cid)

    other_csrf = await _as(shop, other)
    thread = await _thread(shop, cid)
    assert "Courier lost it, refund" in thread and f"/notes/{note.id}/delete" not in thread
    refused = await shop.client.post(f"/notes/{note.id}/delete",
                                     data={"csrf_token": other_csrf})
    assert refused.status == 403 and "author or an admin" in await refused.text()

    csrf = await _as(shop, author)
    forged = await shop.client.post(f"/notes/{note.id}/delete", data={})
    assert forged.status == 403
    assert (await Note.get(id=note.id)).deleted_at is None

    heard: list[ConversationChanged] = []

    async def hear(ev: ConversationChanged) -> None:
        heard.append(ev)

    shop.client.app[BUS].subscribe(ConversationChanged, hear)
    resp = await shop.client.post(f"/notes/{note.id}/delete", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status == 302 and resp.headers["Location"].startswith(f"/inbox/{cid}")
    await shop.client.app[BUS].drain()
    assert [(e.conversation_id, e.what) for e in heard] == [(cid, "note")]
    assert "Courier lost it" not in await _thread(shop, cid)
    kept = await Note.get(id=note.id)
    assert kept.deleted_at is not None
    assert kept.deleted_by_id == int(author["id"])  # type: ignore[attr-defined]
    history = await (await shop.client.get(f"/notes/{note.id}")).text()
    assert "Deleted by " + author["email"] in history
    assert "Courier lost it, refund" in history and "Courier lost it" in history
    again = await shop.client.post(f"/notes/{note.id}/delete", data={"csrf_token": csrf})
    assert again.status == 404
    edit = await shop.client.post(f"/notes/{note.id}", data={"csrf_token": csrf,
                                                             "text": "back"})
    assert edit.status == 404


async def test_an_admin_deletes_anyones_note_and_the_api_too(shop: Shop) -> None:
    cid = await _conversation(shop)
    agent = await shop.add_user("agent")
    csrf = await _as(shop, agent)
    for text in ("first", "second"):
        await shop.client.post(f"/inbox/{cid}/notes", data={"csrf_token": csrf,
                                                            "text": text})
    first, second = await Note.filter(conversation_id=cid).order_by("id")
    csrf = await _as(shop, shop.seed)
    assert f"/notes/{first.id}/delete" in await _thread(shop, cid)
    resp = await shop.client.post(f"/notes/{first.id}/delete", data={"csrf_token": csrf})
    assert resp.status == 200  # followed back to the conversation
    status, live = await shop.api("GET", f"/api/v1/notes/{second.id}")
    assert status == 200 and live["deleted_at"] is None and live["deleted_by_id"] is None
    status, body = await shop.api("DELETE", f"/api/v1/notes/{second.id}")
    assert status == 200 and body == {"deleted": True}
    # The API's note says it was deleted, when and by whom, as its schema documents.
    doc = await (await shop.client.get("/api/v1/openapi.json")).json()
    admin = await User.get(email=shop.seed["email"])  # on the page, and the API's token
    for note, text in ((first, "first"), (second, "second")):
        status, gone = await shop.api("GET", f"/api/v1/notes/{note.id}")
        assert status == 200 and gone["text"] == text
        assert gone["deleted_at"] is not None and gone["deleted_by_id"] == admin.id
        check(doc, "/api/v1/notes/{note_id}", "get", status, gone)
    assert doc["components"]["schemas"]["NoteOut"]["properties"]["deleted_by_id"]
    assert await Note.filter(conversation_id=cid, deleted_at=None).count() == 0
    assert await Note.filter(conversation_id=cid).count() == 2  # kept as records
    status, body = await shop.api("DELETE", f"/api/v1/notes/{second.id}")
    assert status == 404
