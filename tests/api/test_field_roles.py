"""Roles apply to fields, not only to routes (issue 19 point 13): a marketer may read
contacts but not the inbox, so a contact comes without its conversations (and their
previews) on the API and on the contact page; an agent and an admin see them. A sentiment
correction of a message keeps its text from a marketer too."""

from __future__ import annotations

import re

from bot.models import Message, SentimentCorrection
from tests.conftest import Shop, message

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _contact_with_conversation(shop: Shop) -> int:
    resp = await shop.inbound(message("m1", contact="ann", text="my secret order 42"))
    assert resp.status == 202
    conv_id = (await resp.json())["conversation_id"]
    _, conv = await shop.api("GET", f"/api/v1/conversations/{conv_id}")
    return int(conv["contact"]["id"])


async def test_a_contact_over_the_api_by_role(shop: Shop) -> None:
    cid = await _contact_with_conversation(shop)
    marketer, agent = await shop.add_user("marketer"), await shop.add_user("agent")
    for who, token in (("admin", shop.token), ("agent", agent["api_token"])):
        status, contact = await shop.api("GET", f"/api/v1/contacts/{cid}", token=token)
        assert status == 200 and contact["conversations"][0]["preview"], who
    status, contact = await shop.api("GET", f"/api/v1/contacts/{cid}",
                                     token=marketer["api_token"])
    assert status == 200 and contact["name"] == "Ann Lee"
    assert "conversations" not in contact and "secret order" not in str(contact)
    # every way a contact comes back: list, change, merge
    status, page = await shop.api("GET", "/api/v1/contacts", token=marketer["api_token"])
    assert status == 200 and "secret order" not in str(page)
    doc = await (await shop.client.get("/api/v1/openapi.json")).json()
    conversations = doc["components"]["schemas"]["ContactOut"]["properties"]["conversations"]
    assert conversations["x-permission"] == "read conversations"


async def _login(shop: Shop, email: str, password: str) -> None:
    shop.client.session.cookie_jar.clear()
    page = await shop.client.get("/login")
    token = CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]
    resp = await shop.client.post("/login", data={"email": email, "password": password,
                                                  "csrf_token": token}, allow_redirects=False)
    assert resp.status == 302, await resp.text()


async def test_the_contact_page_by_role(shop: Shop) -> None:
    cid = await _contact_with_conversation(shop)
    conv = (await shop.api("GET", "/api/v1/conversations"))[1]["items"][0]["id"]
    for role, sees in (("marketer", False), ("agent", True), ("admin", True)):
        user = await shop.add_user(role)
        await _login(shop, user["email"], user["password"])
        resp = await shop.client.get(f"/contacts/{cid}")
        html = await resp.text()
        assert resp.status == 200 and "Ann Lee" in html, role
        assert (f"/inbox/{conv}" in html) is sees and ("Conversations" in html) is sees, role


async def test_a_corrected_message_keeps_its_text_from_a_marketer(shop: Shop) -> None:
    await _contact_with_conversation(shop)
    msg = await Message.filter(text="my secret order 42").first()
    assert msg is not None
    await SentimentCorrection.create(item_kind="message", item_id=msg.id,
                                     text="my secret order 42", lang="en", label="neutral",
                                     model_label="neutral", model_version="t")
    marketer, agent = await shop.add_user("marketer"), await shop.add_user("agent")
    _, rows = await shop.api("GET", "/api/v1/sentiment/corrections", token=agent["api_token"])
    assert rows[0]["text"] == "my secret order 42"
    _, rows = await shop.api("GET", "/api/v1/sentiment/corrections",
                             token=marketer["api_token"])
    assert rows[0]["item_id"] == msg.id and "text" not in rows[0]


async def test_a_mention_of_a_customer_message_keeps_its_text_from_a_marketer(
        shop: Shop) -> None:
    from datetime import UTC, datetime

    from bot.models import Mention

    _, rule = await shop.api("POST", "/api/v1/listening/rules", json={
        "name": "Brand", "kind": "brand", "query": "acme"})
    now = datetime.now(UTC)
    await Mention.create(rule_id=rule["id"], source="webchat", source_ref="message:7",
                         author="Ann Lee", text="acme lost my parcel, order 42", lang="en",
                         occurred_at=now)
    await Mention.create(rule_id=rule["id"], source="rss", source_ref="rss:1:a",
                         author="A blog", text="acme is great", lang="en", occurred_at=now)
    marketer, agent = await shop.add_user("marketer"), await shop.add_user("agent")
    _, rows = await shop.api("GET", "/api/v1/listening/mentions", token=agent["api_token"])
    assert {r["text"] for r in rows} == {"acme lost my parcel, order 42", "acme is great"}
    _, rows = await shop.api("GET", "/api/v1/listening/mentions",
                             token=marketer["api_token"])
    inbox = next(r for r in rows if r["from_inbox"])
    assert "text" not in inbox and "author" not in inbox and inbox["source"] == "webchat"
    assert next(r for r in rows if not r["from_inbox"])["text"] == "acme is great"
    # the listening page, by the same map
    for user, sees in ((agent, True), (marketer, False)):
        await _login(shop, user["email"], user["password"])
        html = await (await shop.client.get("/listening")).text()
        assert "acme is great" in html
        assert ("order 42" in html) is sees and ("Ann Lee" in html) is sees
