"""Store webhooks: what a Shopify or WooCommerce delivery means as a shop event.

Shopify signs each webhook with ``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 of the raw
body, keyed with the app's webhook secret) and WooCommerce with
``X-WC-Webhook-Signature`` (the same, keyed with the webhook's secret). :func:`verify`
refuses a wrong or missing signature (nothing is stored). An event is known by what the
signature covers (its topic and a digest of the body), not by the unsigned delivery id: a
redelivery, or a captured body replayed under new ids, changes nothing (``delivery`` is
taken, and not trusted). The REST front end (``scheduler.marketing.api``) mounts them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

from bot.core.auth import same
from bot.core.clean import as_text, obj, seq, without_nul
from scheduler.marketing.errors import BadSignature, NotConnected
from scheduler.marketing.events import ContactFields, Recorded, record_event

SHOPIFY_TOPICS = {"customers/create": "signup", "checkouts/create": "checkout_started",
                  "checkouts/update": "checkout_updated", "orders/create": "order_placed"}
WOO_TOPICS = {"customer.created": "signup", "order.created": "order_placed"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")  # as the API's e-mail fields take it


def verify(secret: str, header: str, raw: bytes, store: str, setting: str) -> None:
    """The body is signed with the store's secret (raises NotConnected, BadSignature)."""
    if not secret:
        raise NotConnected(store, setting)
    want = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    if not header or not same(header.strip(), want):  # bytes: any character is just wrong
        raise BadSignature(store)


def is_woo_ping(raw: bytes) -> bool:
    """WooCommerce's ping when a webhook is saved: nothing to check or store."""
    return raw.startswith(b"webhook_id=")


def _items(lines: Any) -> list[dict[str, Any]]:
    return [{"title": as_text(li.get("title") or li.get("name"), 500),
             "quantity": li.get("quantity") if isinstance(li.get("quantity"), int) else 1,
             "price": as_text(li.get("price"), 64)}
            for li in seq(lines) if isinstance(li, dict)]


def _person(data: dict[str, Any], customer: dict[str, Any]) -> ContactFields:
    """Who the store event is about, each field as text that fits the contact's column
    (a store can send a number, an object or a novel where a name goes)."""
    name = " ".join(p for p in (as_text(customer.get("first_name"), 100),
                                as_text(customer.get("last_name"), 100)) if p)
    email = (as_text(data.get("email"), 254) or as_text(customer.get("email"), 254)
             or as_text(obj(data.get("billing")).get("email"), 254))
    return ContactFields(
        email=email if _EMAIL.match(email) else "", name=name[:200],
        locale=as_text(data.get("customer_locale") or customer.get("locale"), 16),
        phone=as_text(customer.get("phone") or data.get("phone"), 64))


async def _record(source: str, topic: str, kind: str, raw: bytes, contact: ContactFields,
                  payload: dict[str, object]) -> Recorded | str:
    if not contact.email:
        return f"{topic} without an e-mail address"
    # What the signature covers, and only that: the topic and a digest of the verified
    # body. The store's delivery id (X-Shopify-Webhook-Id, X-WC-Webhook-Delivery-ID) is
    # not signed, so a captured body sent again under a new id is still this event; a
    # real redelivery is the same body, and a changed object is a new body.
    ext = f"{topic}:sha256:{hashlib.sha256(raw).hexdigest()}"
    if len(ext) > 200:  # the column's width (a long topic); a digest keeps them apart
        ext = "sha256:" + hashlib.sha256(ext.encode()).hexdigest()
    return await record_event(kind, source, ext, contact, payload)


_WOO_UTM = ("_wc_order_attribution_utm_campaign", "utm_campaign")


def _woo_campaign(data: dict[str, Any]) -> str:
    """The UTM campaign WooCommerce's order attribution kept in the order's meta."""
    meta = {as_text(m.get("key"), 64): m.get("value") for m in seq(data.get("meta_data"))
            if isinstance(m, dict)}
    return next((as_text(meta[k], 200) for k in _WOO_UTM if as_text(meta.get(k), 200)), "")


def _ignored(topic: str) -> str:
    return f"topic {topic!r} is not one Switchboard uses"


async def shopify(topic: str, delivery: str, raw: bytes) -> Recorded | str:
    """A verified Shopify delivery, recorded; or why it was ignored."""
    kind = SHOPIFY_TOPICS.get(topic)
    if kind is None:
        return _ignored(topic)
    data = obj(without_nul(json.loads(raw)))
    customer = data if topic.startswith("customers/") else obj(data.get("customer"))
    payload: dict[str, object] = {
        "items": _items(data.get("line_items")),
        "url": as_text(data.get("abandoned_checkout_url"), 2000),
        "order": as_text(data.get("name"), 64), "total": as_text(data.get("total_price"), 64),
        "currency": as_text(data.get("currency"), 8),
        "landing_site": as_text(data.get("landing_site"), 2000)}  # where the buyer landed
    return await _record("shopify", topic, kind, raw, _person(data, customer), payload)


async def woocommerce(topic: str, delivery: str, raw: bytes) -> Recorded | str:
    """A verified WooCommerce delivery (not a ping), recorded; or why it was ignored."""
    kind = WOO_TOPICS.get(topic)
    if kind is None:
        return _ignored(topic)
    data = obj(without_nul(json.loads(raw)))
    customer = data if topic.startswith("customer.") else obj(data.get("billing"))
    payload: dict[str, object] = {
        "items": _items(data.get("line_items")), "order": as_text(data.get("number"), 64),
        "total": as_text(data.get("total"), 64), "currency": as_text(data.get("currency"), 8),
        "utm_campaign": _woo_campaign(data)}
    return await _record("woocommerce", topic, kind, raw, _person(data, customer), payload)
