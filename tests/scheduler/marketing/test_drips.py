"""Drip sequences against a real Postfix + Dovecot, with time moved by an injectable
clock (never slept through): shop events in (API, Shopify, WooCommerce), the
abandoned-cart mails at 1 h and 24 h with the cart's items, an order ending the
sequence, one-click unsubscribe, exactly one mail per (enrolment, step), and a reply to
a campaign mail landing in the inbox.

Scenarios 2, 3, 4 and 6 of issue 5 are here."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest

from bot.models import Contact, Enrollment, MailSend, Message, ShopEvent
from config import Secret
from scheduler.clock import CLOCK
from scheduler.marketing.clock import set_clock
from scheduler.marketing.drips import DRIPS
from tests.channels.test_email import connect_mailbox, customer
from tests.channels.test_telegram import until
from tests.conftest import Shop, make_settings, start_shop
from tests.mailserver import MailServer

pytestmark = pytest.mark.slow  # whole drip scenarios against real Postfix and Dovecot

SHOPIFY_SECRET, WOO_SECRET = "shpss_test", "wc_test"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Drips:
    def __init__(self, shop: Shop, mail: MailServer, address: str, clock: Clock) -> None:
        self.shop, self.mail, self.address, self.clock = shop, mail, address, clock

    async def event(self, kind: str, email: str, payload: dict[str, Any] | None = None,
                    **extra: Any) -> dict[str, Any]:
        status, body = await self.shop.api("POST", "/api/v1/events", json={
            "id": uuid.uuid4().hex, "type": kind, "payload": payload or {},
            "contact": {"email": email, "name": "Linh Tran", **extra}})
        assert status in (200, 201), body
        return body

    async def mails(self, who: str, count: int) -> list[Any]:
        return await asyncio.to_thread(self.mail.wait_for, who, count, 30)

    async def broadcast_reaches(self, broadcast_id: int, state: str) -> None:
        """Run the due broadcasts until this one is in ``state``. The app's own clock
        job runs them too: when it holds the broadcast's lease, a direct run finds
        nothing to claim and returns before the work is done."""
        from bot.models import Broadcast

        async def reached() -> bool:
            await self.shop.client.server.app[CLOCK].run("drips")
            return (await Broadcast.get(id=broadcast_id)).state == state
        await until(reached, timeout=30)

    async def settle(self) -> None:
        """Let the clock job run the due steps at the moved time."""
        await self.shop.client.server.app[DRIPS].run_due()


@pytest.fixture
async def drips(aiohttp_client: Any, tmp_path: Path, mailserver: MailServer
                ) -> AsyncIterator[Drips]:
    clock = Clock()
    previous = set_clock(clock)  # events, enrolments and steps all run on this clock
    shop = await start_shop(aiohttp_client, make_settings(
        tmp_path, shop_name="Sandal Shop", shopify_webhook_secret=Secret(SHOPIFY_SECRET),
        woocommerce_webhook_secret=Secret(WOO_SECRET),
        allowed_origins="https://sandals.example"))  # the shop's site: /subscribe's next
    _, address = await connect_mailbox(shop, mailserver)
    yield Drips(shop, mailserver, address, clock)
    set_clock(previous)


CART = {"items": [{"title": "Leather sandal", "quantity": 1, "price": "450,000₫"},
                  {"title": "Canvas tote", "quantity": 2, "price": "120,000₫"}],
        "url": "https://sandals.example/cart/recover/abc"}


async def test_scenario_2_abandoned_cart_then_order_stops_it(drips: Drips) -> None:
    ann = customer(drips.mail)
    body = await drips.event("checkout_started", ann, CART, locale="vi")
    assert len(body["enrolled"]) == 1  # abandoned cart (the welcome needs a signup)
    await drips.settle()
    assert await asyncio.to_thread(drips.mail.inbox, ann) == []  # nothing before 1 h
    drips.clock.advance(hours=1, minutes=1)
    await drips.settle()
    first = (await drips.mails(ann, 1))[0]
    assert first["Subject"] == "Bạn còn sản phẩm trong giỏ hàng"  # in the contact's language
    text = first.get_body(("plain",)).get_content()
    html = first.get_body(("html",)).get_content()
    assert "Leather sandal × 1 450,000₫" in text and "Canvas tote" in html
    assert "/c/enr" in text and "sandals.example%2Fcart%2Frecover%2Fabc" in text  # tracked
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["List-Unsubscribe"].startswith("<https://shop.example.test/u/")

    # The cart changes: the next mail shows the new items.
    await drips.event("checkout_updated", ann, {**CART, "items": [
        {"title": "Rope sandal", "quantity": 1, "price": "390,000₫"}]})
    drips.clock.advance(hours=23)
    await drips.settle()
    second = (await drips.mails(ann, 2))[1]
    assert "Rope sandal" in second.get_body(("plain",)).get_content()

    await drips.event("order_placed", ann, {"order": "#1001"})
    enrollment = await Enrollment.get(sequence__key="abandoned_cart")
    assert enrollment.state == "exited" and "order_placed" in enrollment.ended_reason
    drips.clock.advance(hours=72)
    await drips.settle()
    await asyncio.sleep(1.0)
    assert len(await asyncio.to_thread(drips.mail.inbox, ann)) == 2  # no third mail
    # Exactly one mail per (enrolment, step), each with its own Message-ID.
    sends = await MailSend.filter(enrollment_id=enrollment.id).order_by("step")
    assert [(s.step, s.state) for s in sends] == [(1, "sent"), (3, "sent")]
    assert len({s.message_id for s in sends}) == 2


async def test_scenario_3_one_click_unsubscribe_stops_everything(drips: Drips) -> None:
    bob = customer(drips.mail)
    await drips.event("signup", bob)
    await drips.event("checkout_started", bob, CART)
    await drips.settle()
    welcome = (await drips.mails(bob, 1))[0]
    assert welcome["Subject"] == "Welcome to Sandal Shop!"
    link = welcome["List-Unsubscribe"].strip("<>").replace("https://shop.example.test", "")
    page = await drips.shop.client.get(link)
    assert page.status == 200 and "Unsubscribe?" in await page.text()
    # The mail client's RFC 8058 one-click POST: no session, no CSRF token.
    resp = await drips.shop.client.post(link, data="List-Unsubscribe=One-Click", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200 and 'id="unsubscribed"' in await resp.text()
    contact = await Contact.get(email=bob)
    assert contact.email_consent == "unsubscribed" and "RFC 8058" in contact.email_consent_source
    assert not await Enrollment.filter(contact_id=contact.id, state="active").exists()
    drips.clock.advance(days=5)
    await drips.settle()
    await asyncio.sleep(1.0)
    assert len(await asyncio.to_thread(drips.mail.inbox, bob)) == 1  # nothing after it
    forged = await drips.shop.client.post(link[:-3] + "xyz")
    assert forged.status == 404


def shopify(body: bytes, secret: str = SHOPIFY_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def test_scenario_4_shopify_order_enrols_in_the_review_request(drips: Drips) -> None:
    cara = customer(drips.mail)
    order = json.dumps({"id": 820982911946154508, "name": "#1002", "email": cara,
                        "total_price": "199.00", "currency": "USD",
                        "customer": {"first_name": "Cara", "last_name": "Pham",
                                     "email": cara},
                        "line_items": [{"title": "Sandal", "quantity": 1,
                                        "price": "199.00"}]}).encode()
    bad = await drips.shop.client.post("/api/v1/webhooks/shopify", data=order, headers={
        "X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": shopify(order, "guess"),
        "Content-Type": "application/json"})
    assert bad.status == 401 and (await bad.json())["error"]["code"] == "bad_signature"
    assert await ShopEvent.all().count() == 0 and not await Contact.filter(email=cara).exists()

    headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": shopify(order),
               "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
               "Content-Type": "application/json"}
    ok = await drips.shop.client.post("/api/v1/webhooks/shopify", data=order,
                                      headers=headers)
    assert ok.status == 200
    again = await drips.shop.client.post("/api/v1/webhooks/shopify", data=order,
                                         headers=headers)
    assert (await again.json())["created"] is False  # Shopify's retry: stored once
    sequences = await Enrollment.filter(contact__email=cara).values_list(
        "sequence__key", flat=True)
    assert sorted(sequences) == ["review_request", "win_back"]
    contact = await Contact.get(email=cara)
    assert contact.name == "Cara Pham"
    drips.clock.advance(days=7, minutes=1)
    await drips.settle()
    review = (await drips.mails(cara, 1))[0]
    assert review["Subject"] == "How was your order from Sandal Shop?"


async def test_woocommerce_and_bad_events(drips: Drips) -> None:
    dan = customer(drips.mail)
    ping = await drips.shop.client.post("/api/v1/webhooks/woocommerce", data=b"webhook_id=7")
    assert ping.status == 200
    body = json.dumps({"id": 5, "email": dan, "first_name": "Dan"}).encode()
    signed = {"X-WC-Webhook-Topic": "customer.created", "Content-Type": "application/json",
              "X-WC-Webhook-Signature": base64.b64encode(hmac.new(
                  WOO_SECRET.encode(), body, hashlib.sha256).digest()).decode(),
              "X-WC-Webhook-Delivery-ID": "d-1"}
    resp = await drips.shop.client.post("/api/v1/webhooks/woocommerce", data=body,
                                        headers=signed)
    assert resp.status == 200 and (await resp.json())["enrolled"]
    unsigned = await drips.shop.client.post("/api/v1/webhooks/woocommerce", data=body,
                                            headers={"X-WC-Webhook-Topic": "order.created"})
    assert unsigned.status == 401
    for bad, field in (({"id": "1", "type": "signup", "contact": {"email": "not-mail"}},
                        "contact.email"),
                       ({"id": "1", "type": "refund", "contact": {"email": "a@b.test"}},
                        "type")):
        status, err = await drips.shop.api("POST", "/api/v1/events", json=bad)
        assert status == 422 and err["error"]["field"] == field
    marketer = await drips.shop.add_user("agent")
    status, _ = await drips.shop.api("POST", "/api/v1/events", token=marketer["api_token"],
                                     json={"id": "x", "type": "signup",
                                           "contact": {"email": dan}})
    assert status == 403  # agents do not send shop events


async def test_a_mail_whose_send_was_interrupted_is_sent_again_as_the_same_mail(
        drips: Drips) -> None:
    """A crash after the SMTP server took the mail but before it was recorded: on the
    next run the same (enrolment, step) goes out with the same Message-ID."""
    eve = customer(drips.mail)
    await drips.event("signup", eve)
    mailer = drips.shop.client.server.app[DRIPS].mailer
    sent: list[str] = []
    real_deliver = mailer.deliver

    async def crash_after_send(prepared: Any) -> None:
        await real_deliver(prepared)
        sent.append(prepared.message_id)
        raise ConnectionResetError("process died before recording")

    mailer.deliver = crash_after_send
    await drips.settle()
    mailer.deliver = real_deliver
    row = await MailSend.get(contact__email=eve)
    assert row.state == "sending"  # not recorded as sent
    await Enrollment.filter(id=row.enrollment_id).update(  # type: ignore[attr-defined]
        due_at=drips.clock.now, lease_until=None)
    await drips.settle()
    got = await drips.mails(eve, 2)
    assert got[0]["Message-ID"] == got[1]["Message-ID"] == sent[0]
    assert (await MailSend.get(id=row.id)).state == "sent"
    assert await MailSend.filter(contact__email=eve).count() == 1


async def test_scenario_6_a_reply_to_a_campaign_lands_in_the_inbox(drips: Drips) -> None:
    fay = customer(drips.mail)
    await drips.event("signup", fay)
    await drips.settle()
    welcome = (await drips.mails(fay, 1))[0]
    reply = EmailMessage()
    reply["From"], reply["To"] = fay, drips.address
    reply["Subject"] = f"Re: {welcome['Subject']}"
    reply["Message-ID"] = make_msgid(domain="customer.test")
    reply["In-Reply-To"] = reply["References"] = welcome["Message-ID"]
    reply.set_content(f"Do you have size 36?\n\n> {welcome['Subject']}")
    await asyncio.to_thread(drips.mail.send, reply)

    async def arrived() -> Message | None:
        return await Message.filter(external_id=reply["Message-ID"]).first()
    stored = await until(arrived, timeout=20)
    assert stored.text == "Do you have size 36?"
    conv = await stored.conversation
    contact = await Contact.get(email=fay)
    assert conv.contact_id == contact.id  # type: ignore[attr-defined]


async def test_double_opt_in_signup_form(drips: Drips) -> None:
    gia = customer(drips.mail)
    # The shop's own site posts its form here (no session, no CSRF: a public endpoint).
    resp = await drips.shop.client.post("/subscribe", allow_redirects=False, data={
        "email": gia, "name": "Gia Le", "locale": "vi",
        "next": "https://sandals.example/thanks"})
    assert resp.status == 303 and resp.headers["Location"] == "https://sandals.example/thanks"
    contact = await Contact.get(email=gia)
    assert contact.email_consent == "pending"
    assert not await Enrollment.filter(contact_id=contact.id).exists()  # not before confirming
    again = await drips.shop.client.post("/subscribe", json={"email": gia})
    assert again.status == 202  # answered, but no second mail within ten minutes
    mail = (await drips.mails(gia, 1))[0]
    assert mail["Subject"] == "Vui lòng xác nhận đăng ký nhận thư từ Sandal Shop"
    assert "List-Unsubscribe" not in mail  # a confirmation, not marketing
    link = next(w for w in mail.get_body(("plain",)).get_content().split()
                if "/confirm/" in w).replace("https://shop.example.test", "")
    bad = await drips.shop.client.get(link[:-2] + "xx")
    assert bad.status == 404
    page = await drips.shop.client.get(link)
    assert page.status == 200 and "You are subscribed" in await page.text()
    await contact.refresh_from_db()
    assert contact.email_consent == "subscribed"
    assert contact.email_consent_source == "double opt-in confirmed"
    await drips.shop.client.get(link)  # a second click changes nothing
    await drips.settle()
    welcome = (await drips.mails(gia, 2))[1]
    assert welcome["Subject"] == "Chào mừng bạn đến với Sandal Shop!"
    assert await Enrollment.filter(contact_id=contact.id).count() == 1
    invalid = await drips.shop.client.post("/subscribe", json={"email": "nope"})
    assert invalid.status == 400 and (await invalid.json())["error"]["code"] == "invalid_email"
    assert len(await asyncio.to_thread(drips.mail.inbox, gia)) == 2


async def test_opens_clicks_conversions_and_stats(drips: Drips) -> None:
    hai = customer(drips.mail)
    await drips.event("checkout_started", hai, CART)
    await drips.settle()
    drips.clock.advance(hours=1, minutes=1)
    await drips.settle()
    mail = (await drips.mails(hai, 1))[0]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    link = next(w for w in text.split() if "/c/" in w).replace("https://shop.example.test", "")
    assert "sandals.example" not in link.split("?")[0]  # through our redirect
    pixel = html.split('<img src="', 1)[1].split('"', 1)[0].replace(
        "https://shop.example.test", "").replace("&amp;", "&")
    got = await drips.shop.client.get(pixel)
    assert got.status == 200 and got.content_type == "image/gif"
    forged = await drips.shop.client.get(link.replace("recover", "evil"),
                                         allow_redirects=False)
    assert forged.status == 404  # never an open redirect
    click = await drips.shop.client.get(link, allow_redirects=False)
    assert click.status == 302
    assert click.headers["Location"] == "https://sandals.example/cart/recover/abc"
    drips.clock.advance(hours=2)
    await drips.event("order_placed", hai, {"order": "#1003", "total": "900000"})
    row = await MailSend.get(contact__email=hai)
    assert row.opens == 1 and row.clicks == 1 and row.converted_at and row.revenue == 900000
    status, stats = await drips.shop.api("GET", "/api/v1/sequences/stats")
    assert status == 200
    cart = next(s for s in stats if s["sequence"] == "abandoned_cart")
    assert {k: cart[k] for k in ("sent", "delivered", "opened", "clicked", "converted",
                                 "revenue", "unsubscribed")} == {
        "sent": 1, "delivered": 1, "opened": 1, "clicked": 1, "converted": 1,
        "revenue": 900000.0, "unsubscribed": 0}


async def test_scenario_5_ab_subject_winner_goes_to_the_rest(drips: Drips) -> None:
    clock = drips.shop.client.server.app[CLOCK]
    people = [customer(drips.mail) for _ in range(10)]
    for who in people:
        status, _ = await drips.shop.api("POST", "/api/v1/contacts", json={
            "email": who, "name": "Vy", "tags": ["promo"]})
        assert status == 201
    _, seg = await drips.shop.api("POST", "/api/v1/segments", json={
        "name": "Promo", "rules": {"conditions": [{"tag": "promo"}]}})
    status, b = await drips.shop.api("POST", "/api/v1/broadcasts", json={
        "name": "Spring", "segment_id": seg["id"], "subject_a": "Spring is here",
        "subject_b": "{{ contact.first_name }}, 20% off sandals", "body":
        "Hi {{ contact.first_name }}, our spring collection is in.", "split_percent": 40,
        "metric": "opens", "decide_after_hours": 4})
    assert status == 201, b
    await drips.broadcast_reaches(b["id"], "testing")
    test = await MailSend.filter(broadcast_id=b["id"]).order_by("id")
    assert sorted(m.variant for m in test) == ["a", "a", "b", "b"]  # 40 % of 10, half each
    b_mail = next(m for m in test if m.variant == "b")
    got = (await drips.mails(b_mail.to, 1))[0]
    assert got["Subject"] == "Vy, 20% off sandals"
    html = got.get_body(("html",)).get_content()
    pixel = html.split('<img src="', 1)[1].split('"', 1)[0].replace(
        "https://shop.example.test", "")
    assert (await drips.shop.client.get(pixel)).status == 200  # B was opened
    await clock.run("drips")
    assert await MailSend.filter(broadcast_id=b["id"]).count() == 4  # waiting to decide
    drips.clock.advance(hours=4, minutes=1)
    await drips.broadcast_reaches(b["id"], "sent")
    status, done = await drips.shop.api("GET", f"/api/v1/broadcasts/{b['id']}")
    assert done["state"] == "sent" and done["winner"] == "b"
    assert {v["variant"]: (v["sent"], v["opened"]) for v in done["variants"]} == {
        "a": (2, 0), "b": (8, 1)}
    assert {k: done["total"][k] for k in ("sent", "delivered", "bounced", "opened",
                                          "clicked", "unsubscribed", "converted")} == {
        "sent": 10, "delivered": 10, "bounced": 0, "opened": 1, "clicked": 0,
        "unsubscribed": 0, "converted": 0}
    rest = [p for p in people if p not in {m.to for m in test}]
    for who in rest:
        assert (await drips.mails(who, 1))[0]["Subject"] == "Vy, 20% off sandals"
    for who in people:  # one mail each, never two
        assert len(await asyncio.to_thread(drips.mail.inbox, who)) == 1


async def test_custom_sequence_with_branch_and_wait_until_local_time(drips: Drips) -> None:
    from datetime import time as dtime
    from zoneinfo import ZoneInfo

    _, sequences = await drips.shop.api("GET", "/api/v1/sequences")
    welcome = next(s for s in sequences if s["key"] == "welcome")
    status, _ = await drips.shop.api("PATCH", f"/api/v1/sequences/{welcome['id']}",
                                     json={"enabled": False})
    assert status == 200
    steps = [{"branch": {"attribute": "vip", "equals": "yes", "goto": 3}},
             {"send": "welcome_1"}, {"exit": "not a VIP"},
             {"wait": {"until": "09:00"}}, {"send": "welcome_2"}]
    status, err = await drips.shop.api("POST", "/api/v1/sequences", json={
        "key": "vip_welcome", "name": "VIP welcome", "trigger": "signup",
        "steps": [{"send": "no_such_mail"}]})
    assert status == 422 and "no mail template" in err["error"]["message"]
    status, err = await drips.shop.api("POST", "/api/v1/sequences", json={
        "key": "vip_welcome", "name": "VIP welcome", "trigger": "signup",
        "steps": [{"branch": {"event": "order_placed", "goto": 9}}]})
    assert status == 422 and err["error"]["field"] == "steps.0.branch.goto"
    status, created = await drips.shop.api("POST", "/api/v1/sequences", json={
        "key": "vip_welcome", "name": "VIP welcome", "trigger": "signup", "steps": steps})
    assert status == 201, created
    vip, plain = customer(drips.mail), customer(drips.mail)
    for who, attrs in ((vip, {"vip": "yes", "timezone": "Asia/Bangkok"}), (plain, {})):
        await drips.shop.api("POST", "/api/v1/contacts", json={"email": who, "name": "Kim",
                                                               "attributes": attrs})
        await drips.event("signup", who)
    await drips.settle()
    first = (await drips.mails(plain, 1))[0]  # not a VIP: the first mail, then the exit
    assert first["Subject"] == "Welcome to Sandal Shop!"
    ended = await Enrollment.get(contact__email=plain)
    assert ended.state == "exited" and ended.ended_reason == "not a VIP"
    waiting = await Enrollment.get(contact__email=vip)
    bangkok = ZoneInfo("Asia/Bangkok")
    local = drips.clock.now.astimezone(bangkok)
    nine = datetime.combine(local.date(), dtime(9, 0), bangkok)
    if nine <= local:
        nine += timedelta(days=1)
    assert waiting.state == "active" and waiting.due_at == nine.astimezone(UTC)
    assert await asyncio.to_thread(drips.mail.inbox, vip) == []
    drips.clock.now = nine.astimezone(UTC) + timedelta(minutes=1)
    await drips.settle()
    got = (await drips.mails(vip, 1))[0]
    assert got["Subject"] == "What Sandal Shop customers love most"  # welcome_2, at 09:00
