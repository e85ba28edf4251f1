"""Inbox work through the REST API: filters, Inbox Zero, replies, notes, assignment,
labels, status, contacts and merge, canned replies, roles, errors, and the OpenAPI document."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from openapi_spec_validator import validate

from bot.models import Conversation, Identity, Note, NoteRevision
from tests.conftest import Shop, message


async def _conv(shop: Shop, ext: str, contact: str = "c1", **kw: Any) -> int:
    resp = await shop.inbound(message(ext, contact=contact, **kw))
    assert resp.status == 202, await resp.text()
    return int((await resp.json())["conversation_id"])


async def test_filters_counts_and_inbox_zero(shop_any_db: Shop) -> None:
    shop = shop_any_db
    _, page = await shop.api("GET", "/api/v1/conversations")
    assert page["inbox_zero"] is True and page["items"] == []
    a = await _conv(shop, "a", "alice", text="refund please")
    b = await _conv(shop, "b", "bob", text="where is my parcel")
    me = (await shop.api("GET", "/api/v1/users"))[1][0]["id"]
    await shop.api("POST", f"/api/v1/conversations/{a}/assign", json={"assignee": "me"})
    await shop.api("PUT", f"/api/v1/conversations/{b}/labels", json={"labels": ["shipping"]})

    async def ids(query: str) -> list[int]:
        status, body = await shop.api("GET", "/api/v1/conversations?" + query)
        assert status == 200, body
        return sorted(c["id"] for c in body["items"])

    assert await ids("status=open") == sorted([a, b])
    assert await ids(f"assignee={me}") == [a]
    assert await ids("assignee=me") == [a]
    assert await ids("assignee=none") == [b]
    assert await ids("label=shipping") == [b]
    assert await ids("q=parcel") == [b]
    assert await ids("channel=api") == sorted([a, b])
    assert await ids("channel=webchat") == []
    await shop.api("POST", f"/api/v1/conversations/{a}/status", json={"status": "resolved"})
    await shop.api("POST", f"/api/v1/conversations/{b}/status", json={"status": "pending"})
    _, page = await shop.api("GET", "/api/v1/conversations?status=open")
    assert page["inbox_zero"] is True
    assert page["counts"] == {"open": 0, "pending": 1, "snoozed": 0, "resolved": 1}
    assert await ids("status=resolved") == [a]
    assert await ids("status=all") == sorted([a, b])
    status, err = await shop.api("GET", "/api/v1/conversations?status=bogus")
    assert status == 422 and err["error"]["field"] == "status"


async def test_unread_counts_and_read(shop: Shop) -> None:
    cid = await _conv(shop, "u1")
    await _conv(shop, "u2")
    _, page = await shop.api("GET", "/api/v1/conversations")
    assert page["items"][0]["unread_count"] == 2
    await shop.api("POST", f"/api/v1/conversations/{cid}/read")
    _, page = await shop.api("GET", "/api/v1/conversations")
    assert page["items"][0]["unread_count"] == 0


async def test_resolved_reopens_within_window_else_new(shop: Shop) -> None:
    cid = await _conv(shop, "r1")
    await shop.api("POST", f"/api/v1/conversations/{cid}/status", json={"status": "resolved"})
    assert await _conv(shop, "r2") == cid
    conv = await Conversation.get(id=cid)
    assert conv.status.value == "open"
    await shop.api("POST", f"/api/v1/conversations/{cid}/status", json={"status": "resolved"})
    # Resolved long ago: outside the window, so the customer starts a new conversation.
    await Conversation.filter(id=cid).update(
        resolved_at=datetime.now(UTC) - timedelta(days=30))
    assert await _conv(shop, "r3") != cid


async def test_snooze_and_wake(shop: Shop) -> None:
    cid = await _conv(shop, "s1")
    path = f"/api/v1/conversations/{cid}/status"
    status, err = await shop.api("POST", path, json={"status": "snoozed"})
    assert status == 400 and err["error"]["field"] == "snoozed_until"
    status, err = await shop.api("POST", path, json={"status": "snoozed",
                                                     "snoozed_until": "not a date"})
    assert status == 422 and err["error"]["field"] == "snoozed_until"
    soon = (datetime.now(UTC) + timedelta(seconds=0.6)).isoformat()
    status, body = await shop.api("POST", path, json={"status": "snoozed",
                                                      "snoozed_until": soon})
    assert status == 200 and body["status"] == "snoozed"
    for _ in range(50):  # the clock wakes it
        await asyncio.sleep(0.1)
        if (await Conversation.get(id=cid)).status.value == "open":
            break
    assert (await Conversation.get(id=cid)).status.value == "open"


async def test_assignment_self_other_round_robin(shop: Shop) -> None:
    agent1 = await shop.add_user("agent")
    agent2 = await shop.add_user("agent")
    marketer = await shop.add_user("marketer")
    cid = await _conv(shop, "as1")
    path = f"/api/v1/conversations/{cid}/assign"
    _, body = await shop.api("POST", path, json={"assignee": agent1["id"]})
    assert body["assignee_id"] == agent1["id"]
    _, body = await shop.api("POST", path, token=agent2["api_token"], json={"assignee": "me"})
    assert body["assignee_id"] == agent2["id"]
    status, err = await shop.api("POST", path, json={"assignee": marketer["id"]})
    assert status == 404 and err["error"]["field"] == "assignee_id"
    _, body = await shop.api("POST", path, json={"assignee": None})
    assert body["assignee_id"] is None
    seen = []
    for _ in range(6):
        _, body = await shop.api("POST", path, json={"assignee": "round_robin"})
        seen.append(body["assignee_id"])
    staff = sorted({seen[0], seen[1], seen[2]})
    assert len(staff) == 3 and seen[:3] == seen[3:]  # admin + two agents, in turn


async def test_reply_with_canned_reply_rendered(shop: Shop) -> None:
    cid = await _conv(shop, "cr1", contact="ann")
    status, canned = await shop.api("POST", "/api/v1/canned-replies", json={
        "shortcut": "greet", "title": "Greeting",
        "body": "Hi {{ contact.first_name }}, your e-mail is {{ contact.email or 'unknown' }}."})
    assert status == 201
    status, bad = await shop.api("POST", "/api/v1/canned-replies", json={
        "shortcut": "broken", "body": "Hi {{ contact.name "})
    assert status == 400 and bad["error"]["field"] == "body"
    status, sent = await shop.api("POST", f"/api/v1/conversations/{cid}/reply",
                                  json={"canned_reply_id": canned["id"]})
    assert status == 201
    assert sent["text"] == "Hi Ann, your e-mail is unknown."
    status, err = await shop.api("POST", f"/api/v1/conversations/{cid}/reply", json={})
    assert status == 422 and err["error"]["field"] == "text"
    status, err = await shop.api("POST", "/api/v1/conversations/999/reply",
                                 json={"text": "x"})
    assert status == 404


async def test_reply_with_idempotency_key_is_stored_once(shop_any_db: Shop) -> None:
    """A client that lost the answer to a reply (a process died behind the proxy) sends it
    again with the same key: one reply, the same one, whichever process answers."""
    shop = shop_any_db
    cid = await _conv(shop, "idem1", contact="ida")
    body = {"text": "Your parcel left today", "idempotency_key": "reply-7f3a9c01"}
    status, first = await shop.api("POST", f"/api/v1/conversations/{cid}/reply", json=body)
    assert status == 201
    status, again = await shop.api("POST", f"/api/v1/conversations/{cid}/reply", json=body)
    assert status == 201 and again["id"] == first["id"]
    status, other = await shop.api("POST", f"/api/v1/conversations/{cid}/reply",
                                   json={**body, "idempotency_key": "reply-7f3a9c02"})
    assert status == 201 and other["id"] != first["id"]
    _, thread = await shop.api("GET", f"/api/v1/conversations/{cid}")
    outs = [m for m in thread["thread"] if m.get("direction") == "out"]
    assert [m["text"] for m in outs] == ["Your parcel left today"] * 2
    status, err = await shop.api("POST", f"/api/v1/conversations/{cid}/reply",
                                 json={**body, "idempotency_key": "no spaces allowed"})
    assert status == 422 and err["error"]["field"] == "idempotency_key"
    # The same key with another text, or in another conversation: refused, nothing sent.
    other_cid = await _conv(shop, "idem2", contact="ivo")
    for where, text in [(cid, "Your parcel left yesterday"),
                        (other_cid, "Your parcel left today")]:
        status, err = await shop.api("POST", f"/api/v1/conversations/{where}/reply",
                                     json={**body, "text": text})
        assert status == 409, err
        assert err["error"]["code"] == "idempotency_conflict"
        assert err["error"]["field"] == "idempotency_key"
    _, thread = await shop.api("GET", f"/api/v1/conversations/{cid}")
    assert [m["text"] for m in thread["thread"] if m.get("direction") == "out"] == [
        "Your parcel left today"] * 2
    _, thread = await shop.api("GET", f"/api/v1/conversations/{other_cid}")
    assert [m for m in thread["thread"] if m.get("direction") == "out"] == []
    status, again = await shop.api("POST", f"/api/v1/conversations/{cid}/reply", json=body)
    assert status == 201 and again["id"] == first["id"]  # still the stored reply


async def test_notes_edit_history_any_staff(shop: Shop) -> None:
    cid = await _conv(shop, "n1")
    other = await shop.add_user("agent")
    status, note = await shop.api("POST", f"/api/v1/conversations/{cid}/notes",
                                  json={"text": "VIP customer"})
    assert status == 201
    status, edited = await shop.api("PATCH", f"/api/v1/notes/{note['id']}",
                                    token=other["api_token"], json={"text": "VIP, be kind"})
    assert status == 200 and edited["text"] == "VIP, be kind"
    assert [r["text"] for r in edited["revisions"]] == ["VIP customer"]
    assert await NoteRevision.filter(note_id=note["id"]).count() == 1
    _, detail = await shop.api("GET", f"/api/v1/conversations/{cid}")
    notes = [i for i in detail["thread"] if i["type"] == "note"]
    assert notes[0]["edits"] == 1 and notes[0]["text"] == "VIP, be kind"
    # Notes never reach the customer: nothing outbound was created.
    assert all(i["direction"] != "out" for i in detail["thread"] if i["type"] == "message")
    assert await Note.all().count() == 1


async def test_contacts_crud_and_merge(shop_any_db: Shop) -> None:
    shop = shop_any_db
    c1 = await _conv(shop, "m1", contact="phone-user")
    _, web = await shop.api("POST", "/api/v1/channels", json={"kind": "api", "name": "2nd"})
    resp = await shop.inbound(message("m2", contact="same-person-elsewhere"),
                              account=web["id"], secret=web["secret"])
    c2 = (await resp.json())["conversation_id"]
    keep = (await Conversation.get(id=c1)).contact_id  # type: ignore[attr-defined]
    other = (await Conversation.get(id=c2)).contact_id  # type: ignore[attr-defined]
    status, _ = await shop.api("PATCH", f"/api/v1/contacts/{other}",
                               json={"email": "ann@shop.test", "tags": ["vip"],
                                     "attributes": {"plan": "gold"}})
    assert status == 200
    status, err = await shop.api("PATCH", f"/api/v1/contacts/{other}", json={"email": "nope"})
    assert status == 422 and err["error"]["field"] == "email"
    status, merged = await shop.api("POST", f"/api/v1/contacts/{keep}/merge",
                                    json={"merge_id": other})
    assert status == 200
    assert merged["email"] == "ann@shop.test" and merged["tags"] == ["vip"]
    assert merged["attributes"] == {"plan": "gold"}
    assert {i["external_id"] for i in merged["identities"]} == {"phone-user",
                                                                "same-person-elsewhere"}
    assert {c["id"] for c in merged["conversations"]} == {c1, c2}
    status, _ = await shop.api("GET", f"/api/v1/contacts/{other}")
    assert status == 404
    assert await Identity.filter(contact_id=keep).count() == 2
    # New messages from either identity now land on the merged contact.
    resp = await shop.inbound(message("m3", contact="same-person-elsewhere"),
                              account=web["id"], secret=web["secret"])
    assert (await resp.json())["conversation_id"] == c2
    status, err = await shop.api("POST", f"/api/v1/contacts/{keep}/merge",
                                 json={"merge_id": keep})
    assert status == 400
    status, created = await shop.api("POST", "/api/v1/contacts", json={"name": "Walk-in"})
    assert status == 201
    status, _ = await shop.api("DELETE", f"/api/v1/contacts/{created['id']}")
    assert status == 200
    status, err = await shop.api("DELETE", f"/api/v1/contacts/{keep}")
    assert status == 409
    _, page = await shop.api("GET", "/api/v1/contacts?q=ann@")
    assert [c["id"] for c in page["items"]] == [keep]


async def test_roles_enforced_on_every_api_route(shop: Shop) -> None:
    agent = await shop.add_user("agent")
    marketer = await shop.add_user("marketer")
    cid = await _conv(shop, "role1")
    # unauthenticated
    for path in ("/api/v1/conversations", "/api/v1/contacts", "/api/v1/users"):
        resp = await shop.client.get(path)
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthenticated"
    resp = await shop.client.get("/api/v1/users", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401
    # marketer: contacts read-only, nothing else
    m = marketer["api_token"]
    assert (await shop.api("GET", "/api/v1/contacts", token=m))[0] == 200
    for method, path, body in [
        ("GET", "/api/v1/conversations", None),
        ("POST", f"/api/v1/conversations/{cid}/reply", {"text": "x"}),
        ("POST", "/api/v1/contacts", {"name": "x"}),
        ("GET", "/api/v1/users", None),
        ("GET", "/api/v1/channels", None),
    ]:
        status, err = await shop.api(method, path, token=m, json=body)
        assert status == 403 and err["error"]["code"] == "forbidden", (path, err)
    # agent: inbox and contacts, not users or channels
    a = agent["api_token"]
    assert (await shop.api("GET", "/api/v1/conversations", token=a))[0] == 200
    assert (await shop.api("POST", "/api/v1/contacts", token=a, json={"name": "x"}))[0] == 201
    assert (await shop.api("GET", "/api/v1/users", token=a))[0] == 403
    assert (await shop.api("POST", "/api/v1/channels", token=a,
                           json={"kind": "api", "name": "x"}))[0] == 403
    assert (await shop.api("POST", "/api/v1/canned-replies", token=a,
                           json={"shortcut": "x", "body": "y"}))[0] == 403
    # a disabled user's token stops working at once
    await shop.api("PATCH", f"/api/v1/users/{agent['id']}", json={"is_active": False})
    assert (await shop.api("GET", "/api/v1/conversations", token=a))[0] == 401


async def test_every_api_route_declares_auth(shop: Shop) -> None:
    """No route under /api/v1 is open by accident: each names a permission or is one of
    the deliberately public ones (the spec, and signed inbound webhooks)."""
    from bot.core.keys import ENDPOINTS

    eps = shop.client.server.app[ENDPOINTS]
    public = {(e.method, e.path) for e in eps if e.perm is None}
    # Webhooks authenticate with their channel's own secret instead of a staff login.
    assert public == {("GET", "/api/v1/openapi.json"), ("POST", "/api/v1/inbound/{account_id}"),
                      ("POST", "/api/v1/telegram/{account_id}/webhook"),
                      ("POST", "/api/v1/facebook/{account_id}/webhook"),
                      ("POST", "/api/v1/instagram/{account_id}/webhook"),
                      # Meta's subscription check: answers only with the account's secret
                      ("GET", "/api/v1/facebook/{account_id}/webhook"),
                      ("GET", "/api/v1/instagram/{account_id}/webhook"),
                      # store webhooks, signed with the store's webhook secret
                      ("POST", "/api/v1/webhooks/shopify"),
                      ("POST", "/api/v1/webhooks/woocommerce"),
                      # mentions and reviews, signed with an API channel account's secret
                      ("POST", "/api/v1/mentions/{account_id}"),
                      ("POST", "/api/v1/reviews/inbound/{account_id}"),
                      ("POST", "/api/v1/reviews/google/{account_id}")}
    assert all(e.security == "signature" for e in eps
               if e.perm is None and "inbound" in e.path)
    routes = {(r.method, r.resource.canonical) for r in shop.client.server.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/")}
    # every other method of an API path answers 405 (with Allow)
    assert routes == {(e.method, e.path) for e in eps} | {("*", e.path) for e in eps}


async def test_api_errors_are_json(shop: Shop) -> None:
    resp = await shop.client.get("/api/v1/nope", headers=shop.auth())
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    resp = await shop.client.delete("/api/v1/conversations", headers=shop.auth())
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"
    resp = await shop.client.post("/api/v1/contacts", data=b"{oops", headers=shop.auth())
    assert resp.status == 400
    status, err = await shop.api("POST", "/api/v1/contacts", json={"name": 5})
    assert status == 422 and err["error"]["field"] == "name"
    status, err = await shop.api("POST", "/api/v1/channels", json={"kind": "fax", "name": "x"})
    # the document lists the kinds (an enum), so an unknown one is an invalid field
    assert status == 422 and err["error"]["field"] == "kind" and "webchat" in str(err)
    status, err = await shop.api("GET", "/api/v1/conversations/abc")
    assert status == 404


async def test_openapi_document_is_valid_and_complete(shop: Shop) -> None:
    resp = await shop.client.get("/api/v1/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    validate(doc)
    assert doc["openapi"].startswith("3.")
    inbound = doc["paths"]["/api/v1/inbound/{account_id}"]["post"]
    schema_ref = inbound["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = doc["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert set(body["required"]) == {"external_id", "contact", "text"}
    assert {"202", "200", "400", "403", "404", "413", "422"} <= set(inbound["responses"])
    reply = doc["paths"]["/api/v1/conversations/{conversation_id}/reply"]["post"]
    assert reply["security"][0] == {"bearer": []} and "401" in reply["responses"]


async def test_user_and_channel_creation_over_api(shop: Shop) -> None:
    status, user = await shop.api("POST", "/api/v1/users", json={
        "email": "new@shop.test", "role": "agent", "password": "correct horse"})
    assert status == 201 and user["password"] == "correct horse"
    assert user["api_token"].startswith("sbt_")
    status, dup = await shop.api("POST", "/api/v1/users", json={
        "email": "new@shop.test", "role": "agent"})
    assert status == 409 and dup["error"]["field"] == "email"
    status, bad = await shop.api("POST", "/api/v1/users", json={
        "email": "x@shop.test", "role": "owner"})
    assert status == 422 and bad["error"]["field"] == "role"
    _, users = await shop.api("GET", "/api/v1/users")
    assert all("password" not in u and "api_token" not in u for u in users)
