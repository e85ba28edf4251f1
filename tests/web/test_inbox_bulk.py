"""The inbox list's bulk actions through the page, on SQLite and PostgreSQL: resolve, assign
and label many conversations in one POST (CSRF, the single actions' permission), how many
changed, the live update per conversation, and clear 4xx for bad input."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.models import Conversation, ConversationEvent, ConversationStatus, User
from tests.conftest import Shop, message
from tests.web.test_web import as_admin, login


async def conversations(shop: Shop, n: int) -> list[int]:
    out = []
    for i in range(n):
        body = await (await shop.inbound(message(contact=f"bulk-{i}", text=f"Q{i}"))).json()
        out.append(int(body["conversation_id"]))
    return out


async def bulk(shop: Shop, csrf: str, ids: list[Any], action: str, **extra: str) -> Any:
    data: list[tuple[str, str]] = [("csrf_token", csrf), ("action", action)]
    data += [("id", str(i)) for i in ids] + list(extra.items())
    return await shop.client.post("/inbox/bulk", data=data, allow_redirects=False)


async def test_bulk_resolve_assign_and_label(shop_any_db: Shop) -> None:
    shop = shop_any_db
    a, b, c = await conversations(shop, 3)
    csrf = await as_admin(shop)
    page = await (await shop.client.get("/inbox")).text()
    assert 'id="bulk-form"' in page and 'form="bulk-form"' in page and "Select all" in page
    fragment = await (await shop.client.get("/inbox?fragment=list")).text()  # live refresh
    assert f'name="id" value="{a}" form="bulk-form"' in fragment
    ws = await shop.client.ws_connect("/ws/staff")

    resp = await bulk(shop, csrf, [a, b, "x"], "resolve", back="status=open&sort=urgent&evil=1")
    assert resp.status == 302
    assert resp.headers["Location"] == "/inbox?status=open&sort=urgent&changed=2&of=2"
    told: set[int] = set()
    while told != {a, b}:  # the live update each single action sends
        told.add(int((await asyncio.wait_for(ws.receive_json(), 30))["conversation_id"]))
    await ws.close()
    after = await (await shop.client.get(resp.headers["Location"])).text()
    assert "2 of 2 conversations changed." in after
    assert await Conversation.filter(status=ConversationStatus.RESOLVED).count() == 2
    assert await ConversationEvent.filter(kind="resolved").count() == 2  # as one by one
    resp = await bulk(shop, csrf, [a, c], "resolve")  # a was resolved already
    assert resp.headers["Location"].endswith("changed=1&of=2")

    me = await User.get(email=shop.seed["email"])
    resp = await bulk(shop, csrf, [a, b], "assign", assignee="me")
    assert resp.headers["Location"].endswith("changed=2&of=2")
    assert {x.assignee_id for x in await Conversation.filter(id__in=[a, b])} == {me.id}  # type: ignore[attr-defined]
    agent = await shop.add_user("agent")
    resp = await bulk(shop, csrf, [a, c], "assign", assignee=str(agent["id"]))
    assert resp.headers["Location"].endswith("changed=2&of=2")
    resp = await bulk(shop, csrf, [a], "assign", assignee="")  # to nobody
    assert (await Conversation.get(id=a)).assignee_id is None  # type: ignore[attr-defined]

    await shop.client.post(f"/inbox/{a}/labels", data={"csrf_token": csrf, "labels": "old"})
    resp = await bulk(shop, csrf, [a, b], "label", label=" vip ")
    assert resp.headers["Location"].endswith("changed=2&of=2")
    conv = await Conversation.get(id=a).prefetch_related("labels")
    assert sorted(lb.name for lb in conv.labels) == ["old", "vip"]  # added, none taken
    resp = await bulk(shop, csrf, [a, b, c], "label", label="vip")
    assert resp.headers["Location"].endswith("changed=1&of=3")


async def test_bulk_refuses_bad_input_forgery_and_roles(shop_any_db: Shop) -> None:
    shop = shop_any_db
    a, = await conversations(shop, 1)
    csrf = await as_admin(shop)
    for ids, action, extra, status, text in [
            ([], "resolve", {}, 400, "Choose between 1 and"),
            (["x"], "resolve", {}, 400, "Choose between 1 and"),
            (list(range(1, 300)), "resolve", {}, 400, "Choose between 1 and"),
            ([a], "delete", {}, 400, "Unknown bulk action."),
            ([a], "label", {"label": "  "}, 400, "at most 64 characters"),
            ([a], "label", {"label": "v" * 65}, 400, "at most 64 characters"),
            ([a], "assign", {"assignee": "999999"}, 404, "active agent or admin")]:
        resp = await bulk(shop, csrf, ids, action, **extra)
        assert resp.status == status and text in await resp.text(), (ids, action)
    forged = await bulk(shop, "forged", [a], "resolve")
    assert forged.status == 403
    marketer = await shop.add_user("marketer")
    shop.client.session.cookie_jar.clear()
    page_csrf = await login(shop, marketer["email"], marketer["password"])
    refused = await bulk(shop, page_csrf, [a], "resolve")
    assert refused.status == 403
    assert (await Conversation.get(id=a)).status == ConversationStatus.OPEN

