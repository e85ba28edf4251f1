"""Segments: rules over tags, attributes, consent, channel identities, shop events and
replies in the last N days, counted live (the API the Segments page calls as the
marketer types, and the page itself in a real browser: see tests/test_browser.py)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Shop


async def contact(shop: Shop, email: str, **fields: Any) -> int:
    status, body = await shop.api("POST", "/api/v1/contacts", json={"email": email,
                                                                     **fields})
    assert status == 201, body
    return int(body["id"])


async def count(shop: Shop, match: str, *conditions: dict[str, Any]) -> int:
    status, body = await shop.api("POST", "/api/v1/segments/count", json={
        "match": match, "conditions": list(conditions)})
    assert status == 200, body
    return int(body["count"])


async def test_rules_and_counts(shop: Shop) -> None:
    await contact(shop, "a@x.test", tags=["vip"], attributes={"city": "Hanoi"})
    await contact(shop, "b@x.test", tags=["vip"], attributes={"city": "Da Nang"})
    await contact(shop, "c@x.test", attributes={"city": "Hanoi"})
    await contact(shop, "d@x.test", tags=["wholesale"])
    status, _ = await shop.api("POST", "/api/v1/events", json={
        "id": "o1", "type": "order_placed", "contact": {"email": "c@x.test"}})
    assert status == 201
    assert await count(shop, "all") == 4  # no conditions: everyone with an address
    assert await count(shop, "all", {"tag": "vip"}) == 2
    assert await count(shop, "all", {"tag": "vip"}, {"attribute": "city",
                                                     "equals": "Hanoi"}) == 1
    assert await count(shop, "any", {"tag": "vip"}, {"event": "order_placed",
                                                     "days": 30}) == 3
    assert await count(shop, "all", {"tag": "vip", "not": True}) == 2
    assert await count(shop, "all", {"consent": "subscribed"}) == 0
    assert await count(shop, "all", {"channel": "webchat"}) == 0
    assert await count(shop, "all", {"replied": True, "days": 7}) == 0

    status, saved = await shop.api("POST", "/api/v1/segments", json={
        "name": "Hanoi VIPs", "rules": {"conditions": [
            {"tag": "vip"}, {"attribute": "city", "equals": "Hanoi"}]}})
    assert status == 201 and saved["count"] == 1
    status, err = await shop.api("POST", "/api/v1/segments", json={
        "name": "Hanoi VIPs", "rules": {"conditions": []}})
    assert status == 409
    _, listed = await shop.api("GET", "/api/v1/segments")
    assert [(s["name"], s["count"]) for s in listed] == [("Hanoi VIPs", 1)]
    status, err = await shop.api("POST", "/api/v1/segments/count", json={
        "conditions": [{"tag": "vip", "consent": "subscribed"}]})
    assert status == 422 and "exactly one of" in err["error"]["message"]
    agent = await shop.add_user("agent")
    status, _ = await shop.api("GET", "/api/v1/segments", token=agent["api_token"])
    assert status == 403
