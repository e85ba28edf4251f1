"""Every API route, as an admin, fed what a careless or hostile client sends: a body that
is not JSON, JSON of the wrong shape, ids that are not ids or do not fit in a database
integer, and query parameters of the wrong type. Each gets a 4xx with a JSON error, never
a 500, and nothing already stored changes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from bot.core.keys import ENDPOINTS
from bot.models import Contact, Conversation, Message
from tests.conftest import ROOT, Shop, message

BAD_IDS = ("abc", "-1", "0", "99999999999999999999999", "9223372036854775808", "1.5",
           "%00", "\u00b2", "\u0663")
BAD_BODIES: tuple[bytes, ...] = (b"{oops", b"[]", b"null", b"\"text\"", b"{\"id\": {}}",
                                 b"\xff\xfe", b"{" * 5000)
BAD_QUERIES = ("?limit=abc", "?page=-5", "?since=yesterday", "?status=nope",
               "?limit=99999999999999999999999", "?bucket=week", "?q=%00",
               "?page=9223372036854775807", "?assignee=99999999999999999999999")


async def test_no_route_answers_bad_input_with_a_server_error(shop: Shop) -> None:
    resp = await shop.inbound(message("keep", contact="c1", text="stored before"))
    assert resp.status == 202
    before = (await Message.all().count(), await Conversation.all().count(),
              await Contact.all().count())
    failures: list[str] = []

    async def check(method: str, url: str, **kw: Any) -> None:
        kw.setdefault("headers", shop.auth())
        resp = await shop.client.request(method, url, **kw)
        text = await resp.text()
        if resp.status >= 500:
            failures.append(f"{method} {url} {kw.get('data', b'')[:20]!r}: "
                            f"{resp.status} {text[:200]}")

    for ep in shop.client.server.app[ENDPOINTS]:
        for bad in BAD_IDS if "{" in ep.path else ():
            await check(ep.method, re.sub(r"{\w+}", bad, ep.path), json={})
        url = re.sub(r"{\w+}", "1", ep.path)
        if ep.method in ("POST", "PUT", "PATCH"):
            for body in BAD_BODIES:
                await check(ep.method, url, data=body,
                            headers={**shop.auth(), "Content-Type": "application/json"})
        if ep.method == "GET":
            for query in BAD_QUERIES:
                await check("GET", url + query)
    assert not failures, "\n".join(failures)
    after = (await Message.all().count(), await Conversation.all().count(),
             await Contact.all().count())
    assert after == before


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _types(doc: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(doc, schema)
    # an anyOf beside a type and properties states a rule among them (one of text or
    # template); an anyOf alone is a choice of types
    if "anyOf" in schema and "type" not in schema:
        return [t for s in schema["anyOf"] for t in _types(doc, s)]
    return [schema]


def _sample(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A plausible value of ``schema``: what a client that read the spec would send."""
    s = [t for t in _types(doc, schema) if t.get("type") != "null"][0]
    if "enum" in s:
        return s["enum"][0]
    if "const" in s:
        return s["const"]
    kind = s.get("type")
    if kind == "object":
        return {k: _sample(doc, v) for k, v in s.get("properties", {}).items()
                if k in s.get("required", ())}
    fmt = s.get("format", "")
    return {"integer": 1, "number": 1, "boolean": False, "array": [],
            "string": "2026-11-21T10:00:00Z" if fmt == "date-time" else
            "a@b.example" if "email" in fmt else "x" * max(1, s.get("minLength", 1))
            }.get(kind or "string", "x")


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, url with every path id 1, operation) for every route in the spec."""
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            yield method.upper(), re.sub(r"{\w+}", "1", path), op


def _body_fields(op: dict[str, Any], doc: dict[str, Any]
                 ) -> Iterator[tuple[dict[str, Any], str, list[dict[str, Any]]]]:
    """(a plausible body, a field's name, the field's types) for every field of the
    operation's JSON body."""
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if content:
        schema = _resolve(doc, content["schema"])
        base = _sample(doc, schema)
        for name, prop in schema.get("properties", {}).items():
            yield base, name, _types(doc, prop)


