"""'Could not import' for admins (issue 19 point 3): the quarantined items on a page with
dismiss and try-again, and in the API (GET /api/v1/imports, in the OpenAPI document)."""

from __future__ import annotations

from bot.models import ImportFailure
from bot.services import quarantine
from tests.conftest import Shop
from tests.web.test_web import as_admin, login


async def poisoned(key: str, body: str = "raw <b>body</b>") -> None:
    async def bad() -> None:
        raise RuntimeError("cannot store this one")
    assert await quarantine.store_or_quarantine("imap", 4, key, body, bad, tries=1)


async def test_the_api_lists_dismisses_and_retries(shop: Shop) -> None:
    await poisoned("<a@x>")
    await poisoned("<b@x>")
    status, items = await shop.api("GET", "/api/v1/imports")
    assert status == 200 and [i["key"] for i in items] == ["<b@x>", "<a@x>"]
    first = items[1]
    assert first["source"] == "imap" and first["account_id"] == 4 and first["tries"] == 1
    assert first["error"] == "RuntimeError: cannot store this one"
    assert first["body"] == "raw <b>body</b>"

    resp = await shop.client.post(f"/api/v1/imports/{first['id']}/dismiss",
                                  headers=shop.auth())
    assert resp.status == 204
    resp = await shop.client.post(f"/api/v1/imports/{items[0]['id']}/retry",
                                  headers=shop.auth())
    assert resp.status == 200 and (await resp.json()) == {"outcome": "waiting"}
    status, items = await shop.api("GET", "/api/v1/imports")
    assert items == []
    again = await ImportFailure.get(key="<b@x>")
    assert not again.quarantined and again.tries == 0

    for path in (f"/api/v1/imports/{first['id']}/dismiss", "/api/v1/imports/999/retry",
                 "/api/v1/imports/x/retry", "/api/v1/imports/99999999999999999999/retry"):
        resp = await shop.client.post(path, headers=shop.auth())
        assert resp.status == 404, path
    for query in ("limit=0", "limit=501", "limit=x"):
        resp = await shop.client.get(f"/api/v1/imports?{query}", headers=shop.auth())
        assert 400 <= resp.status < 500, query

    agent = await shop.add_user("agent")
    resp = await shop.client.get("/api/v1/imports", headers=shop.auth(agent["api_token"]))
    assert resp.status == 403
    status, doc = await shop.api("GET", "/api/v1/openapi.json")
    assert {"get"} <= set(doc["paths"]["/api/v1/imports"])
    assert "post" in doc["paths"]["/api/v1/imports/{failure_id}/dismiss"]


async def test_the_admin_page_shows_and_dismisses(shop: Shop) -> None:
    await poisoned("<c@x>", "<script>alert(1)</script>")
    csrf = await as_admin(shop)
    page = await shop.client.get("/admin/imports")
    html = await page.text()
    assert page.status == 200 and "Could not import" in html and "&lt;c@x&gt;" in html
    row = await ImportFailure.get(key="<c@x>")
    assert "alert(1)" not in html  # the list reads no bodies; the item's page shows it
    html = await (await shop.client.get(f"/admin/imports/{row.id}")).text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "Allow again" in html  # a mail is not replayed from here: the button says so
    channels = await (await shop.client.get("/admin/channels")).text()
    assert "1 item could not be imported" in channels
    resp = await shop.client.post(f"/admin/imports/{row.id}", allow_redirects=False,
                                  data={"csrf_token": csrf, "action": "nonsense"})
    assert resp.status == 400
    resp = await shop.client.post(f"/admin/imports/{row.id}", allow_redirects=False,
                                  data={"csrf_token": csrf, "action": "dismiss"})
    assert resp.status == 302
    assert "&lt;c@x&gt;" not in await (await shop.client.get("/admin/imports")).text()
    resp = await shop.client.post(f"/admin/imports/{row.id}", allow_redirects=False,
                                  data={"csrf_token": csrf, "action": "dismiss"})
    assert resp.status == 404
    channels = await (await shop.client.get("/admin/channels")).text()
    assert "/admin/imports" in channels and "could not be imported" not in channels


async def test_agents_do_not_see_the_page(shop: Shop) -> None:
    agent = await shop.add_user("agent")
    await login(shop, agent["email"], agent["password"])
    page = await shop.client.get("/admin/imports")
    assert page.status == 403
