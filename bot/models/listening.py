"""Social listening and reviews: sentiment, rules, feeds, mentions, reviews."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from bot.models.contacts import ChannelAccount
from bot.models.users import User


class SentimentScore(Model):
    """The sentiment model's label for one item (a message, a review or a mention), per
    model version: a new model scores again beside the old scores."""

    id = fields.IntField(primary_key=True)
    item_kind = fields.CharField(max_length=16)  # message, review, mention
    item_id = fields.IntField()
    label = fields.CharField(max_length=8)
    score = fields.FloatField()
    scores: dict[str, float] = fields.JSONField(default=dict)
    model_version = fields.CharField(max_length=80)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "sentiment_scores"
        unique_together = (("item_kind", "item_id", "model_version"),)


class SentimentCorrection(Model):
    """A staff member's label for an item, kept with what the model said: shown in the
    eval and exportable as training rows."""

    id = fields.IntField(primary_key=True)
    item_kind = fields.CharField(max_length=16)
    item_id = fields.IntField()
    text = fields.TextField()
    lang = fields.CharField(max_length=8, default="")
    label = fields.CharField(max_length=8)
    model_label = fields.CharField(max_length=8, default="")
    model_version = fields.CharField(max_length=80, default="")
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sentiment_corrections", null=True,
        on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "sentiment_corrections"
        unique_together = (("item_kind", "item_id"),)


class ListeningRule(Model):
    """What to listen for: a boolean query over terms and hashtags (``listening.rules``)
    of one kind (brand, product, competitor, keyword, hashtag), in some languages."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120, unique=True)
    kind = fields.CharField(max_length=16)
    query = fields.TextField()
    languages: list[str] = fields.JSONField(default=list)  # empty: every language
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "listening_rules"


class Feed(Model):
    """An RSS or Atom feed polled for mentions, due work like posts (leased per poll)."""

    id = fields.IntField(primary_key=True)
    url = fields.CharField(max_length=1000, unique=True)
    name = fields.CharField(max_length=200, default="")
    etag = fields.CharField(max_length=300, default="")
    last_modified = fields.CharField(max_length=100, default="")
    interval_minutes = fields.IntField(default=15)
    due_at = fields.DatetimeField(null=True)
    lease_until = fields.DatetimeField(null=True)
    polled_at = fields.DatetimeField(null=True)
    last_status = fields.IntField(null=True)
    last_error = fields.CharField(max_length=500, default="")
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "feeds"


class FeedEntry(Model):
    """An entry already read from a feed (by its id, else link): no duplicates across
    polls, even when the feed ignores ETag and Last-Modified."""

    id = fields.IntField(primary_key=True)
    feed: fields.ForeignKeyRelation[Feed] = fields.ForeignKeyField(
        "models.Feed", related_name="entries", on_delete=fields.CASCADE)
    key = fields.CharField(max_length=500)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "feed_entries"
        unique_together = (("feed", "key"),)


class Mention(Model):
    """An item that matched a listening rule."""

    id = fields.IntField(primary_key=True)
    rule: fields.ForeignKeyRelation[ListeningRule] = fields.ForeignKeyField(
        "models.ListeningRule", related_name="mentions", on_delete=fields.CASCADE)
    source = fields.CharField(max_length=32)  # a channel kind, rss, api, review
    source_ref = fields.CharField(max_length=300)  # the item it came from, for dedupe
    author = fields.CharField(max_length=200, default="")
    url = fields.CharField(max_length=1000, default="")
    text = fields.TextField()
    lang = fields.CharField(max_length=8, default="")
    sentiment = fields.CharField(max_length=8, default="")
    sentiment_score = fields.FloatField(null=True)
    model_version = fields.CharField(max_length=80, default="")
    occurred_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mentions"
        unique_together = (("rule", "source_ref"),)
        indexes = (Index(fields=("occurred_at",), name="mention_time"),)


class Review(Model):
    """A customer review from a shop platform, Google, or a CSV file, answered within
    24 hours (``listening.reviews``)."""

    id = fields.IntField(primary_key=True)
    source = fields.CharField(max_length=32)  # google, webhook, csv, or the shop's own name
    external_id = fields.CharField(max_length=300)
    channel_account: fields.ForeignKeyNullableRelation[ChannelAccount] = \
        fields.ForeignKeyField("models.ChannelAccount", related_name="reviews", null=True,
                               on_delete=fields.SET_NULL)
    rating = fields.IntField(null=True)
    title = fields.CharField(max_length=300, default="")
    text = fields.TextField(default="")
    author = fields.CharField(max_length=200, default="")
    product = fields.CharField(max_length=200, default="")
    url = fields.CharField(max_length=1000, default="")
    lang = fields.CharField(max_length=8, default="")
    locale = fields.CharField(max_length=8, default="en")  # for the reply suggestion
    created = fields.DatetimeField()  # when the customer wrote it
    sentiment = fields.CharField(max_length=8, default="")
    reply_state = fields.CharField(max_length=16, default="unanswered")
    reply_text = fields.TextField(default="")
    replied_at = fields.DatetimeField(null=True)
    replied_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="review_replies", null=True, on_delete=fields.SET_NULL)
    reply_error = fields.CharField(max_length=500, default="")
    resolved_privately_at = fields.DatetimeField(null=True)
    warned_at = fields.DatetimeField(null=True)  # the deadline alert went out
    payload: dict[str, Any] = fields.JSONField(default=dict)  # as it came in
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reviews"
        unique_together = (("source", "external_id"),)
        indexes = (Index(fields=("reply_state", "created"), name="review_clock"),)

