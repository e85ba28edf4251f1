"""Deleting a post on its page until it goes out (issue 22, point 2): a draft, a scheduled,
a failed or a cancelled post goes with its targets and history; a published one, one
being published, one that went out on a network, and one a publisher has just claimed are
refused (409) and stay; publishing stays exactly once. Roles, CSRF, and the API's DELETE,
which uses the same service."""

from __future__ import annotations

from datetime import timedelta

from bot.core.keys import ADAPTERS
from bot.core.time import utcnow
from bot.models import Post, PostEvent, PostStatus, PostVariant
from scheduler.posts.publish import Publisher
from tests.channels.test_telegram import Telegram
from tests.scheduler.marketing.test_marketing_pages import login
from tests.scheduler.posts.test_post_edit_pages import fake_api, scheduled, tg, tg_any_db
from tests.web.test_web import as_admin

__all__ = ["fake_api", "tg", "tg_any_db"]


async def _gone(pid: int) -> bool:
    return not (await Post.exists(id=pid) or await PostVariant.exists(post_id=pid)
                or await PostEvent.exists(post_id=pid))


async def test_delete_a_scheduled_post_on_its_page(tg: Telegram) -> None:
    shop = tg.shop
    csrf = await as_admin(shop)
    pid = await scheduled(tg, csrf)
    keep = await scheduled(tg, csrf, "Another")
    page = await (await shop.client.get(f"/posts/{pid}")).text()
    assert 'id="post-delete"' in page and f'action="/posts/{pid}/delete"' in page
    resp = await shop.client.post(f"/posts/{pid}/delete", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status == 302 and resp.headers["Location"] == "/posts"
    assert await _gone(pid) and await Post.exists(id=keep)
    assert f"/posts/{pid}\"" not in await (await shop.client.get("/posts")).text()
    resp = await shop.client.post(f"/posts/{pid}/delete", data={"csrf_token": csrf})
    assert resp.status == 404


async def test_draft_failed_and_cancelled_posts_can_be_deleted(tg: Telegram) -> None:
    shop = tg.shop
    csrf = await as_admin(shop)
    for status in ("draft", "failed", "cancelled", "missed"):
        pid = await scheduled(tg, csrf)
        await Post.filter(id=pid).update(status=status)
        await PostVariant.filter(post_id=pid).update(state="failed")
        resp = await shop.client.post(f"/posts/{pid}/delete", allow_redirects=False,
                                      data={"csrf_token": csrf})
        assert resp.status == 302, (status, await resp.text())
        assert await _gone(pid), status


async def test_a_claimed_post_is_refused_and_goes_out_once(tg: Telegram) -> None:
    shop = tg.shop
    csrf = await as_admin(shop)
    pid = await scheduled(tg, csrf, "Claimed")
    # what a publisher's claim leaves: still scheduled, due, its lease running
    await Post.filter(id=pid).update(due_at=utcnow() - timedelta(seconds=1),
                                     lease_until=utcnow() + timedelta(minutes=5))
    resp = await shop.client.post(f"/posts/{pid}/delete", data={"csrf_token": csrf})
    body = await resp.text()
    assert resp.status == 409 and "being published right now" in body, body[:2000]
    assert await Post.exists(id=pid) and await PostVariant.exists(post_id=pid)
    assert await PostEvent.exists(post_id=pid)  # the history rolled back with it
    # the process that claimed it publishes it, once
    publisher = Publisher(shop.client.app[ADAPTERS])
    assert await publisher.publish_post(pid) == PostStatus.PUBLISHED
    assert [s["text"] for s in tg.bot.sent if s["chat_id"] == "@shopnews"] == ["Claimed"]
    page = await (await shop.client.get(f"/posts/{pid}")).text()
    assert 'id="post-delete"' not in page and 'id="post-undeletable"' in page
    resp = await shop.client.post(f"/posts/{pid}/delete", data={"csrf_token": csrf})
    assert resp.status == 409 and "Published posts cannot be deleted" in await resp.text()
    assert await Post.exists(id=pid, status="published")


async def test_a_post_that_went_out_somewhere_or_is_publishing_stays(tg: Telegram) -> None:
    shop = tg.shop
    csrf = await as_admin(shop)
    half = await scheduled(tg, csrf)
    await Post.filter(id=half).update(status="failed")
    await PostVariant.filter(post_id=half).update(state="done", remote_id="42")
    page = await (await shop.client.get(f"/posts/{half}")).text()
    assert 'id="post-delete"' not in page
    resp = await shop.client.post(f"/posts/{half}/delete", data={"csrf_token": csrf})
    assert resp.status == 409 and "went out (or may have gone out) on telegram" in \
        await resp.text()
    busy = await scheduled(tg, csrf)
    await Post.filter(id=busy).update(status="publishing")
    resp = await shop.client.post(f"/posts/{busy}/delete", data={"csrf_token": csrf})
    assert resp.status == 409
    assert await Post.exists(id=half) and await Post.exists(id=busy)


async def test_delete_needs_csrf_and_a_writer(tg: Telegram) -> None:
    shop = tg.shop
    csrf = await as_admin(shop)
    pid = await scheduled(tg, csrf)
    for token in ("", "forged"):
        resp = await shop.client.post(f"/posts/{pid}/delete", data={"csrf_token": token})
        assert resp.status == 403 and "CSRF" in await resp.text()
    assert (await shop.client.post("/posts/abc/delete", data={"csrf_token": csrf})
            ).status == 404
    agent = await shop.add_user("agent")
    other = await login(shop, agent["email"], agent["password"])
    resp = await shop.client.post(f"/posts/{pid}/delete", data={"csrf_token": other})
    assert resp.status == 403
    assert await Post.exists(id=pid)


async def test_api_delete_uses_the_same_service(tg_any_db: Telegram) -> None:
    shop, aid = tg_any_db.shop, tg_any_db.account["id"]
    status, post = await shop.api("POST", "/api/v1/posts", json={
        "text": "Draft", "variants": [{"channel_account_id": aid, "target": "@shopnews"}],
        "due_at": "2099-01-01T09:00:00+07:00"})
    assert status == 201, post
    pid = post["id"]
    await Post.filter(id=pid).update(lease_until=utcnow() + timedelta(minutes=5))
    status, err = await shop.api("DELETE", f"/api/v1/posts/{pid}")
    assert status == 409 and err["error"]["code"] == "conflict", err
    await Post.filter(id=pid).update(lease_until=None)
    status, out = await shop.api("DELETE", f"/api/v1/posts/{pid}")
    assert status == 200 and out == {"deleted": True}
    assert await _gone(pid)
    status, err = await shop.api("DELETE", f"/api/v1/posts/{pid}")
    assert status == 404, err