async def test_integers_too_big_for_the_database_are_refused_not_crashed_on(shop: Shop,
                                                                             ) -> None:
    """Every integer a route takes (in its body or its query), as a number no database
    integer holds, and every time as one past year 9999 in UTC, in an otherwise
    plausible request: a 4xx, never a 500."""
    huge = 10**30
    doc = (await shop.api("GET", "/api/v1/openapi.json"))[1]
    failures: list[str] = []
    tried = 0
    for method, url, op in _operations(doc):
        for param in op.get("parameters", []):
            types = _types(doc, param["schema"]) if param["in"] == "query" else []
            value = ("9999-12-31T23:59:59-10:00"
                     if any(t.get("format") == "date-time" for t in types) else
                     str(huge) if any(t.get("type") == "integer" for t in types) else "")
            if value:
                tried += 1
                resp = await shop.client.request(method, url, params={param["name"]: value},
                                                 headers=shop.auth())
                if resp.status >= 500:
                    failures.append(f"{method} {url}?{param['name']}: {resp.status}")
        for base, name, types in _body_fields(op, doc):
            body = dict(base)
            if any(t.get("format") == "date-time" for t in types):
                body[name] = "9999-12-31T23:59:59-10:00"  # past 9999 in UTC
            elif any(t.get("type") == "array" for t in types):
                body[name] = [huge]
            elif any(t.get("type") == "integer" for t in types):
                body[name] = huge
            else:
                continue
            tried += 1
            resp = await shop.client.request(method, url, json=body, headers=shop.auth())
            if resp.status >= 500:
                failures.append(f"{method} {url} {name}: {resp.status} "
                                f"{(await resp.text())[:150]}")
    assert tried > 20  # the spec really was walked
    assert not failures, "\n".join(failures)


async def test_no_staff_page_answers_bad_input_with_a_server_error(shop: Shop) -> None:
    """Every staff page and form, logged in as an admin with a valid CSRF token, with ids
    that are not ids and form fields holding what no form of ours sends."""
    from tests.web.test_web import as_admin
    resp = await shop.inbound(message("keep", contact="c1", text="stored before"))
    cid = (await resp.json())["conversation_id"]
    before = (await Message.filter(direction="in").count(), await Contact.all().count())
    csrf = await as_admin(shop)
    huge = str(10**30)
    # every field name our forms use (read from the templates), each holding the same
    # junk: a number no database holds, a time past 9999 in UTC, broken JSON and regex
    names = set(re.findall(r'name="([a-z_]+)"', "".join(
        p.read_text() for p in (ROOT / "templates").rglob("*.html"))))
    junks = [{**{n: value for n in names}, "csrf_token": csrf, "target_abc": "x",
              "use_abc": "on"}
             for value in (huge, "9999-12-31T23:59:59-10:00", "{([\x00\u00b2")]
    failures: list[str] = []
    skip = {"/login", "/logout", "/ws/staff"}
    for route in shop.client.server.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path")
        if not path or path in skip or path.startswith(("/api/", "/static")):
            continue
        for bad in (["abc", huge, "\u00b2"] if "{" in path else [""]):
            url = re.sub(r"{\w+}", bad, path) if bad else path
            if route.method == "GET":
                for query in (f"?rule={huge}&page={huge}&q=%00&assignee={huge}"
                              f"&account={huge}",
                              "?status=nope&page=-1&rule=\u00b2"):
                    resp = await shop.client.get(url + query, allow_redirects=False)
                    if resp.status >= 500:
                        failures.append(f"GET {url}{query}: {resp.status}")
                continue
            elif route.method == "POST":
                for junk in junks:
                    resp = await shop.client.post(url, data=junk, allow_redirects=False)
                    if resp.status >= 500:
                        failures.append(f"POST {url} {junk['name'][:12]!r}: {resp.status}")
        if "{cid}" in path and route.method == "POST":  # a real conversation, junk form
            for junk in junks:
                resp = await shop.client.post(path.replace("{cid}", str(cid)), data=junk,
                                              allow_redirects=False)
                if resp.status >= 500:
                    failures.append(f"POST {path} (conversation {cid}) "
                                    f"{junk['name'][:12]!r}: {resp.status}")
    assert not failures, "\n".join(failures)
    # (a junk reply is still a reply: only what customers sent is checked)
    assert (await Message.filter(direction="in").count(),
            await Contact.all().count()) == before


