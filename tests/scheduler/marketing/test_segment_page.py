"""A segment's own page (issue 22, point 2): edit its name and rules through a form with
CSRF, see its members paginated with their count; roles, bad input, unknown ids."""

from __future__ import annotations

import re
import uuid

from bot.models import Segment
from tests.conftest import Shop
from tests.scheduler.marketing.test_marketing_pages import as_marketer, login, segment, text


async def contacts(shop: Shop, n: int, tag: str, **extra: str) -> None:
    for i in range(n):
        status, body = await shop.api("POST", "/api/v1/contacts", json={
            "email": f"{tag}-{i}-{uuid.uuid4().hex[:4]}@shop.test", "tags": [tag],
            "name": f"{tag.capitalize()} {i:03d}", **extra})
        assert status == 201, body


def edit_form(csrf: str, **over: str) -> dict[str, str]:
    return {"csrf_token": csrf, "name": "VIP", "match": "all", "kind_0": "tag",
            "value_0": "vip", "days_0": "30", "kind_1": "", "value_1": "", "days_1": "30",
            **over}


async def test_edit_name_and_rules_and_page_through_members(shop_any_db: Shop) -> None:
    shop = shop_any_db
    sid = await segment(shop, "Old name", members=0)
    await contacts(shop, 55, "vip")
    await contacts(shop, 3, "hanoi", attributes={"city": "Hanoi"})  # type: ignore[arg-type]
    csrf = await as_marketer(shop)
    listing = await (await shop.client.get("/segments")).text()
    assert f'href="/segments/{sid}">Old name</a>' in listing
    page = await (await shop.client.get(f"/segments/{sid}")).text()
    assert 'name="csrf_token"' in page and "0 contacts" in text(page)
    resp = await shop.client.post(f"/segments/{sid}", allow_redirects=False,
                                  data=edit_form(csrf, name="Big spenders"))
    assert resp.status == 302 and resp.headers["Location"] == f"/segments/{sid}"
    seg = await Segment.get(id=sid)
    assert seg.name == "Big spenders" and seg.rules["conditions"][0]["tag"] == "vip"
    page = await (await shop.client.get(f"/segments/{sid}")).text()
    assert "55 contacts" in text(page) and "Page 1 of 2" in text(page)
    assert page.count('href="/contacts/') == 50 and "Vip 000" in page
    second = await (await shop.client.get(f"/segments/{sid}?page=2")).text()
    assert second.count('href="/contacts/') == 5 and "Vip 054" in second
    assert 'value="vip"' in page and 'value="tag" selected' in page  # the stored rules
    # any of: the tag, or the attribute city=Hanoi; then "not" the tag
    resp = await shop.client.post(f"/segments/{sid}", allow_redirects=False, data=edit_form(
        csrf, name="Big spenders", match="any", kind_1="attribute", value_1="city=Hanoi"))
    assert resp.status == 302
    assert "58 contacts" in text(await (await shop.client.get(f"/segments/{sid}")).text())
    resp = await shop.client.post(f"/segments/{sid}", allow_redirects=False, data=edit_form(
        csrf, name="Big spenders", kind_1="attribute", value_1="city=Hanoi", not_0="on"))
    assert resp.status == 302
    page = await (await shop.client.get(f"/segments/{sid}")).text()
    assert "3 contacts" in text(page) and "Hanoi 000" in page and "#pager" not in page
    assert re.search(r'name="not_0" checked', page)


async def test_bad_input_roles_and_unknown_ids(shop: Shop) -> None:
    sid = await segment(shop, "VIP")
    other = await segment(shop, "Taken")
    csrf = await as_marketer(shop)
    for over, status, message in (
            ({"name": "Taken"}, 409, "a segment named 'Taken' exists"),
            ({"name": ""}, 400, "give the segment a name"),
            ({"kind_0": "event", "value_0": "order_placed", "days_0": "soon"}, 400,
             "days must be a whole number"),
            ({"kind_0": "consent", "value_0": "maybe"}, 400, "Rules: conditions.0"),
            ({"kind_0": "horoscope"}, 400, "unknown condition horoscope")):
        resp = await shop.client.post(f"/segments/{sid}", data=edit_form(csrf, **over))
        body = await resp.text()
        assert resp.status == status and message in text(body), (over, text(body)[:500])
        assert 'id="segment-edit"' in body and 'id="segment-error"' in body
    assert (await Segment.get(id=sid)).name == "VIP"
    assert (await Segment.get(id=other)).name == "Taken"
    for path in ("/segments/999999", "/segments/abc"):
        assert (await shop.client.get(path)).status == 404
        assert (await shop.client.post(path, data=edit_form(csrf))).status == 404
    assert (await shop.client.get(f"/segments/{sid}?page=x")).status == 400
    for token in ("", "forged"):
        resp = await shop.client.post(f"/segments/{sid}", data=edit_form(token, name="X"))
        assert resp.status == 403 and "CSRF" in await resp.text()
    agent = await shop.add_user("agent")
    agent_csrf = await login(shop, agent["email"], agent["password"])
    assert (await shop.client.get(f"/segments/{sid}")).status == 403
    resp = await shop.client.post(f"/segments/{sid}", data=edit_form(agent_csrf, name="X"))
    assert resp.status == 403 and (await Segment.get(id=sid)).name == "VIP"
