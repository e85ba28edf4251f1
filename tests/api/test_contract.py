"""The API answers as its OpenAPI document says (issue 19, "the API contract is true"):
bad input gets a clear 4xx from one place (the mount), never a 500; the document declares
the answers every operation can give; lists are documented as lists."""

from __future__ import annotations

import json
from typing import Any

from bot.models import User
from tests.conftest import Shop


async def _post(shop: Shop, path: str, raw: bytes) -> tuple[int, Any]:
    resp = await shop.client.post(path, data=raw, headers={
        **shop.auth(), "Content-Type": "application/json"})
    return resp.status, await resp.json()


async def test_null_for_a_field_that_cannot_be_empty_is_refused(shop: Shop) -> None:
    _, contact = await shop.api("POST", "/api/v1/contacts", json={"name": "Ann"})
    cid = contact["id"]
    for field in ("attributes", "tags", "name"):
        status, err = await shop.api("PATCH", f"/api/v1/contacts/{cid}", json={field: None})
        assert status == 422 and err["error"]["field"] == field, (field, err)
    # e-mail, phone and locale may be cleared
    status, out = await shop.api("PATCH", f"/api/v1/contacts/{cid}",
                                 json={"email": None, "phone": None})
    assert status == 200 and out["email"] is None
    _, faq = await shop.api("GET", "/api/v1/faq")
    status, err = await shop.api("PATCH", f"/api/v1/faq/{faq[0]['id']}", json={
        "question": None, "answer": None, "in_menu": None})
    assert status == 422


async def test_lone_surrogates_and_nul_are_cleaned_everywhere(shop: Shop) -> None:
    me = (await shop.api("GET", "/api/v1/users"))[1][0]
    # a NUL and a lone surrogate together took the json module's path, which kept the
    # surrogate: stored, GET /users then answered 500 for everyone
    status, out = await _post(shop, "/api/v1/contacts",
                              b'{"name": "A\\u0000n\\ud800n", "tags": ["x\\udfff"]}')
    assert status == 201 and out["name"] == "An\ufffdn" and out["tags"] == ["x\ufffd"]
    resp = await shop.client.patch(f"/api/v1/users/{me['id']}", data=(
        b'{"name": "Bo\\ud83d\\u0000b"}'), headers={**shop.auth(),
                                                 "Content-Type": "application/json"})
    assert resp.status == 200 and (await resp.json())["name"] == "Bo\ufffdb"
    # a surrogate alone (pydantic refused it as not JSON) is cleaned the same way
    status, out = await _post(shop, "/api/v1/contacts", b'{"name": "C\\uDC00"}')
    assert status == 201 and out["name"] == "C\ufffd"
    status, users = await shop.api("GET", "/api/v1/users")
    assert status == 200 and len(users) >= 1


async def test_values_of_another_json_type_are_refused(shop: Shop) -> None:
    status, err = await shop.api("POST", "/api/v1/faq", json={
        "locale": "en", "question": "q", "answer": "a", "position": False})
    assert status == 422 and err["error"]["field"] == "position"
    status, err = await shop.api("POST", "/api/v1/segments/count", json={
        "conditions": [{"replied": 0}]})
    assert status == 422
    # an integral number is an integer to JSON Schema, so it is one here too
    status, out = await shop.api("POST", "/api/v1/segments/count", json={
        "conditions": [{"replied": True, "days": 15.0}]})
    assert status == 200, out
    status, err = await shop.api("GET", "/api/v1/posts?start=0.5")
    assert status == 422 and err["error"]["field"] == "start"
    status, _ = await shop.api("GET", "/api/v1/posts?start=2030-01-01T00:00:00Z")
    assert status == 200
    # a list in a query string: one value is a list of one
    status, out = await shop.api("GET", "/api/v1/listening/trends?rule_id=1")
    assert status == 200, out


async def test_undeclared_methods_answer_405_with_allow(shop: Shop) -> None:
    for method, path, allow in (("TRACE", "/api/v1/contacts", "GET, POST"),
                                ("PUT", "/api/v1/contacts/1", "DELETE, GET, PATCH"),
                                ("DELETE", "/api/v1/users", "GET, POST")):
        resp = await shop.client.request(method, path, headers=shop.auth())
        assert resp.status == 405 and resp.headers["Allow"] == allow, (method, path)
        assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_service_refusals_map_to_conflict_not_found_and_invalid(shop: Shop) -> None:
    body = {"shortcut": "dup", "body": "x"}
    assert (await shop.api("POST", "/api/v1/canned-replies", json=body))[0] == 201
    status, err = await shop.api("POST", "/api/v1/canned-replies", json=body)
    assert status == 409 and err["error"]["code"] == "exists"
    status, err = await shop.api("POST", "/api/v1/posts/999/submit", json={})
    assert status == 404
    # a rename onto a name another row holds: the database refuses it; 409, not 500
    for name in ("one", "two"):
        status, _ = await shop.api("POST", "/api/v1/listening/rules", json={
            "name": name, "kind": "brand", "query": name})
        assert status == 201
    _, rules = await shop.api("GET", "/api/v1/listening/rules")
    two = next(r["id"] for r in rules if r["name"] == "two")
    status, err = await shop.api("PATCH", f"/api/v1/listening/rules/{two}",
                                 json={"name": "one"})
    assert status == 409, err


