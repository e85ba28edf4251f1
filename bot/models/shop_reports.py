"""Roll-ups behind the marketing and listening reports (``bot.services.reports``): facts
recomputed from the raw rows (shop events, mails, scores, reviews) by
``bot.services.reports.shop_facts.refresh``, never edited by hand. Days, weeks and
months are the shop's (``shop_timezone``) at the time of the refresh."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class ShopReportState(Model):
    """How far a roll-up has read its raw rows (a watermark), or the settings it was built
    with (a change rebuilds it)."""

    name = fields.CharField(max_length=64, primary_key=True)
    value = fields.CharField(max_length=200, default="")

    class Meta:
        table = "shop_report_state"


class ContactCommerce(Model):
    """One contact's way through the shop's funnel (what each column means: ``shop_facts``).

    ``entered``: their first shop event. ``source``: where they came from."""

    id = fields.IntField(primary_key=True)
    contact_id = fields.IntField(unique=True)
    source = fields.CharField(max_length=32)
    entered_day = fields.DateField()
    entered_week = fields.DateField()
    signed_up = fields.BooleanField(default=False)
    checkout_day = fields.DateField(null=True)  # a checkout started, or an order placed
    first_order_day = fields.DateField(null=True)
    last_order_day = fields.DateField(null=True)
    cohort = fields.DateField(null=True)  # the month of the first order (its 1st day)
    orders = fields.IntField(default=0)
    cents = fields.BigIntField(default=0)  # lifetime revenue, in cents

    class Meta:
        table = "report_contacts"
        # covering the funnel's scan; the top customers walk the lifetime value down
        indexes = (Index(fields=("entered_day", "source", "signed_up", "checkout_day",
                                 "first_order_day"), name="rc_entered"),
                   Index(fields=("cents", "contact_id"), name="rc_value"))


class OrderFact(Model):
    """One order (an ``order_placed`` shop event): its amount in cents, its number among
    the contact's orders, and the campaign it is attributed to (last and first touch)."""

    id = fields.IntField(primary_key=True)
    event_id = fields.IntField(unique=True)
    contact_id = fields.IntField()
    at = fields.DatetimeField()
    day = fields.DateField()
    week = fields.DateField()
    nth = fields.IntField()  # 1: the contact's first order
    prev_day = fields.DateField(null=True)  # the contact's order before this one
    next_day = fields.DateField(null=True)  # ... and after it
    cohort = fields.DateField()  # the contact's first order's month
    cents = fields.BigIntField()
    currency = fields.CharField(max_length=8, default="")
    source = fields.CharField(max_length=32)
    last_kind = fields.CharField(max_length=16, default="")  # sequence, broadcast, post
    last_ref = fields.IntField(null=True)
    first_kind = fields.CharField(max_length=16, default="")
    first_ref = fields.IntField(null=True)

    class Meta:
        table = "report_orders"
        # covering the scans: customers in a range, attribution per model
        indexes = (Index(fields=("day", "source", "prev_day", "next_day", "nth"),
                         name="ro_day"),
                   Index(fields=("contact_id", "day"), name="ro_contact"),
                   Index(fields=("last_kind", "day", "last_ref", "cents"), name="ro_last"),
                   Index(fields=("first_kind", "day", "first_ref", "cents"), name="ro_first"))


class OrderDay(Model):
    """Orders summed per day, cohort, source channel and currency: ``firsts`` are first
    orders (new customers), ``seconds`` second orders (customers becoming repeat ones)."""

    id = fields.IntField(primary_key=True)
    day = fields.DateField()
    cohort = fields.DateField()
    source = fields.CharField(max_length=32)
    currency = fields.CharField(max_length=8)
    orders = fields.IntField(default=0)
    cents = fields.BigIntField(default=0)
    firsts = fields.IntField(default=0)
    seconds = fields.IntField(default=0)

    class Meta:
        table = "report_order_days"
        unique_together = (("day", "cohort", "source", "currency"),)


class CampaignClick(Model):
    """A marketing mail's tracked click (its first), credited to the mail's campaign."""

    id = fields.IntField(primary_key=True)
    mail_id = fields.IntField(unique=True)
    kind = fields.CharField(max_length=16)  # sequence, broadcast; "": neither
    ref = fields.IntField()
    day = fields.DateField()

    class Meta:
        table = "report_clicks"
        indexes = (Index(fields=("day", "kind", "ref"), name="rk_day"),)


class SentimentFact(Model):
    """One scored item (a message, a review, or a mention from outside), its latest label."""

    id = fields.IntField(primary_key=True)
    item = fields.CharField(max_length=300, unique=True)  # "message:5", a mention's ref
    day = fields.DateField()
    week = fields.DateField()
    channel = fields.CharField(max_length=32)
    lang = fields.CharField(max_length=8, default="")
    label = fields.CharField(max_length=8)

    class Meta:
        table = "report_sentiment"


class SentimentDay(Model):
    """Scored items counted per day, channel, language and label."""

    id = fields.IntField(primary_key=True)
    day = fields.DateField()
    week = fields.DateField()
    channel = fields.CharField(max_length=32)
    lang = fields.CharField(max_length=8)
    label = fields.CharField(max_length=8)
    n = fields.IntField(default=0)

    class Meta:
        table = "report_sentiment_days"
        unique_together = (("day", "channel", "lang", "label"),)


class ReviewFact(Model):
    """One review: its source, day, rating and whether it was answered within 24 hours."""

    id = fields.IntField(primary_key=True)
    review_id = fields.IntField(unique=True)
    source = fields.CharField(max_length=32)
    day = fields.DateField()
    week = fields.DateField()
    rating = fields.IntField(null=True)
    answered = fields.BooleanField(default=False)  # a reply within 24 hours
    replied = fields.BooleanField(default=False)  # a reply, at any time

    class Meta:
        table = "report_reviews"
        indexes = (Index(fields=("day", "source"), name="rv_day"),
                   Index(fields=("replied", "review_id"), name="rv_replied"))
