"""Labels renamed, recoloured and deleted on the labels page, for every conversation."""

from __future__ import annotations

from bot.models import Conversation, Label, Rule
from tests.conftest import Shop, message
from tests.web.test_web import as_admin, login


async def _labelled(shop: Shop, csrf: str, ext: str, labels: str) -> int:
    resp = await shop.inbound(message(ext, contact=f"c-{ext}", text="hi"))
    cid = int((await resp.json())["conversation_id"])
    await shop.client.post(f"/inbox/{cid}/labels", data={"csrf_token": csrf,
                                                         "labels": labels})
    return cid


async def _names(cid: int) -> list[str]:
    conv = await Conversation.get(id=cid).prefetch_related("labels")
    return sorted(lb.name for lb in conv.labels)


async def test_rename_recolour_and_delete_a_label(shop: Shop) -> None:
    csrf = await as_admin(shop)
    one = await _labelled(shop, csrf, "l1", "vip, stock")
    two = await _labelled(shop, csrf, "l2", "vip")
    vip = await Label.get(name="vip")
    page = await (await shop.client.get("/admin/labels")).text()
    assert f'action="/admin/labels/{vip.id}"' in page
    resp = await shop.client.post(f"/admin/labels/{vip.id}", allow_redirects=False, data={
        "csrf_token": csrf, "name": "gold", "color": "#AA3300"})
    assert resp.status == 302
    assert (await Label.get(id=vip.id)).color == "#aa3300"
    assert await _names(one) == ["gold", "stock"] and await _names(two) == ["gold"]
    page = await (await shop.client.get("/inbox?status=all")).text()
    assert "gold" in page and ">vip<" not in page
    resp = await shop.client.post(f"/admin/labels/{vip.id}/delete", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status == 302 and not await Label.exists(id=vip.id)
    assert await _names(one) == ["stock"] and await _names(two) == []
    assert await Conversation.filter(id__in=[one, two]).count() == 2  # only the label goes
    resp = await shop.client.post(f"/admin/labels/{vip.id}/delete", data={"csrf_token": csrf})
    assert resp.status == 404
    resp = await shop.client.post(f"/admin/labels/{vip.id}", data={
        "csrf_token": csrf, "name": "x", "color": "#000000"})
    assert resp.status == 404


async def test_bad_label_edits_show_the_form_again(shop: Shop) -> None:
    csrf = await as_admin(shop)
    await _labelled(shop, csrf, "l3", "a, b")
    a = await Label.get(name="a")
    resp = await shop.client.post(f"/admin/labels/{a.id}", data={
        "csrf_token": csrf, "name": "n" * 65, "color": "#000000"})
    text = await resp.text()
    assert resp.status == 422 and "at most 64 characters" in text and "n" * 65 in text
    resp = await shop.client.post(f"/admin/labels/{a.id}", data={
        "csrf_token": csrf, "name": "b", "color": "#000000"})
    assert resp.status == 400 and "already a label" in await resp.text()
    resp = await shop.client.post(f"/admin/labels/{a.id}", data={
        "csrf_token": csrf, "name": "a2", "color": "red"})
    assert resp.status == 400 and "#rrggbb" in await resp.text()
    resp = await shop.client.post(f"/admin/labels/{a.id}", data={"name": "z",
                                                                 "color": "#000000"})
    assert resp.status == 403  # no CSRF token
    assert (await Label.get(id=a.id)).name == "a"


async def test_a_marketer_cannot_change_labels(shop: Shop) -> None:
    csrf = await as_admin(shop)
    await _labelled(shop, csrf, "l4", "keep")
    keep = await Label.get(name="keep")
    await shop.client.post("/logout", data={"csrf_token": csrf})
    marketer = await shop.add_user("marketer")
    csrf = await login(shop, marketer["email"], marketer["password"])
    assert (await shop.client.get("/admin/labels")).status == 403
    for path in (f"/admin/labels/{keep.id}", f"/admin/labels/{keep.id}/delete"):
        resp = await shop.client.post(path, data={"csrf_token": csrf, "name": "mine",
                                                  "color": "#000000"})
        assert resp.status == 403
    assert await Label.exists(id=keep.id, name="keep")


async def test_a_renamed_label_is_renamed_in_the_rules_too(shop: Shop) -> None:
    csrf = await as_admin(shop)
    await _labelled(shop, csrf, "l5", "vip")
    vip = await Label.get(name="vip")
    status, rule = await shop.api("POST", "/api/v1/rules", json={
        "name": "VIP", "event": "message_received", "conditions": {"labels": ["vip", "x"]},
        "actions": [{"type": "add_label", "label": "vip"}]})
    assert status == 201, rule
    await shop.client.post(f"/admin/labels/{vip.id}", data={"csrf_token": csrf,
                                                            "name": "gold",
                                                            "color": "#000000"})
    saved = await Rule.get(id=rule["id"])
    assert saved.conditions["labels"] == ["gold", "x"]
    assert saved.actions == [{"type": "add_label", "label": "gold"}]


async def test_the_api_changes_labels_through_the_same_service(shop: Shop) -> None:
    csrf = await as_admin(shop)
    cid = await _labelled(shop, csrf, "l6", "old")
    old = await Label.get(name="old")
    status, body = await shop.api("PUT", f"/api/v1/labels/{old.id}",
                                  json={"name": "new", "color": "#112233"})
    assert status == 200 and body == {"id": old.id, "name": "new", "color": "#112233"}
    assert await _names(cid) == ["new"]
    status, _ = await shop.api("PUT", f"/api/v1/labels/{old.id}",
                               json={"name": "new", "color": "blue"})
    assert status == 422
    status, _ = await shop.api("DELETE", f"/api/v1/labels/{old.id}")
    assert status == 200 and await _names(cid) == []
    status, _ = await shop.api("DELETE", f"/api/v1/labels/{old.id}")
    assert status == 404
