"""An automation rule's edit page (issue 22, point 2): change a rule through a form with
CSRF (what the form does not show is kept), delete it from its page; roles, bad input
(the form again), unknown ids."""

from __future__ import annotations

from typing import Any

from tests.conftest import Shop
from tests.scheduler.marketing.test_marketing_pages import login
from tests.web.test_web import as_admin


async def a_rule(shop: Shop) -> dict[str, Any]:
    status, rule = await shop.api("POST", "/api/v1/rules", json={
        "name": "Night", "event": "message_received",
        "conditions": {"keywords": ["urgent"], "attributes": {"tier": "gold"},
                       "time_of_day": {"from": "22:00", "to": "07:00"}},
        "actions": [{"type": "reply", "template": "We are asleep"},
                    {"type": "add_label", "label": "night"},
                    {"type": "add_label", "label": "gold"}]})
    assert status == 201, rule
    return dict(rule)


def edit_form(csrf: str, **over: str) -> dict[str, str]:
    return {"csrf_token": csrf, "name": "Night", "event": "message_received",
            "channels": "", "public": "", "keywords": "urgent", "regex": "",
            "languages": "", "labels": "", "time_from": "22:00", "time_to": "07:00",
            "reply": "We are asleep", "reply_private": "", "notify": "",
            "add_label": "night", "assign": "", **over}


async def test_edit_a_rule_on_its_page_and_delete_it(shop: Shop) -> None:
    rule = await a_rule(shop)
    rid = rule["id"]
    csrf = await as_admin(shop)
    listing = await (await shop.client.get("/admin/bot")).text()
    assert f'href="/admin/bot/rules/{rid}/edit"' in listing
    page = await (await shop.client.get(f"/admin/bot/rules/{rid}/edit")).text()
    assert 'name="csrf_token"' in page and 'name="keywords" value="urgent"' in page
    assert ">We are asleep</textarea>" in page and 'name="time_from" value="22:00"' in page
    resp = await shop.client.post(f"/admin/bot/rules/{rid}/edit", allow_redirects=False,
                                  data=edit_form(csrf, name="Late night",
                                                 event="conversation_created",
                                                 keywords="help, pomoc", reply="",
                                                 notify="Someone wrote late",
                                                 assign="round_robin", resolve="on"))
    assert resp.status == 302, await resp.text()
    _, out = await shop.api("GET", "/api/v1/rules")
    [saved] = [r for r in out if r["id"] == rid]
    assert (saved["name"], saved["event"]) == ("Late night", "conversation_created")
    assert saved["conditions"] == {"keywords": ["help", "pomoc"],
                                   "time_of_day": {"from": "22:00", "to": "07:00"},
                                   "attributes": {"tier": "gold"}}  # not on the form: kept
    assert saved["actions"] == [
        {"type": "notify", "template": "Someone wrote late"},
        {"type": "add_label", "label": "night"}, {"type": "assign", "to": "round_robin"},
        {"type": "resolve"}, {"type": "add_label", "label": "gold"}]
    page = await (await shop.client.get(f"/admin/bot/rules/{rid}/edit")).text()
    assert 'value="round_robin" selected' in page and 'name="resolve" checked' in page
    assert 'id="rule-delete"' in page
    resp = await shop.client.post(f"/admin/bot/rules/{rid}", allow_redirects=False,
                                  data={"csrf_token": csrf, "delete": "1"})
    assert resp.status == 302 and (await shop.api("GET", "/api/v1/rules"))[1] == []
    assert (await shop.client.get(f"/admin/bot/rules/{rid}/edit")).status == 404
    resp = await shop.client.post(f"/admin/bot/rules/{rid}", data={"csrf_token": csrf,
                                                                   "delete": "1"})
    assert resp.status == 404


async def test_bad_input_roles_and_unknown_ids(shop: Shop) -> None:
    rid = (await a_rule(shop))["id"]
    csrf = await as_admin(shop)
    for over, message in (({"regex": "("}, "regex"), ({"event": "tuesday"}, "event must be"),
                          ({"time_from": "25:00"}, "time_of_day"),
                          ({"reply": "{{ oops"}, "template"),
                          ({"assign": "999999"}, "assign.to is not an active user")):
        resp = await shop.client.post(f"/admin/bot/rules/{rid}/edit",
                                      data=edit_form(csrf, name="Typed", **over))
        body = await resp.text()
        assert resp.status == 400 and message in body, (over, body[:2000])
        assert 'id="rule-edit"' in body and 'name="name" value="Typed"' in body
    _, out = await shop.api("GET", "/api/v1/rules")
    assert out[0]["name"] == "Night" and out[0]["conditions"]["keywords"] == ["urgent"]
    for path in ("/admin/bot/rules/999999/edit", "/admin/bot/rules/abc/edit"):
        assert (await shop.client.get(path)).status == 404
        assert (await shop.client.post(path, data=edit_form(csrf))).status == 404
    for token in ("", "forged"):
        resp = await shop.client.post(f"/admin/bot/rules/{rid}/edit",
                                      data=edit_form(token, name="Forged"))
        assert resp.status == 403 and "CSRF" in await resp.text()
    for role in ("agent", "marketer"):
        user = await shop.add_user(role)
        other = await login(shop, user["email"], user["password"])
        if role == "agent":
            assert (await shop.client.get(f"/admin/bot/rules/{rid}/edit")).status == 403
        resp = await shop.client.post(f"/admin/bot/rules/{rid}/edit",
                                      data=edit_form(other, name="Forged"))
        assert resp.status == 403, role
    assert (await shop.api("GET", "/api/v1/rules"))[1][0]["name"] == "Night"
