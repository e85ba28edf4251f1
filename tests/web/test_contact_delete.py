"""Deleting a contact on its page (the erasure a customer may ask for): behind a confirming
step, for a role that may change contacts (as the API's DELETE), with CSRF; then the list
with a notice in the reader's language. A contact with conversations is refused (409, on
its page: merge it instead), as the API refuses it."""

from __future__ import annotations

import html
from typing import Any

import pytest

from bot.models import Contact, Conversation, Enrollment, Identity, Sequence, ShopEvent
from tests.conftest import Shop, message
from tests.web.test_web import login


async def _as(shop: Shop, role: str) -> str:
    user = await shop.add_user(role)
    shop.client.session.cookie_jar.clear()
    return await login(shop, user["email"], user["password"])


async def _contact(shop: Shop) -> int:
    status, made = await shop.api("POST", "/api/v1/events", json={
        "id": "ev-erase", "type": "signup",
        "contact": {"email": "erase-me@shop.test", "name": "Erase Me"}})
    assert status == 201, made
    return int(made["contact_id"])


async def test_an_agent_deletes_a_contact_after_confirming(shop: Shop) -> None:
    cid = await _contact(shop)
    assert await ShopEvent.filter(contact_id=cid).exists()
    assert await Enrollment.filter(contact_id=cid).exists()  # the welcome series
    csrf = await _as(shop, "agent")
    page = await (await shop.client.get(f"/contacts/{cid}")).text()
    # the button is inside a <details> that has to be opened first (no JS needed)
    confirm = page[page.index('id="contact-delete"'):]
    assert "<details><summary>Delete this contact</summary>" in confirm
    assert f'action="/contacts/{cid}/delete"' in confirm
    assert confirm.index("<summary>") < confirm.index('id="contact-delete-confirm"')

    forged = await shop.client.post(f"/contacts/{cid}/delete", data={})
    assert forged.status == 403 and await Contact.filter(id=cid).exists()

    resp = await shop.client.post(f"/contacts/{cid}/delete", data={"csrf_token": csrf},
                                  allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/contacts?deleted={cid}"
    assert not await Contact.filter(id=cid).exists()
    assert not await ShopEvent.filter(contact_id=cid).exists()
    assert not await Enrollment.filter(contact_id=cid).exists()
    assert await Sequence.filter(key="welcome").exists()
    listing = await (await shop.client.get(resp.headers["Location"])).text()
    assert f"Contact #{cid} was deleted." in listing and "erase-me@shop.test" not in listing
    vi = await (await shop.client.get(resp.headers["Location"], headers={
        "Accept-Language": "vi"})).text()
    assert f"Đã xóa liên hệ #{cid}." in html.unescape(vi)
    assert "was deleted" not in await (await shop.client.get("/contacts?deleted=x")).text()

    again = await shop.client.post(f"/contacts/{cid}/delete", data={"csrf_token": csrf})
    assert again.status == 404


async def test_a_marketer_may_not_delete_a_contact(shop: Shop) -> None:
    cid = await _contact(shop)
    csrf = await _as(shop, "marketer")
    page = await (await shop.client.get(f"/contacts/{cid}")).text()
    assert "contact-delete" not in page
    refused = await shop.client.post(f"/contacts/{cid}/delete", data={"csrf_token": csrf})
    assert refused.status == 403
    assert await Contact.filter(id=cid).exists()


async def test_a_contact_with_conversations_is_refused_on_its_page(shop: Shop) -> None:
    resp = await shop.inbound(message("del-1", contact="c-del", text="Hello"))
    assert resp.status == 202, await resp.text()
    cid = (await Identity.get(external_id="c-del")).contact_id  # type: ignore[attr-defined]
    csrf = await _as(shop, "admin")
    page = html.unescape(await (await shop.client.get(f"/contacts/{cid}")).text())
    assert "A contact with conversations cannot be deleted" in page
    assert f'action="/contacts/{cid}/delete"' not in page
    refused = await shop.client.post(f"/contacts/{cid}/delete", data={"csrf_token": csrf},
                                     headers={"Accept-Language": "vi"})
    body = html.unescape(await refused.text())
    assert refused.status == 409 and 'id="contact-error"' in body
    assert "liên hệ này đã có hội thoại" in body, body[:2000]
    assert await Contact.filter(id=cid).exists()


async def test_a_conversation_arriving_during_the_delete_is_refused(
        shop_any_db: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """A conversation that arrives after the check and before the delete: the database's
    foreign key refuses the delete, and the page and the API answer the same 409 as when
    the check sees it (never a 500); the contact and the conversation stay. On SQLite and
    PostgreSQL alike."""
    shop = shop_any_db
    resp = await shop.inbound(message("race-1", contact="c-race", text="Hello"))
    assert resp.status == 202, await resp.text()
    cid = (await Identity.get(external_id="c-race")).contact_id  # type: ignore[attr-defined]
    real = Conversation.filter

    class Unseen:  # the check ran just before the conversation was saved
        async def exists(self) -> bool:
            return False

    def check_too_early() -> None:
        seen: list[bool] = []

        def filter_(*args: Any, **kw: Any) -> Any:
            if kw == {"contact_id": cid} and not seen:
                seen.append(True)
                return Unseen()
            return real(*args, **kw)

        monkeypatch.setattr(Conversation, "filter", filter_)

    csrf = await _as(shop, "admin")
    check_too_early()
    refused = await shop.client.post(f"/contacts/{cid}/delete", data={"csrf_token": csrf})
    body = html.unescape(await refused.text())
    assert refused.status == 409 and 'id="contact-error"' in body, body[:600]
    assert "this contact has conversations" in body
    check_too_early()
    status, err = await shop.api("DELETE", f"/api/v1/contacts/{cid}")
    assert status == 409 and err["error"]["code"] == "has_conversations", err
    monkeypatch.undo()
    assert await Contact.filter(id=cid).exists()
    assert await Conversation.filter(contact_id=cid).count() == 1
