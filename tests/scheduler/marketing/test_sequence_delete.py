"""Deleting a drip sequence on its page (issue 22, point 2): refused while it is on
(pause it first), while contacts are still going through it, and for a built-in one;
allowed once paused and empty, with its finished enrolments (the mails it sent stay).
Roles, CSRF, unknown ids, and the API's DELETE (same service), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

from bot.models import Enrollment, MailSend, Sequence
from tests.conftest import Shop
from tests.scheduler.marketing.test_marketing_pages import as_marketer, login, text


async def _sequence(shop: Shop, key: str) -> int:
    status, seq = await shop.api("POST", "/api/v1/sequences", json={
        "key": key, "name": "Promo " + key, "trigger": "signup",
        "steps": [{"wait": {"days": 3}}, {"send": "welcome_1"}]})
    assert status == 201, seq
    return int(seq["id"])


async def _signup(shop: Shop) -> None:
    status, body = await shop.api("POST", "/api/v1/events", json={
        "id": uuid.uuid4().hex, "type": "signup", "payload": {},
        "contact": {"email": f"{uuid.uuid4().hex[:8]}@shop.test", "name": "Linh"}})
    assert status in (200, 201), body


async def test_delete_once_paused_and_empty(shop_any_db: Shop) -> None:
    shop = shop_any_db
    sid = await _sequence(shop, "promo")
    other = await _sequence(shop, "other")
    await _signup(shop)
    enr = await Enrollment.get(sequence_id=sid)
    assert enr.state == "active"
    csrf = await as_marketer(shop)
    page = await (await shop.client.get(f"/sequences/{sid}")).text()
    assert 'id="sequence-delete"' not in page  # on: the page offers to pause it first
    resp = await shop.client.post(f"/sequences/{sid}/delete", data={"csrf_token": csrf})
    assert resp.status == 409 and "Pause the sequence first" in text(await resp.text())
    resp = await shop.client.post(f"/sequences/{sid}/pause", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status == 303
    page = await (await shop.client.get(f"/sequences/{sid}")).text()
    assert 'id="sequence-delete"' in page
    resp = await shop.client.post(f"/sequences/{sid}/delete", data={"csrf_token": csrf})
    body = text(await resp.text())
    assert resp.status == 409 and "1 contact is still going through this sequence" in body
    assert 'id="steps-form"' in await (await shop.client.get(f"/sequences/{sid}")).text()
    # the contact finished, with a mail sent: the mail stays
    await Enrollment.filter(id=enr.id).update(state="completed", due_at=None)
    mail = await MailSend.create(key=f"enr:{enr.id}:step:1", enrollment_id=enr.id, step=1,
                                 template="welcome_1", contact_id=enr.contact_id,  # type: ignore[attr-defined]
                                 to="x@shop.test", message_id="<m@x>", state="sent")
    resp = await shop.client.post(f"/sequences/{sid}/delete", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status == 303 and resp.headers["Location"] == "/sequences"
    assert not await Sequence.exists(id=sid) and not await Enrollment.exists(id=enr.id)
    kept = await MailSend.get(id=mail.id)
    assert kept.enrollment_id is None and kept.state == "sent"  # type: ignore[attr-defined]
    assert await Sequence.exists(id=other)
    listing = text(await (await shop.client.get("/sequences")).text())
    assert "Promo promo" not in listing and "Promo other" in listing
    assert (await shop.client.post(f"/sequences/{sid}/delete", data={"csrf_token": csrf})
            ).status == 404


async def test_a_built_in_sequence_stays(shop: Shop) -> None:
    builtin = await Sequence.filter(key="welcome").first() or await Sequence.first()
    assert builtin is not None
    await Sequence.filter(id=builtin.id).update(enabled=False)
    csrf = await as_marketer(shop)
    resp = await shop.client.post(f"/sequences/{builtin.id}/delete", data={"csrf_token": csrf})
    assert resp.status == 409 and "A built-in sequence cannot be deleted" in text(
        await resp.text())
    assert await Sequence.exists(id=builtin.id)


async def test_roles_csrf_and_the_api(shop_any_db: Shop) -> None:
    shop = shop_any_db
    sid = await _sequence(shop, "gone")
    await Sequence.filter(id=sid).update(enabled=False)
    resp = await shop.client.post(f"/sequences/{sid}/delete", data={"csrf_token": "forged"})
    assert resp.status in (401, 403)
    agent = await shop.add_user("agent")
    other = await login(shop, agent["email"], agent["password"])
    resp = await shop.client.post(f"/sequences/{sid}/delete", data={"csrf_token": other})
    assert resp.status == 403 and await Sequence.exists(id=sid)
    status, out = await shop.api("DELETE", f"/api/v1/sequences/{sid}")
    assert status == 200 and out == {"deleted": True} and not await Sequence.exists(id=sid)
    status, err = await shop.api("DELETE", f"/api/v1/sequences/{sid}")
    assert status == 404, err
