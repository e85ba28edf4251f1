"""Deleting a segment on its page (issue 22, point 2): refused with the broadcasts' names
while a broadcast still to go out (scheduled, or in its A/B test) uses it; allowed once
they are sent or cancelled, which keep their results and say their segment was deleted.
Roles, CSRF, unknown ids, and the API's DELETE (same service), on SQLite and PostgreSQL."""

from __future__ import annotations

from bot.models import Broadcast, Segment
from tests.conftest import Shop
from tests.scheduler.marketing.test_marketing_pages import (
    as_marketer,
    compose_form,
    login,
    segment,
    text,
)


async def _broadcast(shop: Shop, csrf: str, sid: int, name: str) -> int:
    resp = await shop.client.post("/broadcasts/new", allow_redirects=False,
                                  data=compose_form(csrf, sid, name=name))
    assert resp.status == 303, await resp.text()
    return int(resp.headers["Location"].rsplit("/", 1)[1])


async def test_refused_while_a_broadcast_is_to_go_out(shop_any_db: Shop) -> None:
    shop = shop_any_db
    sid = await segment(shop, "Regulars")
    csrf = await as_marketer(shop)
    sale = await _broadcast(shop, csrf, sid, "December sale")
    test = await _broadcast(shop, csrf, sid, "Subject test")
    await Broadcast.filter(id=test).update(state="testing")  # its A/B sample went out
    page = await (await shop.client.get(f"/segments/{sid}")).text()
    assert 'id="segment-delete"' in page and f'action="/segments/{sid}/delete"' in page
    resp = await shop.client.post(f"/segments/{sid}/delete", data={"csrf_token": csrf})
    body = text(await resp.text())
    assert resp.status == 409, body
    assert "Broadcasts still to go out use this segment (December sale, Subject test)" \
        in body and "Regulars" in body  # the segment's page again, with the reason
    status, err = await shop.api("DELETE", f"/api/v1/segments/{sid}")
    assert status == 409 and "December sale" in err["error"]["message"], err
    assert await Segment.exists(id=sid)
    # cancelled and sent: they no longer need it
    resp = await shop.client.post(f"/broadcasts/{sale}/cancel", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status in (302, 303), await resp.text()
    await Broadcast.filter(id=test).update(state="sent", winner="a", due_at=None)
    resp = await shop.client.post(f"/segments/{sid}/delete", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status == 302 and resp.headers["Location"] == "/segments"
    assert not await Segment.exists(id=sid)
    assert await Broadcast.filter(id__in=[sale, test], segment_id=None).count() == 2
    listing = text(await (await shop.client.get("/broadcasts")).text())
    assert "December sale" in listing and "(deleted segment)" in listing
    result = await shop.client.get(f"/broadcasts/{test}")
    assert result.status == 200 and "(deleted segment)" in text(await result.text())
    assert "Regulars" not in text(await (await shop.client.get("/segments")).text())
    resp = await shop.client.post(f"/segments/{sid}/delete", data={"csrf_token": csrf})
    assert resp.status == 404


async def test_delete_needs_csrf_and_a_marketer(shop: Shop) -> None:
    sid = await segment(shop, "Keep")
    csrf = await as_marketer(shop)
    for token in ("", "forged"):
        resp = await shop.client.post(f"/segments/{sid}/delete", data={"csrf_token": token})
        assert resp.status == 403 and "CSRF" in await resp.text()
    assert (await shop.client.post("/segments/x/delete", data={"csrf_token": csrf})
            ).status == 404
    agent = await shop.add_user("agent")
    other = await login(shop, agent["email"], agent["password"])
    resp = await shop.client.post(f"/segments/{sid}/delete", data={"csrf_token": other})
    assert resp.status == 403
    assert await Segment.exists(id=sid)


async def test_api_delete_uses_the_same_service(shop_any_db: Shop) -> None:
    sid = await segment(shop_any_db, "Unused")
    status, out = await shop_any_db.api("DELETE", f"/api/v1/segments/{sid}")
    assert status == 200 and out == {"deleted": True}
    assert not await Segment.exists(id=sid)
    status, err = await shop_any_db.api("DELETE", f"/api/v1/segments/{sid}")
    assert status == 404, err