async def test_nul_characters_are_dropped_at_every_way_in(shop_any_db: Shop) -> None:
    """PostgreSQL stores no NUL in text: a message, a name or a form field holding one
    was a 500 there. Every way in drops it, the same on both databases."""
    from bot.models import Note
    from tests.web.test_web import as_admin
    shop = shop_any_db
    # the API channel: text and the contact's name
    resp = await shop.inbound({"external_id": "n\u00001", "text": "where\u0000 is it",
                               "contact": {"external_id": "c1", "name": "Ann\u0000a"}})
    assert resp.status == 202, await resp.text()
    cid = (await resp.json())["conversation_id"]
    stored = await Message.get(conversation_id=cid)
    assert (stored.text, stored.external_id) == ("where is it", "n1")
    conversation = await Conversation.get(id=cid)
    assert (await Contact.get(id=conversation.contact_id)).name == "Anna"
    # the REST API, a body and a query
    status, contact = await shop.api("POST", "/api/v1/contacts", json={"name": "Bo\u0000b"})
    assert status == 201 and contact["name"] == "Bob"
    status, page = await shop.api("GET", "/api/v1/contacts?q=Bo%00b")
    assert status == 200 and [c["name"] for c in page["items"]] == ["Bob"]
    # a staff form
    csrf = await as_admin(shop)
    resp = await shop.client.post(f"/inbox/{cid}/notes", allow_redirects=False,
                                  data={"text": "call\u0000 back", "csrf_token": csrf})
    assert resp.status == 302, await resp.text()
    assert (await Note.get(conversation_id=cid)).text == "call back"
    # web chat
    account = shop.seed["webchat_account_id"]
    assert (await shop.client.get(f"/chat?account={account}")).status == 200
    ws = await shop.client.ws_connect(f"/chat/ws?account={account}")
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    await ws.send_json({"type": "message", "client_id": "w\u0000123456789",
                        "text": "hi\u0000!"})
    while (frame := await ws.receive_json(timeout=5))["type"] != "ack":
        assert frame["type"] != "error", frame
    assert (await Message.get(id=frame["id"])).text == "hi!"
    await ws.close()


SIGNED_BODIES: tuple[Any, ...] = (
    {}, [], None, 5, "x", {"id": None}, {"external_id": ["a"]}, {"text": {"a": 1}},
    {"external_id": "e", "text": "t", "contact": "c"},
    {"external_id": "e", "text": "t", "contact": {"external_id": 10**30}},
    {"external_id": "e", "text": "t", "contact": {"external_id": "c"}, "sent_at": 10**30},
    {"external_id": "e", "text": "t", "contact": {"external_id": "c"},
     "sent_at": "99999-01-01T00:00:00Z"},
    {"external_id": "e", "text": "t", "contact": {"external_id": "c"},
     "sent_at": "0001-01-01T00:00:00+23:59"},
    {"external_id": "e", "text": "t", "contact": {"external_id": "c"},
     "sent_at": "9999-12-31T23:59:59-10:00"},
    {"id": "r", "text": "t", "created_at": "9999-12-31T23:59:59-10:00"},
    {"id": "m", "text": "t", "occurred_at": "0001-01-01T00:00:00+10:00"},
    {"id": "r", "rating": 10**30, "text": "t"}, {"id": "r", "rating": "five", "text": "t"},
    {"id": "r", "text": "t", "created_at": "yesterday"},
    {"reviewId": "g", "starRating": "ELEVEN", "comment": "c"},
    {"reviewId": "g", "starRating": "FIVE", "comment": "c", "createTime": "not a time",
     "reviewer": "me"},
    {"reviewId": "g", "starRating": "FIVE", "reviewReply": "yes"},
    {"id": "m", "text": "t", "occurred_at": 10**30, "lang": 5},
)


