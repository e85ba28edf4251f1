"""Issue 19 point 15: the store's delivery id is not covered by its signature, so a
captured, signed body sent again under new ids is the same event (one event, one
enrolment, no second mail)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from bot.models import ShopEvent
from config import Secret, Settings
from tests.conftest import Shop, make_settings

SHOPIFY, WOO = "shopify-hook-secret", "woo-hook-secret"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, shopify_webhook_secret=Secret(SHOPIFY),
                         woocommerce_webhook_secret=Secret(WOO))


def sig(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def test_a_shopify_body_replayed_with_new_webhook_ids_is_one_event(shop: Shop) -> None:
    body = json.dumps({"id": 4711, "name": "#1", "email": "cara@example.test",
                       "customer": {"first_name": "Cara", "email": "cara@example.test"},
                       "line_items": []}).encode()
    created = []
    for webhook_id in ("id-1", "id-2", "id-3", ""):
        resp = await shop.client.post("/api/v1/webhooks/shopify", data=body, headers={
            "X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": sig(SHOPIFY, body),
            "X-Shopify-Webhook-Id": webhook_id, "Content-Type": "application/json"})
        assert resp.status == 200, await resp.text()
        created.append((await resp.json())["created"])
    assert created == [True, False, False, False]
    assert await ShopEvent.all().count() == 1


async def test_a_woocommerce_body_replayed_with_new_delivery_ids_is_one_event(
        shop: Shop) -> None:
    body = json.dumps({"id": 5, "email": "dan@example.test", "first_name": "Dan"}).encode()
    created = []
    for delivery in ("d-1", "d-2"):
        resp = await shop.client.post("/api/v1/webhooks/woocommerce", data=body, headers={
            "X-WC-Webhook-Topic": "customer.created", "Content-Type": "application/json",
            "X-WC-Webhook-Signature": sig(WOO, body), "X-WC-Webhook-Delivery-ID": delivery})
        assert resp.status == 200, await resp.text()
        created.append((await resp.json())["created"])
    assert created == [True, False]
    assert await ShopEvent.all().count() == 1


async def test_a_changed_body_is_a_new_event(shop: Shop) -> None:
    for version in ("2024-01-01", "2024-01-02"):
        body = json.dumps({"id": 9, "email": "eve@example.test", "updated_at": version,
                           "customer": {"email": "eve@example.test"}}).encode()
        resp = await shop.client.post("/api/v1/webhooks/shopify", data=body, headers={
            "X-Shopify-Topic": "checkouts/update", "X-Shopify-Hmac-Sha256": sig(SHOPIFY, body),
            "X-Shopify-Webhook-Id": "same-id", "Content-Type": "application/json"})
        assert resp.status == 200 and (await resp.json())["created"] is True
    assert await ShopEvent.all().count() == 2
