"""Feeds removed on the listening page; alerts marked read, one or all, on the alerts page."""

from __future__ import annotations

from bot.models import Feed, StaffAlert
from tests.conftest import Shop
from tests.web.test_web import as_admin, login


async def _feed(url: str) -> Feed:
    return await Feed.create(url=url, due_at=None)  # never polled in the test


async def test_remove_a_feed_on_the_listening_page(shop: Shop) -> None:
    keep, gone = await _feed("https://a.example/feed.xml"), await _feed("https://b.example/rss")
    csrf = await as_admin(shop)
    page = await (await shop.client.get("/listening")).text()
    assert f'action="/listening/feeds/{gone.id}/delete"' in page
    resp = await shop.client.post(f"/listening/feeds/{gone.id}/delete", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status == 302
    assert not await Feed.exists(id=gone.id) and await Feed.exists(id=keep.id)
    page = await (await shop.client.get("/listening")).text()
    assert "b.example/rss" not in page and "a.example/feed.xml" in page
    resp = await shop.client.post(f"/listening/feeds/{gone.id}/delete",
                                  data={"csrf_token": csrf})
    assert resp.status == 404
    resp = await shop.client.post(f"/listening/feeds/{keep.id}/delete", data={})
    assert resp.status == 403 and await Feed.exists(id=keep.id)  # no CSRF token


async def test_an_agent_cannot_remove_a_feed(shop: Shop) -> None:
    feed = await _feed("https://a.example/feed.xml")
    agent = await shop.add_user("agent")
    csrf = await login(shop, agent["email"], agent["password"])
    page = await (await shop.client.get("/listening")).text()
    assert f"/listening/feeds/{feed.id}/delete" not in page
    resp = await shop.client.post(f"/listening/feeds/{feed.id}/delete",
                                  data={"csrf_token": csrf})
    assert resp.status == 403 and await Feed.exists(id=feed.id)


async def test_mark_alerts_read_one_or_all(shop: Shop) -> None:
    made = [await StaffAlert.create(kind="spike", key=f"k{i}", title=f"Spike {i}")
            for i in range(3)]
    agent = await shop.add_user("agent")  # whoever reads alerts may mark them read
    csrf = await login(shop, agent["email"], agent["password"])
    page = await (await shop.client.get("/alerts")).text()
    assert "3 unread" in page and f'action="/alerts/{made[0].id}/read"' in page
    resp = await shop.client.post(f"/alerts/{made[0].id}/read", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status == 302
    assert [(await StaffAlert.get(id=a.id)).read_at is not None for a in made] == [
        True, False, False]
    page = await (await shop.client.get("/alerts")).text()
    assert "2 unread" in page and f'action="/alerts/{made[0].id}/read"' not in page
    assert (await shop.client.post("/alerts/999/read", data={"csrf_token": csrf})).status == 404
    resp = await shop.client.post("/alerts/read", data={})
    assert resp.status == 403  # no CSRF token
    resp = await shop.client.post("/alerts/read", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status == 302
    assert await StaffAlert.filter(read_at=None).count() == 0
    page = await (await shop.client.get("/alerts")).text()
    assert "0 unread" in page and "Mark all read" not in page


async def test_a_marketer_cannot_mark_alerts_read(shop: Shop) -> None:
    alert = await StaffAlert.create(kind="spike", key="m1", title="Spike")
    marketer = await shop.add_user("marketer")
    csrf = await login(shop, marketer["email"], marketer["password"])
    for path in (f"/alerts/{alert.id}/read", "/alerts/read"):
        assert (await shop.client.post(path, data={"csrf_token": csrf})).status == 403
    assert (await StaffAlert.get(id=alert.id)).read_at is None
