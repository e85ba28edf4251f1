"""A listening rule's own page (issue 22, point 2): change its name, kind, query,
languages and whether it is on, with the same checks as adding one (a query that does not
parse, a taken name, a bad language code: the form again with what was typed), and
delete it after a confirming step. Roles, CSRF, unknown ids; the API's PATCH refuses a
taken name with 409 now (it was a 500)."""

from __future__ import annotations

import html
from typing import Any

import pytest

from bot.models import ListeningRule
from tests.conftest import Shop
from tests.scheduler.marketing.test_marketing_pages import login
from tests.web.test_web import as_admin


async def _rule(shop: Shop, name: str, query: str = "acme OR #acme") -> int:
    status, rule = await shop.api("POST", "/api/v1/listening/rules", json={
        "name": name, "kind": "brand", "query": query, "languages": ["en"]})
    assert status == 201, rule
    return int(rule["id"])


def _form(csrf: str, **over: str) -> dict[str, Any]:
    return {"csrf_token": csrf, "name": "Acme", "kind": "brand", "query": "acme",
            "languages": "en", "enabled": "on", **over}


async def test_edit_a_rule_on_its_page(shop: Shop) -> None:
    rid = await _rule(shop, "Acme")
    csrf = await as_admin(shop)
    listing = await (await shop.client.get("/listening")).text()
    assert f'href="/listening/rules/{rid}"' in listing
    page = await (await shop.client.get(f"/listening/rules/{rid}")).text()
    assert 'id="rule-edit"' in page and ">acme OR #acme</textarea>" in page
    resp = await shop.client.post(f"/listening/rules/{rid}", allow_redirects=False, data=_form(
        csrf, name="Rival", kind="competitor", query='"rival shop" AND NOT job',
        languages="vi, EN"))
    assert resp.status == 302, await resp.text()
    rule = await ListeningRule.get(id=rid)
    assert (rule.name, rule.kind, rule.query, rule.languages, rule.enabled) == (
        "Rival", "competitor", '"rival shop" AND NOT job', ["vi", "en"], True)
    data = _form(csrf, name="Rival", query="rival")
    del data["enabled"]  # an unchecked box is not sent
    resp = await shop.client.post(f"/listening/rules/{rid}", allow_redirects=False, data=data)
    assert resp.status == 302 and not (await ListeningRule.get(id=rid)).enabled


@pytest.mark.parametrize(("over", "status", "message"), [
    ({"query": "(acme"}, 422, ""),
    ({"query": ""}, 422, "give a query"),
    ({"name": ""}, 422, "give the rule a name"),
    ({"kind": "rumour"}, 422, "the kind must be one of"),
    ({"languages": "english"}, 422, "two-letter codes"),
    ({"name": "Taken"}, 409, "a rule named 'Taken' exists"),
])
async def test_bad_input_shows_the_form_again(shop: Shop, over: dict[str, str], status: int,
                                              message: str) -> None:
    rid = await _rule(shop, "Acme")
    await _rule(shop, "Taken")
    csrf = await as_admin(shop)
    resp = await shop.client.post(f"/listening/rules/{rid}",
                                  data=_form(csrf, **{"query": "typed here", **over}))
    body = html.unescape(await resp.text())
    assert resp.status == status and message in body, body[:3000]
    assert 'id="rule-error"' in body and 'id="rule-edit"' in body
    if "query" not in over:
        assert ">typed here</textarea>" in body
    rule = await ListeningRule.get(id=rid)
    assert (rule.name, rule.query) == ("Acme", "acme OR #acme")


async def test_delete_roles_csrf_and_the_api(shop: Shop) -> None:
    rid = await _rule(shop, "Acme")
    other = await _rule(shop, "Other")
    csrf = await as_admin(shop)
    resp = await shop.client.post(f"/listening/rules/{rid}/delete", data={"csrf_token": ""})
    assert resp.status == 403 and await ListeningRule.exists(id=rid)
    agent = await shop.add_user("agent")
    agent_csrf = await login(shop, agent["email"], agent["password"])
    for path in (f"/listening/rules/{rid}", f"/listening/rules/{rid}/delete"):
        resp = await shop.client.post(path, data=_form(agent_csrf, name="Mine"))
        assert resp.status == 403, path
    csrf = await as_admin(shop)
    page = await (await shop.client.get(f"/listening/rules/{rid}")).text()
    assert 'id="rule-delete"' in page
    resp = await shop.client.post(f"/listening/rules/{rid}/delete", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status == 302 and not await ListeningRule.exists(id=rid)
    for path in (f"/listening/rules/{rid}", f"/listening/rules/{rid}/delete"):
        assert (await shop.client.post(path, data=_form(csrf))).status == 404, path
    assert (await shop.client.get(f"/listening/rules/{rid}")).status == 404
    assert (await shop.client.get("/listening/rules/abc")).status == 404
    status, err = await shop.api("PATCH", f"/api/v1/listening/rules/{other}",
                                 json={"name": "Acme2"})
    assert status == 200, err
    await _rule(shop, "Third")
    status, err = await shop.api("PATCH", f"/api/v1/listening/rules/{other}",
                                 json={"name": "Third"})
    assert status == 409, err
