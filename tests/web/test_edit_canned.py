"""Canned replies edited and deleted on their page, and the reply box's picker data."""

from __future__ import annotations

from bot.models import CannedReply
from tests.conftest import Shop, message
from tests.web.test_web import as_admin, login


async def test_edit_and_delete_a_canned_reply_on_the_page(shop: Shop) -> None:
    csrf = await as_admin(shop)
    await shop.client.post("/admin/canned", data={"csrf_token": csrf, "shortcut": "hi",
                                                  "title": "Hello", "body": "Hi there"})
    c = await CannedReply.get(shortcut="hi")
    page = await (await shop.client.get("/admin/canned")).text()
    assert f'action="/admin/canned/{c.id}"' in page
    resp = await shop.client.post(f"/admin/canned/{c.id}", data={
        "csrf_token": csrf, "shortcut": "hello", "title": "Greeting",
        "body": "Hello {{ contact.first_name }}"}, allow_redirects=False)
    assert resp.status == 302
    c = await CannedReply.get(id=c.id)
    assert (c.shortcut, c.title, c.body) == ("hello", "Greeting",
                                             "Hello {{ contact.first_name }}")
    resp = await shop.client.post(f"/admin/canned/{c.id}/delete", data={"csrf_token": csrf},
                                  allow_redirects=False)
    assert resp.status == 302 and not await CannedReply.exists(id=c.id)
    # The same reply again, or one that never was: 404.
    resp = await shop.client.post(f"/admin/canned/{c.id}/delete", data={"csrf_token": csrf})
    assert resp.status == 404
    resp = await shop.client.post("/admin/canned/999", data={
        "csrf_token": csrf, "shortcut": "x", "title": "", "body": "y"})
    assert resp.status == 404


async def test_bad_edits_show_the_form_again(shop: Shop) -> None:
    csrf = await as_admin(shop)
    for sc in ("a", "b"):
        await shop.client.post("/admin/canned", data={"csrf_token": csrf, "shortcut": sc,
                                                      "title": "", "body": sc})
    a = await CannedReply.get(shortcut="a")
    resp = await shop.client.post(f"/admin/canned/{a.id}", data={
        "csrf_token": csrf, "shortcut": "a", "title": "t" * 201, "body": "kept text"})
    text = await resp.text()
    assert resp.status == 422 and "at most 200 characters" in text and "kept text" in text
    resp = await shop.client.post(f"/admin/canned/{a.id}", data={
        "csrf_token": csrf, "shortcut": "b", "title": "", "body": "x"})
    assert resp.status == 400 and "is taken" in await resp.text()
    resp = await shop.client.post(f"/admin/canned/{a.id}", data={
        "csrf_token": csrf, "shortcut": "a b", "title": "", "body": "x"})
    assert resp.status == 400 and "letters, digits" in await resp.text()
    resp = await shop.client.post("/admin/canned", data={
        "csrf_token": csrf, "shortcut": "c", "title": "", "body": "x" * 20001})
    assert resp.status == 422 and "x" * 20001 in await resp.text()
    assert (await CannedReply.get(id=a.id)).body == "a"
    assert not await CannedReply.exists(shortcut="c")
    resp = await shop.client.post(f"/admin/canned/{a.id}", data={
        "shortcut": "z", "title": "", "body": "x"})
    assert resp.status == 403  # no CSRF token
    assert (await CannedReply.get(id=a.id)).shortcut == "a"


async def test_an_agent_may_use_but_not_change_canned_replies(shop: Shop) -> None:
    resp = await shop.inbound(message("c1", text="hello"))
    cid = (await resp.json())["conversation_id"]
    csrf = await as_admin(shop)
    await shop.client.post("/admin/canned", data={
        "csrf_token": csrf, "shortcut": "thx", "title": "Thank you",
        "body": "Thanks, {{ contact.first_name }}!"})
    c = await CannedReply.get(shortcut="thx")
    picked = await (await shop.client.get(f"/inbox/{cid}/canned")).json()
    assert {"id": c.id, "shortcut": "thx", "title": "Thank you",
            "text": "Thanks, Ann!"} in picked  # rendered for the conversation's contact
    assert (await shop.client.get("/inbox/999/canned")).status == 404

    agent = await shop.add_user("agent")
    await shop.client.post("/logout", data={"csrf_token": csrf})
    csrf = await login(shop, agent["email"], agent["password"])
    resp = await shop.client.get(f"/inbox/{cid}/canned")
    assert resp.status == 200 and "Thanks, Ann!" in [c["text"] for c in await resp.json()]
    resp = await shop.client.post(f"/admin/canned/{c.id}", data={
        "csrf_token": csrf, "shortcut": "mine", "title": "", "body": "x"})
    assert resp.status == 403
    resp = await shop.client.post(f"/admin/canned/{c.id}/delete", data={"csrf_token": csrf})
    assert resp.status == 403
    assert (await CannedReply.get(id=c.id)).shortcut == "thx"

    marketer = await shop.add_user("marketer")
    await shop.client.post("/logout", data={"csrf_token": csrf})
    await login(shop, marketer["email"], marketer["password"])
    assert (await shop.client.get(f"/inbox/{cid}/canned")).status == 403


async def test_the_api_edits_through_the_same_service(shop: Shop) -> None:
    status, c = await shop.api("POST", "/api/v1/canned-replies",
                               json={"shortcut": "one", "body": "1"})
    assert status == 201
    status, body = await shop.api("PUT", f"/api/v1/canned-replies/{c['id']}",
                                  json={"shortcut": "uno", "title": "One", "body": "uno"})
    assert status == 200 and body["shortcut"] == "uno"
    status, _ = await shop.api("PUT", "/api/v1/canned-replies/999",
                               json={"shortcut": "x", "body": "y"})
    assert status == 404