async def test_an_admin_cannot_lock_themselves_out(shop: Shop) -> None:
    me = (await shop.api("GET", "/api/v1/users"))[1][0]
    for change in ({"role": "marketer"}, {"is_active": False}):
        status, err = await shop.api("PATCH", f"/api/v1/users/{me['id']}", json=change)
        assert status == 409, err
    user = await User.get(id=me["id"])
    assert user.role.value == "admin" and user.is_active
    status, _ = await shop.api("PATCH", f"/api/v1/users/{me['id']}", json={"name": "Me"})
    assert status == 200
    # longer than the users table holds: the ORM refused it on save, a 500
    status, err = await shop.api("PATCH", f"/api/v1/users/{me['id']}", json={"name": "x" * 121})
    assert status == 422 and err["error"]["field"] == "name"


async def test_store_webhooks_without_their_signature_answer_401(shop: Shop) -> None:
    for path in ("/api/v1/webhooks/shopify", "/api/v1/webhooks/woocommerce"):
        resp = await shop.client.post(path, data=b"{}",
                                      headers={"Content-Type": "application/json"})
        assert resp.status == 401, path


async def test_document_declares_what_every_operation_can_answer(shop: Shop) -> None:
    doc = await (await shop.client.get("/api/v1/openapi.json")).json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert {"400", "404", "405", "413", "422", "429"} <= codes, (method, path)
            if op["security"]:
                assert {"401", "403"} <= codes, (method, path)
            assert op["responses"]["405"]["headers"]["Allow"]["required"] is True
            assert "Retry-After" in op["responses"]["429"]["headers"]
    schemas = doc["components"]["schemas"]
    for path in ("/api/v1/users", "/api/v1/faq", "/api/v1/alerts", "/api/v1/posts"):
        ok = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"]["type"] == "array", path
    patch = schemas["ContactPatch"]["properties"]
    assert "null" not in json.dumps(patch["attributes"])
    assert "null" in json.dumps(patch["email"])
    merge = schemas["MergeIn"]["properties"]["merge_id"]
    assert merge["maximum"] == 2**31 - 1  # PostgreSQL's integer (SQLite took 2**63 - 1)
    telegram = schemas["UserPatch"]["properties"]["telegram_user_id"]
    assert "9223372036854775807" in json.dumps(telegram)  # a bigint column
    # the one-of and if-then rules the services check are stated too
    assert "anyOf" in schemas["Step"] and "anyOf" in schemas["bot__api__schemas__inbox__ReplyIn"]
    assert schemas["BroadcastIn"]["then"]["required"] == ["subject_b"]
    shopify = doc["paths"]["/api/v1/webhooks/shopify"]["post"]["security"][0]
    scheme = doc["components"]["securitySchemes"][next(iter(shopify))]
    assert scheme["name"] == "X-Shopify-Hmac-Sha256"


def test_a_stored_header_value_is_cleaned() -> None:
    # aiohttp keeps a header byte that is not UTF-8 as a lone surrogate; the store
    # webhooks keep their topic header (and echo it when they ignore the topic)
    from types import SimpleNamespace

    from bot.core.http import Call
    from scheduler.marketing.api import _header

    request = SimpleNamespace(headers={"X-Shopify-Topic": "orders/\udcff\x00"})
    assert _header(Call(request, None), "X-Shopify-Topic") == "orders/\ufffd"  # type: ignore[arg-type]


async def test_a_form_that_is_not_utf8_is_a_400(shop: Shop) -> None:
    from tests.api.test_field_roles import _login

    _, contact = await shop.api("POST", "/api/v1/contacts", json={"name": "Ann"})
    user = await shop.add_user("admin")
    await _login(shop, user["email"], user["password"])
    for body, kind in ((b"name=\xff\xfe", "application/x-www-form-urlencoded"),
                       (b'--XX\r\nContent-Disposition: form-data; name="name"\r\n\r\n'
                        b"x\xed\xa0\x80y\r\n--XX--\r\n", "multipart/form-data; boundary=XX")):
        for path in (f"/contacts/{contact['id']}", "/login"):
            resp = await shop.client.post(path, data=body, headers={"Content-Type": kind})
            assert resp.status == 400, (path, resp.status)  # was 500


def test_a_surrogate_already_stored_is_written_as_its_escape() -> None:
    # the backstop for a row stored before the way in cleaned text: its readers got a 500
    from bot.core.http import json_out
    from bot.models import Role

    resp = json_out({"name": "x\udc80", "role": Role.ADMIN})
    assert resp.status == 200 and resp.body == b'{"name": "x\\udc80", "role": "admin"}'
    assert json.loads(resp.body) == {"name": "x\udc80", "role": "admin"}


async def test_numbers_past_what_postgresql_holds_are_refused_not_a_500(shop: Shop) -> None:
    # an integer column is PostgreSQL's integer: 2**31 and up failed the query there
    status, _ = await shop.api("GET", f"/api/v1/posts/{2**31}")
    assert status == 404
    status, err = await shop.api("POST", "/api/v1/faq", json={
        "locale": "en", "question": "q", "answer": "a", "position": 2**31})
    assert status == 422 and err["error"]["field"] == "position"
    # a Telegram user id is a bigint, and real ones are past 2**31
    me = (await shop.api("GET", "/api/v1/users"))[1][0]
    status, out = await shop.api("PATCH", f"/api/v1/users/{me['id']}",
                                 json={"telegram_user_id": 8_000_000_000})
    assert status == 200 and out["telegram_user_id"] == 8_000_000_000


async def test_json_nested_deeper_than_python_goes_is_a_400(shop: Shop) -> None:
    """A body nested 50 000 deep (and holding a float, so it is parsed by json to clean it)
    is malformed JSON, not a RecursionError and a 500."""
    deep = b'{"name": "x", "attributes": {"a": ' + b"[" * 50_000 + b"1.0" + b"]" * 50_000 \
        + b"}}"
    status, body = await _post(shop, "/api/v1/contacts", deep)
    assert status == 400 and body["error"]["code"] == "malformed_json"
