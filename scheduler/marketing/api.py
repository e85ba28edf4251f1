"""REST API for e-mail marketing: shop events (generic, Shopify, WooCommerce) and what
they set going (enrolments).

Shopify signs each webhook with ``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 of the raw
body, keyed with the app's webhook secret) and WooCommerce with
``X-WC-Webhook-Signature`` (the same, keyed with the webhook's secret). A wrong or
missing signature gets 401 and nothing is stored. A redelivery (same webhook id) is
answered 200 and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.core.auth import Perm
from bot.core.clean import as_text, obj, seq, without_nul
from bot.core.http import ApiError, Call, Endpoint, Strict, json_out
from bot.core.keys import SETTINGS
from bot.models import Broadcast, Enrollment, MailSend, Segment, Sequence
from bot.services.replies import check_template
from scheduler.marketing import drips, segments
from scheduler.marketing.segments import Rules
from scheduler.marketing.service import MAILS, record_event

SHOPIFY_TOPICS = {"customers/create": "signup", "checkouts/create": "checkout_started",
                  "checkouts/update": "checkout_updated", "orders/create": "order_placed"}
WOO_TOPICS = {"customer.created": "signup", "order.created": "order_placed"}


class ContactIn(Strict):
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
    name: Annotated[str, Field(max_length=200)] = ""
    locale: Annotated[str, Field(max_length=16)] | None = None
    phone: Annotated[str, Field(max_length=64)] | None = None


class EventIn(Strict):
    id: Annotated[str, Field(min_length=1, max_length=150,
                             description="Your id of the event: the same id again is a "
                                         "redelivery and changes nothing.")]
    type: Literal["signup", "checkout_started", "checkout_updated", "order_placed"]
    contact: ContactIn
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description="Shown in the mails: items [{title, quantity, price}], url (the cart's "
                    "recovery link), review_url, order number, total.")
    occurred_at: datetime | None = None


class EventOut(BaseModel):
    id: int
    created: bool
    contact_id: int
    enrolled: list[int]


class StoreHook(BaseModel):
    """A store's webhook body: Shopify's or WooCommerce's JSON, as they send it."""

    model_config = ConfigDict(extra="allow")


class EnrollmentOut(BaseModel):
    id: int
    sequence: str
    contact_id: int
    state: str
    step: int
    due_at: datetime | None
    ended_reason: str


async def post_event(call: Call) -> web.StreamResponse:
    body: EventIn = call.body
    event, created, started = await record_event(
        body.type, "api", body.id, body.contact.model_dump(), body.payload, body.occurred_at)
    return json_out(EventOut(id=event.id, created=created, enrolled=started,
                             contact_id=event.contact_id),  # type: ignore[attr-defined]
                    status=201 if created else 200)


async def list_enrollments(call: Call) -> web.StreamResponse:
    rows = await Enrollment.all().order_by("-id").limit(200).prefetch_related("sequence")
    return json_out([EnrollmentOut(
        id=r.id, sequence=r.sequence.key, contact_id=r.contact_id,  # type: ignore[attr-defined]
        state=r.state, step=r.step, due_at=r.due_at, ended_reason=r.ended_reason)
        for r in rows])


class MailStats(BaseModel):
    """What happened to a set of mails. Bounced and unsubscribed count contacts whose
    consent became that after the mail was sent."""

    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    converted: int = 0
    revenue: float = 0.0

    def add(self, r: dict[str, Any]) -> None:
        later = r["consent_at"] is not None and r["sent_at"] is not None and \
            r["consent_at"] >= r["sent_at"]
        self.sent += 1
        self.bounced += int(r["consent"] == "bounced" and later)
        self.delivered = self.sent - self.bounced
        self.opened += int(r["opened_at"] is not None)
        self.clicked += int(r["clicked_at"] is not None)
        self.unsubscribed += int(r["consent"] == "unsubscribed" and later)
        self.converted += int(r["converted_at"] is not None)
        self.revenue += float(r["revenue"] or 0)


class StepStats(MailStats):
    sequence: str
    step: int
    template: str


