"""REST API for e-mail marketing: shop events (generic, Shopify, WooCommerce), what they
set going (enrolments), sequences, segments, broadcasts and their stats.

Thin: each handler validates its input, calls the marketing service for its workflow and
shapes the answer. The services raise domain errors (``scheduler.marketing.errors``, all
``InboxError``), which the endpoint wrapper answers as JSON with their status, code and
field. :func:`endpoints` is what the composition root mounts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.core.auth import Perm
from bot.core.clean import clean_str
from bot.core.http import ApiError, Call, Endpoint, Strict, json_out
from bot.core.keys import SETTINGS
from bot.models import Broadcast, Sequence
from scheduler.marketing import broadcasts, segments, sequences, tracking, webhooks
from scheduler.marketing.broadcasts import BroadcastIn
from scheduler.marketing.events import ContactFields, Recorded, record_event
from scheduler.marketing.segments import Rules
from scheduler.marketing.sequences import EventKind, SequenceIn, SequencePatch
from scheduler.marketing.tracking import MailStats, VariantStats


class ContactIn(Strict):
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
    name: Annotated[str, Field(max_length=200)] = ""
    locale: Annotated[str, Field(max_length=16)] | None = None
    phone: Annotated[str, Field(max_length=64)] | None = None


class EventIn(Strict):
    id: Annotated[str, Field(min_length=1, max_length=150,
                             description="Your id of the event: the same id again is a "
                                         "redelivery and changes nothing.")]
    type: EventKind
    contact: ContactIn
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description="Shown in the mails: items [{title, quantity, price}], url (the cart's "
                    "recovery link), review_url, order number, total; for attribution, "
                    "landing_url (where the buyer landed, with its utm_* parameters) or "
                    "utm_campaign.")
    occurred_at: datetime | None = None


class EventOut(BaseModel):
    id: int
    created: bool
    contact_id: int
    enrolled: list[int]


def _event_out(done: Recorded) -> EventOut:
    return EventOut(id=done.event.id, created=done.created, enrolled=done.enrolled,
                    contact_id=done.contact_id)


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
    done = await record_event(body.type, "api", body.id,
                              ContactFields(**body.contact.model_dump()), body.payload,
                              body.occurred_at)
    return json_out(_event_out(done), status=201 if done.created else 200)


async def list_enrollments(call: Call) -> web.StreamResponse:
    return json_out([EnrollmentOut(
        id=r.id, sequence=r.sequence.key, contact_id=r.contact_id,  # type: ignore[attr-defined]
        state=r.state, step=r.step, due_at=r.due_at, ended_reason=r.ended_reason)
        for r in await sequences.recent_enrollments()])


async def sequence_stats(call: Call) -> web.StreamResponse:
    return json_out(await tracking.sequence_stats())


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


def _segment_out(seg: segments.Counted) -> SegmentOut:
    return SegmentOut(id=seg.id, name=seg.name, rules=seg.rules, count=seg.count)


async def count_segment(call: Call) -> web.StreamResponse:
    return json_out(CountOut(count=await segments.count(call.body)))


async def create_segment(call: Call) -> web.StreamResponse:
    body: SegmentIn = call.body
    return json_out(_segment_out(await segments.create(body.name, body.rules)), status=201)


async def list_segments(call: Call) -> web.StreamResponse:
    return json_out([_segment_out(s) for s in await segments.all_counted()])


async def delete_segment(call: Call) -> web.StreamResponse:
    await segments.delete(call.param("segment_id"))
    return json_out({"deleted": True})


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
    total, variants = await tracking.broadcast_stats(b)
    return BroadcastOut(id=b.id, name=b.name, state=b.state, winner=b.winner,
                        due_at=b.due_at, total=total, variants=variants)


async def create_broadcast(call: Call) -> web.StreamResponse:
    body: BroadcastIn = call.body
    row = await broadcasts.create(**body.model_dump())
    return json_out(await _broadcast_out(row), status=201)


async def get_broadcast(call: Call) -> web.StreamResponse:
    return json_out(await _broadcast_out(await broadcasts.get(call.param("broadcast_id"))))


class SequenceOut(BaseModel):
    id: int
    key: str
    name: str
    trigger: str
    exit_on: list[str]
    steps: list[dict[str, Any]]
    enabled: bool


def _sequence_out(row: Sequence) -> SequenceOut:
    return SequenceOut(id=row.id, key=row.key, name=row.name, trigger=row.trigger,
                       exit_on=row.exit_on, steps=row.steps, enabled=row.enabled)


async def list_sequences(call: Call) -> web.StreamResponse:
    return json_out([_sequence_out(r) for r in await sequences.all_sequences()])


async def create_sequence(call: Call) -> web.StreamResponse:
    body: SequenceIn = call.body
    row = await sequences.create(body.key, body.name, body.trigger, list(body.exit_on),
                                 body.steps, body.enabled)
    return json_out(_sequence_out(row), status=201)


async def update_sequence(call: Call) -> web.StreamResponse:
    body: SequencePatch = call.body
    row = await sequences.update(
        call.param("sequence_id"), name=body.name, steps=body.steps, enabled=body.enabled,
        exit_on=None if body.exit_on is None else list(body.exit_on))
    return json_out(_sequence_out(row))


async def delete_sequence(call: Call) -> web.StreamResponse:
    await sequences.delete(call.param("sequence_id"))
    return json_out({"deleted": True})


# --- store webhooks (what they mean: scheduler.marketing.webhooks) ----------------------------

async def _shopify_check(request: web.Request, raw: bytes) -> None:
    webhooks.verify(request.app[SETTINGS].shopify_webhook_secret.get(),
                    request.headers.get("X-Shopify-Hmac-Sha256", ""), raw, "Shopify",
                    "SWITCHBOARD_SHOPIFY_WEBHOOK_SECRET")


async def _woo_check(request: web.Request, raw: bytes) -> None:
    if webhooks.is_woo_ping(raw):
        return
    if not request.headers.get("X-WC-Webhook-Signature"):  # only the ping comes unsigned
        raise ApiError(401, "unsigned", "send the X-WC-Webhook-Signature header")
    webhooks.verify(request.app[SETTINGS].woocommerce_webhook_secret.get(),
                    request.headers.get("X-WC-Webhook-Signature", ""), raw, "WooCommerce",
                    "SWITCHBOARD_WOOCOMMERCE_WEBHOOK_SECRET")


def _hook_out(outcome: Recorded | str) -> web.StreamResponse:
    if isinstance(outcome, str):
        return json_out({"ignored": outcome})
    return json_out(_event_out(outcome))


def _header(call: Call, name: str) -> str:
    """A header value to store: aiohttp keeps a byte that is not UTF-8 as a lone surrogate,
    which no database takes (bot.core.clean)."""
    return clean_str(call.request.headers.get(name, ""))


async def shopify_webhook(call: Call) -> web.StreamResponse:
    return _hook_out(await webhooks.shopify(_header(call, "X-Shopify-Topic"),
                                            _header(call, "X-Shopify-Webhook-Id"), call.raw))


async def woocommerce_webhook(call: Call) -> web.StreamResponse:
    if webhooks.is_woo_ping(call.raw):
        return json_out({"ok": True})
    return _hook_out(await webhooks.woocommerce(_header(call, "X-WC-Webhook-Topic"),
                                                _header(call, "X-WC-Webhook-Delivery-ID"),
                                                call.raw))


_STORE_SIGNATURE = ("base64 HMAC-SHA256 of the raw body, keyed with the store's webhook "
                    "secret")


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
        E("DELETE", "/api/v1/segments/{segment_id}", delete_segment, "Delete a segment (sent "
          "broadcasts keep their results)", "Marketing", P.MARKETING_WRITE,
          responses={409: "a broadcast still to go out uses it"}),
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
        E("DELETE", "/api/v1/sequences/{sequence_id}", delete_sequence, "Delete a paused "
          "sequence nobody is going through (its mails stay)", "Marketing",
          P.MARKETING_WRITE, responses={409: "on, contacts still in it, or built-in"}),
        E("GET", "/api/v1/sequences/stats", sequence_stats, "Per sequence and step: sent, "
          "delivered, bounced, opened, clicked, unsubscribed, converted, revenue",
          "Marketing", P.MARKETING_READ),
        E("POST", "/api/v1/webhooks/shopify", shopify_webhook, "Shopify webhooks: "
          "customers/create, checkouts/create|update, orders/create", "Marketing", None,
          body=StoreHook, raw_check=_shopify_check, security="signature", responses=hook,
          signature_header="X-Shopify-Hmac-Sha256", signature_help=_STORE_SIGNATURE),
        E("POST", "/api/v1/webhooks/woocommerce", woocommerce_webhook, "WooCommerce "
          "webhooks: customer.created, order.created", "Marketing", None,
          raw_check=_woo_check, security="signature", responses=hook,
          signature_header="X-WC-Webhook-Signature", signature_help=_STORE_SIGNATURE,
          signature_optional=True),
    ]