async def test_signed_webhooks_answer_odd_bodies_with_4xx(shop: Shop) -> None:
    """The endpoints other systems post to, signed with the API account's secret (so the
    body is parsed): bodies of the wrong shape, types and ranges, and nesting deep
    enough to exhaust a recursive parser."""
    import json as jsonlib

    from channels.signing import sign
    account, secret = shop.seed["api_account_id"], shop.seed["api_account_secret"]
    paths = [f"/api/v1/inbound/{account}", f"/api/v1/mentions/{account}",
             f"/api/v1/reviews/inbound/{account}", f"/api/v1/reviews/google/{account}"]
    raws = [jsonlib.dumps(b).encode() for b in SIGNED_BODIES] + [
        b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"external_id": "e", "text": "\\ud800", "contact": {"external_id": "c"}}']
    before = await Message.all().count()
    failures = []
    for path in paths:
        for raw in raws:
            resp = await shop.client.post(path, data=raw, headers={
                "X-Switchboard-Signature": sign(secret, raw),
                "Content-Type": "application/json"})
            if resp.status >= 500:
                failures.append(f"{path} {raw[:60]!r}: {resp.status}")
    assert not failures, "\n".join(failures)
    assert await Message.all().count() <= before + 1  # at most the one valid message


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
async def test_store_webhooks_of_odd_shapes_get_no_server_error(
        aiohttp_client: Any, tmp_path: Any, request: pytest.FixtureRequest, db: str) -> None:
    """Shopify and WooCommerce sign what they send, but fields come typed otherwise, too
    long for their columns, or holding NUL (and a test delivery from a store's admin can
    be anything): never a 500, and a contact is made only from a real e-mail address."""
    import base64
    import hashlib
    import hmac
    import json as jsonlib

    from bot.models import ShopEvent
    from config import Secret
    from tests.conftest import make_settings, start_shop
    where = {} if db == "sqlite" else {
        "database_url": request.getfixturevalue("postgres").create_db(migrated=True)}
    shop = await start_shop(aiohttp_client, make_settings(
        tmp_path, shopify_webhook_secret=Secret("s-secret"),
        woocommerce_webhook_secret=Secret("w-secret"), **where))
    odd: list[Any] = [
        {}, {"id": 1}, {"email": 5}, {"email": ["a@b.c"]}, {"customer": "Cara"},
        {"email": "x" * 10_000 + "@b.example"}, {"id": "9" * 5000, "email": "a@b.example"},
        {"email": "n\u0000ul@b.example", "customer": {"first_name": {"a": 1},
                                                      "last_name": "P" * 5000}},
        {"email": "c@b.example", "line_items": "sandal", "billing": 5, "currency": {}},
        {"email": "d@b.example", "line_items": [{"title": 5, "quantity": "many"}, 7],
         "customer_locale": "x" * 500, "phone": 10**30}]
    failures = []
    for store, header, secret, topic in (
            ("shopify", "X-Shopify-Hmac-Sha256", "s-secret", ("X-Shopify-Topic",
                                                             "orders/create")),
            ("woocommerce", "X-WC-Webhook-Signature", "w-secret", ("X-WC-Webhook-Topic",
                                                                  "order.created"))):
        for body in odd:
            raw = jsonlib.dumps(body).encode()
            mac = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest())
            resp = await shop.client.post(f"/api/v1/webhooks/{store}", data=raw, headers={
                header: mac.decode(), topic[0]: topic[1], "Content-Type": "application/json"})
            if resp.status >= 500:
                failures.append(f"{store} {str(body)[:80]}: {resp.status}")
    assert not failures, "\n".join(failures)
    emails = sorted(await Contact.all().values_list("email", flat=True))
    assert emails == ["a@b.example", "c@b.example", "d@b.example", "nul@b.example"]
    # a body with no id and no delivery id is one event, however often it comes
    assert await ShopEvent.filter(source="shopify").count() == 4
    raw = jsonlib.dumps(odd[-1]).encode()
    mac = base64.b64encode(hmac.new(b"s-secret", raw, hashlib.sha256).digest()).decode()
    again = await shop.client.post("/api/v1/webhooks/shopify", data=raw, headers={
        "X-Shopify-Hmac-Sha256": mac, "X-Shopify-Topic": "orders/create",
        "Content-Type": "application/json"})
    assert (await again.json())["created"] is False


async def test_strings_too_long_for_their_columns_are_refused_on_postgres(
        aiohttp_client: Any, tmp_path: Any, request: pytest.FixtureRequest) -> None:
    """PostgreSQL enforces a column's width where SQLite does not: every string a route
    takes, at 5,000 characters, in an otherwise plausible request, is a 4xx or fits (a
    message text may be long), never a 500."""
    from tests.conftest import make_settings, start_shop
    shop = await start_shop(aiohttp_client, make_settings(
        tmp_path, database_url=request.getfixturevalue("postgres").create_db(migrated=True)))
    doc = (await shop.api("GET", "/api/v1/openapi.json"))[1]
    failures: list[str] = []
    tried = 0
    for method, url, op in _operations(doc):
        for base, name, types in _body_fields(op, doc):
            if not any(t.get("type") == "string" and "enum" not in t and "format" not in t
                       and "pattern" not in t for t in types):
                continue
            tried += 1
            resp = await shop.client.request(method, url, json={**base, name: "x" * 5000},
                                             headers=shop.auth())
            if resp.status >= 500:
                failures.append(f"{method} {url} {name}: {resp.status}")
    assert tried > 20
    assert not failures, "\n".join(failures)