STAT_FIELDS = ("sent_at", "opened_at", "clicked_at", "converted_at", "revenue")
STAT_JOINS = {"consent": "contact__email_consent", "consent_at": "contact__email_consent_at"}


async def sequence_stats(call: Call) -> web.StreamResponse:
    """Per sequence and step: sent, delivered, bounced, opened, clicked, unsubscribed
    (after the mail), converted and revenue (orders within the attribution window)."""
    rows = await MailSend.filter(state="sent", enrollment_id__isnull=False).values(
        "step", "template", *STAT_FIELDS, sequence="enrollment__sequence__key",
        **STAT_JOINS)
    stats: dict[tuple[str, int], StepStats] = {}
    for r in rows:
        stats.setdefault((r["sequence"], r["step"]), StepStats(
            sequence=r["sequence"], step=r["step"], template=r["template"])).add(r)
    return json_out([stats[k] for k in sorted(stats)])


class SegmentIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    rules: Rules


class SegmentOut(BaseModel):
    id: int
    name: str
    rules: Rules
    count: int


class CountOut(BaseModel):
    count: int


async def count_segment(call: Call) -> web.StreamResponse:
    return json_out(CountOut(count=len(await segments.members(call.body))))


async def create_segment(call: Call) -> web.StreamResponse:
    body: SegmentIn = call.body
    if await Segment.filter(name=body.name).exists():
        raise ApiError(409, "exists", f"a segment named {body.name!r} exists", "name")
    row = await Segment.create(name=body.name, rules=body.rules.model_dump(by_alias=True))
    return json_out(SegmentOut(id=row.id, name=row.name, rules=body.rules,
                               count=len(await segments.members(body.rules))), status=201)


async def list_segments(call: Call) -> web.StreamResponse:
    out = []
    for row in await Segment.all().order_by("name"):
        rules = segments.Rules.model_validate(row.rules)
        out.append(SegmentOut(id=row.id, name=row.name, rules=rules,
                              count=len(await segments.members(rules))))
    return json_out(out)


class BroadcastIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    segment_id: int
    subject_a: Annotated[str, Field(min_length=1, max_length=300)]
    subject_b: Annotated[str, Field(max_length=300)] = ""
    body: Annotated[str, Field(min_length=1, max_length=50000,
                               description="Plain text; {{ contact.first_name }} and the "
                                           "other contact fields work as in canned replies")]
    split_percent: Annotated[int, Field(ge=0, le=100, description="A/B test sample: this "
                                        "percentage of the segment, half each subject")] = 0
    metric: Literal["opens", "clicks"] = "opens"
    decide_after_hours: Annotated[float, Field(gt=0, le=720)] = 4
    send_at: datetime | None = Field(None, description="Default: now")


class VariantStats(MailStats):
    variant: str
    subject: str


class BroadcastOut(BaseModel):
    id: int
    name: str
    state: str
    winner: str
    due_at: datetime | None
    total: MailStats
    variants: list[VariantStats]


async def _broadcast_out(b: Broadcast) -> BroadcastOut:
    """The broadcast with its stats, in all and per subject."""
    variants = {v: VariantStats(variant=v, subject=subject)
                for v, subject in (("a", b.subject_a), ("b", b.subject_b)) if subject}
    total = MailStats()
    for r in await MailSend.filter(broadcast_id=b.id, state="sent").values(
            "variant", *STAT_FIELDS, **STAT_JOINS):
        total.add(r)
        if r["variant"] in variants:
            variants[r["variant"]].add(r)
    return BroadcastOut(id=b.id, name=b.name, state=b.state, winner=b.winner,
                        due_at=b.due_at, total=total, variants=list(variants.values()))


async def create_broadcast(call: Call) -> web.StreamResponse:
    body: BroadcastIn = call.body
    if not await Segment.filter(id=body.segment_id).exists():
        raise ApiError(422, "invalid", "no such segment", "segment_id")
    if body.split_percent and not body.subject_b:
        raise ApiError(422, "invalid", "an A/B test needs subject_b", "subject_b")
    check_template(body.body)
    check_template(body.subject_a)
    row = await Broadcast.create(**body.model_dump(exclude={"send_at"}),
                                 due_at=body.send_at or drips.now())
    return json_out(await _broadcast_out(row), status=201)


