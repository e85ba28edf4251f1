"""Saved views of the inbox through the page, on SQLite and PostgreSQL: save the current
filters under a name, see them listed (own views only), replace, delete; bad input is a
4xx; CSRF and roles hold."""

from __future__ import annotations

import html
import re

from bot.models import SavedView
from tests.conftest import Shop
from tests.web.test_web import as_admin, login

LINK = re.compile(r'<li><a href="/inbox\?([^"]*)">([^<]*)</a>')


async def views_on(shop: Shop) -> list[tuple[str, str]]:
    page = await (await shop.client.get("/inbox")).text()
    return [(html.unescape(q), html.unescape(n)) for q, n in LINK.findall(page)]


async def save(shop: Shop, csrf: str, name: str, back: str) -> object:
    return await shop.client.post("/inbox/views", allow_redirects=False, data={
        "csrf_token": csrf, "name": name, "back": back})


async def test_save_list_replace_and_delete_views(shop_any_db: Shop) -> None:
    shop = shop_any_db
    csrf = await as_admin(shop)
    assert "No saved views yet." in await (await shop.client.get("/inbox")).text()
    page = await (await shop.client.get("/inbox?status=pending&sort=urgent&page=2")).text()
    assert 'name="back" value="status=pending&amp;sort=urgent&amp;page=2"' in page
    resp = await save(shop, csrf, " Urgent & mine ",
                      "status=open&assignee=me&sort=urgent&page=3&evil=<x>&q=mug")
    assert resp.status == 302  # type: ignore[attr-defined]
    query = "status=open&assignee=me&sort=urgent&q=mug"
    assert resp.headers["Location"] == f"/inbox?{query}"  # type: ignore[attr-defined]
    assert await views_on(shop) == [(query, "Urgent & mine")]
    await save(shop, csrf, "A label", "label=vip&status=all")
    await save(shop, csrf, "Urgent & mine", "status=open&sort=urgent")  # replaces
    assert await views_on(shop) == [("label=vip&status=all", "A label"),
                                    ("status=open&sort=urgent", "Urgent & mine")]
    followed = await shop.client.get("/inbox?status=open&sort=urgent")
    assert followed.status == 200

    agent = await shop.add_user("agent")
    shop.client.session.cookie_jar.clear()
    agent_csrf = await login(shop, agent["email"], agent["password"])
    assert await views_on(shop) == []  # each person's own
    mine = await SavedView.get(name="A label")
    resp = await shop.client.post(f"/inbox/views/{mine.id}/delete",
                                  data={"csrf_token": agent_csrf})
    assert resp.status == 404 and await SavedView.exists(id=mine.id)
    shop.client.session.cookie_jar.clear()
    csrf = await as_admin(shop)
    resp = await shop.client.post(f"/inbox/views/{mine.id}/delete", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status == 302 and not await SavedView.exists(id=mine.id)
    assert await views_on(shop) == [("status=open&sort=urgent", "Urgent & mine")]


async def test_views_refuse_bad_input_forgery_and_roles(shop_any_db: Shop) -> None:
    shop = shop_any_db
    csrf = await as_admin(shop)
    for name, back, text in [("  ", "status=open", "at most 80 characters"),
                             ("v" * 81, "status=open", "at most 80 characters"),
                             ("long", "q=" + "x" * 1200, "too long to save")]:
        resp = await save(shop, csrf, name, back)
        assert resp.status == 400 and text in await resp.text(), name  # type: ignore[attr-defined]
    resp = await shop.client.post("/inbox/views/abc/delete", data={"csrf_token": csrf})
    assert 400 <= resp.status < 500
    forged = await save(shop, "forged", "x", "status=open")
    assert forged.status == 403  # type: ignore[attr-defined]
    assert not await SavedView.exists()
    marketer = await shop.add_user("marketer")
    shop.client.session.cookie_jar.clear()
    marketer_csrf = await login(shop, marketer["email"], marketer["password"])
    refused = await save(shop, marketer_csrf, "x", "status=open")
    assert refused.status == 403  # type: ignore[attr-defined]
    assert not await SavedView.exists()


async def test_rename_a_view_on_the_page(shop_any_db: Shop) -> None:
    shop = shop_any_db
    csrf = await as_admin(shop)
    await save(shop, csrf, "Mugs", "q=mug")
    await save(shop, csrf, "VIP", "label=vip")
    mugs = await SavedView.get(name="Mugs")
    page = await (await shop.client.get("/inbox")).text()
    assert f'action="/inbox/views/{mugs.id}/rename"' in page

    async def rename(vid: object, name: str, token: str = csrf) -> object:
        return await shop.client.post(f"/inbox/views/{vid}/rename", allow_redirects=False,
                                      data={"csrf_token": token, "name": name})

    resp = await rename(mugs.id, " Mugs & cups ")
    assert resp.status == 302  # type: ignore[attr-defined]
    assert await views_on(shop) == [("q=mug", "Mugs & cups"), ("label=vip", "VIP")]
    taken = await rename(mugs.id, "VIP")
    assert taken.status == 400  # type: ignore[attr-defined]
    assert "already have a view named VIP" in await taken.text()  # type: ignore[attr-defined]
    for bad in ("  ", "v" * 81):
        resp = await rename(mugs.id, bad)
        assert resp.status == 400  # type: ignore[attr-defined]
        assert "at most 80 characters" in await resp.text()  # type: ignore[attr-defined]
    assert (await rename(mugs.id, "x", "forged")).status == 403  # type: ignore[attr-defined]
    assert 400 <= (await rename("abc", "x")).status < 500  # type: ignore[attr-defined]
    assert (await rename(mugs.id + 999, "x")).status == 404  # type: ignore[attr-defined]
    agent = await shop.add_user("agent")
    shop.client.session.cookie_jar.clear()
    agent_csrf = await login(shop, agent["email"], agent["password"])
    resp = await rename(mugs.id, "theirs", agent_csrf)
    assert resp.status == 404  # type: ignore[attr-defined]  # only one's own views
    assert (await SavedView.get(id=mugs.id)).name == "Mugs & cups"
