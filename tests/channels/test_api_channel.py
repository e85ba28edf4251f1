"""The API channel through its public HTTP entry point, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import pytest
from aiohttp import web

from bot.models import ChannelAccount, Contact, Conversation, Message
from channels.signing import sign, verify
from tests.conftest import Shop, message


async def count_messages() -> int:
    return await Message.all().count()


async def test_inbound_is_stored_threaded_and_listed(shop_any_db: Shop) -> None:
    shop = shop_any_db
    resp = await shop.inbound(message("m-1", text="Where is my order?",
                                      sent_at="2026-11-20T10:00:00Z", thread_id="order-42"))
    assert resp.status == 202
    first = await resp.json()
    assert first["duplicate"] is False and first["id"] > 0
    resp = await shop.inbound(message("m-2", text="It's #42"))
    second = await resp.json()
    assert resp.status == 202
    # Same contact, different thread_id: a separate conversation, same contact.
    assert second["conversation_id"] != first["conversation_id"]
    resp = await shop.inbound(message("m-3", text="Also a question", thread_id="order-42"))
    assert (await resp.json())["conversation_id"] == first["conversation_id"]
    assert await Contact.all().count() == 1

    status, page = await shop.api("GET", "/api/v1/conversations?channel=api")
    assert status == 200
    assert page["counts"]["open"] == 2
    conv = next(c for c in page["items"] if c["id"] == first["conversation_id"])
    assert conv["unread_count"] == 2 and conv["preview"] == "Also a question"
    assert conv["contact"]["name"] == "Ann Lee" and conv["thread_id"] == "order-42"
    status, detail = await shop.api("GET", f"/api/v1/conversations/{conv['id']}")
    assert [m["text"] for m in detail["thread"]] == ["Where is my order?", "Also a question"]


async def test_redelivery_is_idempotent(shop_any_db: Shop) -> None:
    shop = shop_any_db
    body = message("same-id", text="once")
    first = await shop.inbound(body)
    again = await shop.inbound(body)
    assert first.status == 202 and again.status == 200
    a, b = await first.json(), await again.json()
    assert a["id"] == b["id"] and b["duplicate"] is True
    # Concurrent redeliveries race on the unique key and still store one message.
    race = message("raced")
    results = await asyncio.gather(*(shop.inbound(race) for _ in range(8)))
    ids = {(await r.json())["id"] for r in results}
    assert len(ids) == 1
    assert sorted(r.status for r in results).count(202) == 1
    assert await count_messages() == 2


async def test_bad_input_table(shop: Shop) -> None:
    before = await count_messages()
    good = json.dumps(message("ok-1")).encode()

    resp = await shop.inbound(good, signature="sha256=" + "0" * 64)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "bad_signature"
    resp = await shop.inbound(good, signature="")
    assert resp.status == 403

    resp = await shop.inbound(b"{not json", secret=None)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "malformed_json"

    huge = json.dumps(message(text="x" * 300_000)).encode()
    resp = await shop.inbound(huge)
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "too_large"

    resp = await shop.inbound(good, account=999)
    assert resp.status == 404
    assert (await resp.json())["error"]["field"] == "account_id"
    resp = await shop.inbound(good, account=shop.seed["webchat_account_id"])
    assert resp.status == 404  # a web-chat account is not an API account

    for body, field in [
        ({"contact": {"external_id": "c"}, "text": "hi"}, "external_id"),
        ({"external_id": "x", "text": "hi"}, "contact"),
        ({"external_id": "x", "contact": {"external_id": "c"}}, "text"),
        ({"external_id": 5, "contact": {"external_id": "c"}, "text": "hi"}, "external_id"),
        ({"external_id": "x", "contact": {"external_id": "c"}, "text": ""}, "text"),
        ({"external_id": "x", "contact": {}, "text": "hi"}, "contact.external_id"),
        (message(sent_at="yesterday"), "sent_at"),
        (message(contact="c", text="hi") | {"contact": {"external_id": "c", "email": "nope"}},
         "contact.email"),
    ]:
        resp = await shop.inbound(body)
        assert resp.status == 422, body
        err = (await resp.json())["error"]
        assert err["field"] == field and err["code"] == "invalid", err

    assert await count_messages() == before


async def test_staff_reply_is_posted_signed_with_retry(shop: Shop, aiohttp_server: Any) -> None:
    """The callback fails twice (503, then 429 with Retry-After), then accepts."""
    received: list[dict[str, Any]] = []
    answers = [web.Response(status=503), web.Response(status=429, headers={"Retry-After": "0"})]
    secret_box: dict[str, str] = {}

    async def callback(request: web.Request) -> web.Response:
        raw = await request.read()
        assert verify(secret_box["secret"], raw, request.headers["X-Switchboard-Signature"])
        if answers:
            return answers.pop(0)
        received.append(json.loads(raw))
        return web.Response(status=204)

    fake = web.Application()
    fake.router.add_post("/hook", callback)
    srv = await aiohttp_server(fake)
    status, acct = await shop.api("POST", "/api/v1/channels", json={
        "kind": "api", "name": "Shop backend", "callback_url": str(srv.make_url("/hook"))})
    assert status == 201 and len(acct["secret"]) == 64
    secret_box["secret"] = acct["secret"]
    status, listed = await shop.api("GET", "/api/v1/channels")
    assert all("secret" not in a for a in listed)

    resp = await shop.inbound(message("cb-1", contact="buyer-9"), account=acct["id"],
                              secret=acct["secret"])
    conv_id = (await resp.json())["conversation_id"]
    status, sent = await shop.api("POST", f"/api/v1/conversations/{conv_id}/reply",
                                  json={"text": "On its way!"})
    assert status == 201 and sent["status"] == "pending"
    for _ in range(100):
        msg = await Message.get(id=sent["id"])
        if msg.status.value == "sent":
            break
        await asyncio.sleep(0.1)
    assert msg.status.value == "sent" and msg.attempts == 3
    assert received == [{"event": "message.created", "message_id": sent["id"],
                         "conversation_id": conv_id, "thread_id": None,
                         "contact": {"external_id": "buyer-9"}, "text": "On its way!",
                         "created_at": received[0]["created_at"]}]
    _, detail = await shop.api("GET", f"/api/v1/conversations/{conv_id}")
    assert detail["thread"][-1]["status"] == "sent"


async def test_reply_failure_shows_on_message(shop: Shop, aiohttp_server: Any) -> None:
    """No callback URL: the reply fails permanently and says why."""
    resp = await shop.inbound(message("f-1"))
    conv_id = (await resp.json())["conversation_id"]
    _, sent = await shop.api("POST", f"/api/v1/conversations/{conv_id}/reply",
                             json={"text": "hello?"})
    for _ in range(50):
        msg = await Message.get(id=sent["id"])
        if msg.status.value == "failed":
            break
        await asyncio.sleep(0.05)
    assert msg.status.value == "failed" and "no callback URL" in msg.error
    _, detail = await shop.api("GET", f"/api/v1/conversations/{conv_id}")
    assert detail["thread"][-1]["error"] == msg.error
    # Staff fix the account and retry: the same message goes out, once.
    got: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(json.loads(await request.read())["text"])
        return web.Response(status=200)

    fake = web.Application()
    fake.router.add_post("/hook", hook)
    srv = await aiohttp_server(fake)
    await ChannelAccount.filter(id=shop.seed["api_account_id"]).update(
        callback_url=str(srv.make_url("/hook")))
    status, retried = await shop.api("POST", f"/api/v1/messages/{sent['id']}/retry")
    assert status == 200 and retried["status"] == "pending"
    for _ in range(50):
        if (await Message.get(id=sent["id"])).status.value == "sent":
            break
        await asyncio.sleep(0.05)
    assert (await Message.get(id=sent["id"])).status.value == "sent" and got == ["hello?"]
    status, err = await shop.api("POST", f"/api/v1/messages/{sent['id']}/retry")
    assert status == 400 and err["error"]["code"] == "not_failed"


@pytest.mark.slow  # waits through the retry backoff
async def test_unreachable_callback_retries_then_gives_up(shop: Shop) -> None:
    from tests.conftest import free_port

    _, acct = await shop.api("POST", "/api/v1/channels", json={
        "kind": "api", "name": "down", "callback_url": f"http://127.0.0.1:{free_port()}/x"})
    resp = await shop.inbound(message("u-1"), account=acct["id"], secret=acct["secret"])
    conv_id = (await resp.json())["conversation_id"]
    _, sent = await shop.api("POST", f"/api/v1/conversations/{conv_id}/reply",
                             json={"text": "are you there?"})
    seen = set()
    for _ in range(300):
        msg = await Message.get(id=sent["id"])
        seen.add(msg.status.value)
        if msg.status.value == "failed":
            break
        await asyncio.sleep(0.05)
    # backoff 0.2 s doubling over 6 attempts: about 6 s in all
    assert "retrying" in seen and msg.status.value == "failed"
    assert msg.attempts == 6 and "unreachable" in msg.error


def test_signature_helpers() -> None:
    assert verify("k", b"body", sign("k", b"body"))
    assert not verify("k", b"body", sign("other", b"body"))
    assert not verify("k", b"body", None)
    assert not verify("k", b"body", "md5=abc")
    # RFC 2104 HMAC-SHA256 for every key and body length, and a signature never leaks
    # into the next one (each starts from a copy of the keyed state)
    for secret in ("k", "s3cr\u00e9t", "x" * 64, "long" * 40):
        for body in (b"", b"body", bytes(range(256)) * 20):
            want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            assert sign(secret, body) == sign(secret, body) == want


async def test_conversation_rows_carry_channel_kind(shop: Shop) -> None:
    await shop.inbound(message("k-1"))
    assert await Conversation.filter(channel_kind="api").count() == 1