async def get_broadcast(call: Call) -> web.StreamResponse:
    row = await Broadcast.filter(id=call.param("broadcast_id")).first()
    if row is None:
        raise ApiError(404, "not_found", "no such broadcast", "broadcast_id")
    return json_out(await _broadcast_out(row))


class SequenceIn(Strict):
    key: Annotated[str, Field(pattern=r"^[a-z0-9_]{2,64}$")]
    name: Annotated[str, Field(min_length=1, max_length=120)]
    trigger: Literal["signup", "checkout_started", "order_placed"]
    exit_on: list[Literal["signup", "checkout_started", "checkout_updated",
                          "order_placed"]] = Field(default_factory=list)
    steps: list[drips.Step] = Field(min_length=1, max_length=50)
    enabled: bool = True


class SequencePatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    exit_on: list[Literal["signup", "checkout_started", "checkout_updated",
                          "order_placed"]] | None = None
    steps: list[drips.Step] | None = Field(None, min_length=1, max_length=50)
    enabled: bool | None = None


class SequenceOut(BaseModel):
    id: int
    key: str
    name: str
    trigger: str
    exit_on: list[str]
    steps: list[dict[str, Any]]
    enabled: bool


def _check_steps(steps: list[drips.Step]) -> list[dict[str, Any]]:
    """Every template a step sends exists, and every branch goes to a real step."""
    known = sorted(n.removesuffix("_subject") for n in MAILS.names()
                   if n.endswith("_subject"))
    for i, step in enumerate(steps):
        if step.send is not None and step.send not in known:
            raise ApiError(422, "invalid", f"steps.{i}: no mail template {step.send!r}; "
                           f"known: {', '.join(known)}", f"steps.{i}.send")
        if step.branch is not None and step.branch.goto >= len(steps):
            raise ApiError(422, "invalid", f"steps.{i}: goto {step.branch.goto} is past the "
                           f"last step", f"steps.{i}.branch.goto")
    return [st.model_dump(exclude_none=True) for st in steps]


def _sequence_out(row: Sequence) -> SequenceOut:
    return SequenceOut(id=row.id, key=row.key, name=row.name, trigger=row.trigger,
                       exit_on=row.exit_on, steps=row.steps, enabled=row.enabled)


async def list_sequences(call: Call) -> web.StreamResponse:
    return json_out([_sequence_out(r) for r in await Sequence.all().order_by("id")])


async def create_sequence(call: Call) -> web.StreamResponse:
    body: SequenceIn = call.body
    if await Sequence.filter(key=body.key).exists():
        raise ApiError(409, "exists", f"a sequence {body.key!r} exists", "key")
    row = await Sequence.create(key=body.key, name=body.name, trigger=body.trigger,
                                exit_on=list(body.exit_on), steps=_check_steps(body.steps),
                                enabled=body.enabled)
    return json_out(_sequence_out(row), status=201)


async def update_sequence(call: Call) -> web.StreamResponse:
    row = await Sequence.filter(id=call.param("sequence_id")).first()
    if row is None:
        raise ApiError(404, "not_found", "no such sequence", "sequence_id")
    body: SequencePatch = call.body
    if body.steps is not None:
        row.steps = _check_steps(body.steps)
    for key in ("name", "exit_on", "enabled"):
        if getattr(body, key) is not None:
            setattr(row, key, getattr(body, key))
    await row.save()
    return json_out(_sequence_out(row))


# --- store webhooks ----------------------------------------------------------------------------

def _check(secret: str, header: str, raw: bytes, store: str, setting: str) -> None:
    if not secret:
        raise ApiError(404, "not_connected", f"{store} is not connected: set {setting}")
    want = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    if not header or not hmac.compare_digest(want, header.strip()):
        raise ApiError(401, "bad_signature", f"the {store} signature does not match this "
                                             f"body and secret")


