"""Marketing: shop events, drip sequences, segments, broadcasts and their mails."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from bot.models.contacts import Contact


class ShopEvent(Model):
    """Something the shop's store told us a contact did: signed up, started or updated a
    checkout, placed an order. Stored once per (source, external_id)."""

    id = fields.IntField(primary_key=True)
    # signup, checkout_started, checkout_updated, order_placed
    kind = fields.CharField(max_length=32)
    source = fields.CharField(max_length=32)  # api, shopify, woocommerce
    external_id = fields.CharField(max_length=200)
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="shop_events", on_delete=fields.CASCADE)
    payload: dict[str, Any] = fields.JSONField(default=dict)
    occurred_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "shop_events"
        unique_together = (("source", "external_id"),)
        indexes = (Index(fields=("contact_id", "kind", "occurred_at"), name="event_contact"),)


class Sequence(Model):
    """A drip sequence: what starts it (an event kind), what ends it early, and its steps
    (validated by ``scheduler.marketing.sequences.Steps``)."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=120)
    trigger = fields.CharField(max_length=32)
    exit_on: list[str] = fields.JSONField(default=list)
    steps: list[dict[str, Any]] = fields.JSONField(default=list)
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "sequences"


class Enrollment(Model):
    """A contact going through a sequence: the next step and when it is due (due work,
    claimed with a lease like posts)."""

    id = fields.IntField(primary_key=True)
    sequence: fields.ForeignKeyRelation[Sequence] = fields.ForeignKeyField(
        "models.Sequence", related_name="enrollments", on_delete=fields.CASCADE)
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="enrollments", on_delete=fields.CASCADE)
    state = fields.CharField(max_length=16, default="active")  # active, completed, exited
    step = fields.IntField(default=0)
    due_at = fields.DatetimeField(null=True)
    lease_until = fields.DatetimeField(null=True)
    # What the mails show: the cart's items and recovery link, the order, …
    context: dict[str, Any] = fields.JSONField(default=dict)
    started_at = fields.DatetimeField()
    ended_reason = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "enrollments"
        indexes = (Index(fields=("state", "due_at"), name="enrollment_due"),
                   Index(fields=("contact_id", "state"), name="enrollment_contact"))


class Segment(Model):
    """A named set of contacts by rules (``scheduler.marketing.segments.Rules``), counted live."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120, unique=True)
    rules: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "segments"
        # As migration 0009 recorded it (the docstring's first line, before the module moved):
        # a migration that ran is never edited.
        table_description = ("A named set of contacts by rules (``scheduler.segments.Rules``), "
                             "counted live.")


class Broadcast(Model):
    """One mail to a segment, optionally with an A/B subject test: ``split_percent`` of
    the segment gets subject A or B (half each), and after ``decide_after_hours`` the
    subject with more opens (or clicks) goes to the rest. Due work like posts."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    # None once its segment was deleted after it was sent or cancelled (a broadcast still
    # to go out keeps its segment: scheduler.marketing.segments.delete refuses)
    segment: fields.ForeignKeyNullableRelation[Segment] = fields.ForeignKeyField(
        "models.Segment", related_name="broadcasts", null=True, on_delete=fields.SET_NULL)
    subject_a = fields.CharField(max_length=300)
    subject_b = fields.CharField(max_length=300, default="")
    body = fields.TextField()
    split_percent = fields.IntField(default=0)
    metric = fields.CharField(max_length=8, default="opens")  # opens or clicks
    decide_after_hours = fields.FloatField(default=4)
    # scheduled, testing, sent, cancelled
    state = fields.CharField(max_length=16, default="scheduled")
    winner = fields.CharField(max_length=1, default="")
    due_at = fields.DatetimeField(null=True)
    lease_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "broadcasts"


class MailSend(Model):
    """One marketing mail: its idempotency key is stored before it is sent, and its
    Message-ID is derived from that key, so a crash mid-send cannot make a second,
    different mail."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=128, unique=True)  # "enr:<id>:step:<n>"
    enrollment: fields.ForeignKeyNullableRelation[Enrollment] = fields.ForeignKeyField(
        "models.Enrollment", related_name="mails", null=True, on_delete=fields.SET_NULL)
    step = fields.IntField(null=True)
    broadcast: fields.ForeignKeyNullableRelation[Broadcast] = fields.ForeignKeyField(
        "models.Broadcast", related_name="mails", null=True, on_delete=fields.SET_NULL)
    variant = fields.CharField(max_length=1, default="", db_default="")  # A/B: "a" or "b"
    template = fields.CharField(max_length=64, default="")
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="mails", on_delete=fields.CASCADE)
    to = fields.CharField(max_length=254)
    subject = fields.CharField(max_length=300, default="")
    message_id = fields.CharField(max_length=255)
    state = fields.CharField(max_length=16, default="sending")  # sending, sent, failed
    error = fields.CharField(max_length=500, default="")
    attempts = fields.IntField(default=0)
    sent_at = fields.DatetimeField(null=True)
    # Tracking: the first open (pixel) and click (signed redirect), how many of each, and
    # the order a click led to within the attribution window.
    opened_at = fields.DatetimeField(null=True)
    opens = fields.IntField(default=0, db_default=0)
    clicked_at = fields.DatetimeField(null=True)
    clicks = fields.IntField(default=0, db_default=0)
    converted_at = fields.DatetimeField(null=True)
    revenue = fields.FloatField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mail_sends"
        indexes = (Index(fields=("contact_id", "clicked_at"), name="mail_contact_click"),
                   Index(fields=("state", "sent_at"), name="mail_state_sent"),
                   Index(fields=("converted_at",), name="mail_converted"))