async def _shopify_check(request: web.Request, raw: bytes) -> None:
    _check(request.app[SETTINGS].shopify_webhook_secret.get(),
           request.headers.get("X-Shopify-Hmac-Sha256", ""), raw, "Shopify",
           "SWITCHBOARD_SHOPIFY_WEBHOOK_SECRET")


async def _woo_check(request: web.Request, raw: bytes) -> None:
    if raw.startswith(b"webhook_id="):
        return  # WooCommerce's ping when a webhook is saved: nothing to store
    _check(request.app[SETTINGS].woocommerce_webhook_secret.get(),
           request.headers.get("X-WC-Webhook-Signature", ""), raw, "WooCommerce",
           "SWITCHBOARD_WOOCOMMERCE_WEBHOOK_SECRET")


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")  # as the API's e-mail fields take it


def _items(lines: Any) -> list[dict[str, Any]]:
    return [{"title": as_text(li.get("title") or li.get("name"), 500),
             "quantity": li.get("quantity") if isinstance(li.get("quantity"), int) else 1,
             "price": as_text(li.get("price"), 64)}
            for li in seq(lines) if isinstance(li, dict)]


def _person(data: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any]:
    """Who the store event is about, each field as text that fits the contact's column
    (a store can send a number, an object or a novel where a name goes)."""
    name = " ".join(p for p in (as_text(customer.get("first_name"), 100),
                                as_text(customer.get("last_name"), 100)) if p)
    email = (as_text(data.get("email"), 254) or as_text(customer.get("email"), 254)
             or as_text(obj(data.get("billing")).get("email"), 254))
    return {"email": email if _EMAIL.match(email) else "", "name": name[:200],
            "locale": as_text(data.get("customer_locale") or customer.get("locale"), 16),
            "phone": as_text(customer.get("phone") or data.get("phone"), 64)}


async def _store_event(call: Call, source: str, topic: str, kind: str, delivery: str,
                       data: dict[str, Any], contact: dict[str, Any],
                       payload: dict[str, Any]) -> web.StreamResponse:
    if not contact.get("email"):
        return json_out({"ignored": f"{topic} without an e-mail address"})
    # The store's delivery id, else the object's id and version; a body with neither is
    # told apart by its digest (a redelivery of it still has the same one).
    if delivery:
        ext = delivery
    elif data.get("id") not in (None, ""):
        ext = f"{topic}:{data.get('id')}:{data.get('updated_at', '')}"
    else:
        ext = f"{topic}:body:{hashlib.sha256(call.raw).hexdigest()}"
    if len(ext) > 200:  # the column's width; a digest keeps long ids apart
        ext = "sha256:" + hashlib.sha256(ext.encode()).hexdigest()
    event, created, started = await record_event(kind, source, ext, contact, payload)
    return json_out(EventOut(id=event.id, created=created, enrolled=started,
                             contact_id=event.contact_id))  # type: ignore[attr-defined]


async def shopify_webhook(call: Call) -> web.StreamResponse:
    topic = call.request.headers.get("X-Shopify-Topic", "")
    kind = SHOPIFY_TOPICS.get(topic)
    if kind is None:
        return json_out({"ignored": f"topic {topic!r} is not one Switchboard uses"})
    data = obj(without_nul(json.loads(call.raw)))
    customer = data if topic.startswith("customers/") else obj(data.get("customer"))
    payload = {"items": _items(data.get("line_items")),
               "url": as_text(data.get("abandoned_checkout_url"), 2000),
               "order": as_text(data.get("name"), 64),
               "total": as_text(data.get("total_price"), 64),
               "currency": as_text(data.get("currency"), 8)}
    return await _store_event(call, "shopify", topic, kind,
                              call.request.headers.get("X-Shopify-Webhook-Id", ""), data,
                              _person(data, customer), payload)


async def woocommerce_webhook(call: Call) -> web.StreamResponse:
    topic = call.request.headers.get("X-WC-Webhook-Topic", "")
    if call.raw.startswith(b"webhook_id="):
        return json_out({"ok": True})  # WooCommerce's ping when the webhook is saved
    kind = WOO_TOPICS.get(topic)
    if kind is None:
        return json_out({"ignored": f"topic {topic!r} is not one Switchboard uses"})
    data = obj(without_nul(json.loads(call.raw)))
    customer = data if topic.startswith("customer.") else obj(data.get("billing"))
    payload = {"items": _items(data.get("line_items")),
               "order": as_text(data.get("number"), 64),
               "total": as_text(data.get("total"), 64),
               "currency": as_text(data.get("currency"), 8)}
    return await _store_event(call, "woocommerce", topic, kind,
                              call.request.headers.get("X-WC-Webhook-Delivery-ID", ""), data,
                              _person(data, customer), payload)


def endpoints() -> list[Endpoint]:
    E, P = Endpoint, Perm
    hook = {200: "stored (or already stored, or a topic Switchboard does not use)",
            401: "signature missing or wrong", 404: "the store is not connected"}
    return [
        E("POST", "/api/v1/events", post_event, "A shop event (signup, checkout started or "
          "updated, order placed) for a contact: enrols in or ends sequences",
          "Marketing", P.MARKETING_WRITE, body=EventIn, response=EventOut, status=201,
          responses={200: "already stored (same id)"}),
        E("GET", "/api/v1/enrollments", list_enrollments, "Recent enrolments in sequences",
          "Marketing", P.MARKETING_READ),
        E("POST", "/api/v1/segments/count", count_segment, "How many contacts a set of "
          "rules chooses (the live count while editing a segment)", "Marketing",
          P.MARKETING_READ, body=Rules, response=CountOut),
        E("POST", "/api/v1/segments", create_segment, "Save a segment", "Marketing",
          P.MARKETING_WRITE, body=SegmentIn, response=SegmentOut, status=201,
          responses={409: "the name is taken"}),
        E("GET", "/api/v1/segments", list_segments, "Segments with their current counts",
          "Marketing", P.MARKETING_READ),
        E("POST", "/api/v1/broadcasts", create_broadcast, "Send a mail to a segment "
          "(now or at send_at), optionally with an A/B subject test", "Marketing",
          P.MARKETING_WRITE, body=BroadcastIn, response=BroadcastOut, status=201),
        E("GET", "/api/v1/broadcasts/{broadcast_id}", get_broadcast, "A broadcast: its "
          "state, the A/B winner and per-subject sent / opened / clicked", "Marketing",
          P.MARKETING_READ, response=BroadcastOut),
        E("GET", "/api/v1/sequences", list_sequences, "Drip sequences and their steps",
          "Marketing", P.MARKETING_READ),
        E("POST", "/api/v1/sequences", create_sequence, "A new drip sequence: steps wait, "
          "send, branch, exit", "Marketing", P.MARKETING_WRITE, body=SequenceIn,
          response=SequenceOut, status=201, responses={409: "the key is taken"}),
        E("PATCH", "/api/v1/sequences/{sequence_id}", update_sequence, "Change a "
          "sequence (running enrolments continue at their step number)", "Marketing",
          P.MARKETING_WRITE, body=SequencePatch, response=SequenceOut),
        E("GET", "/api/v1/sequences/stats", sequence_stats, "Per sequence and step: sent, "
          "delivered, bounced, opened, clicked, unsubscribed, converted, revenue",
          "Marketing", P.MARKETING_READ),
        E("POST", "/api/v1/webhooks/shopify", shopify_webhook, "Shopify webhooks: "
          "customers/create, checkouts/create|update, orders/create", "Marketing", None,
          body=StoreHook, raw_check=_shopify_check, security="signature", responses=hook),
        E("POST", "/api/v1/webhooks/woocommerce", woocommerce_webhook, "WooCommerce "
          "webhooks: customer.created, order.created", "Marketing", None,
          raw_check=_woo_check, security="signature", responses=hook),
    ]
