"""Posts published to channels, per target, with their workflow record."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from bot.models.contacts import ChannelAccount
from bot.models.users import User


class PostStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MISSED = "missed"  # fell due while the server was down, past the misfire grace


class Post(Model):
    """Something marketers publish to one or more channels, at a time (due work)."""

    id = fields.IntField(primary_key=True)
    text = fields.TextField()
    # [{"url": …} | {"upload": "<file name under data/uploads>"}], in order.
    media: list[dict[str, Any]] = fields.JSONField(default=list)
    status = fields.CharEnumField(PostStatus, max_length=16, default=PostStatus.DRAFT)
    due_at = fields.DatetimeField(null=True)  # when it goes out (UTC)
    # {"freq": "daily"|"weekly"|"monthly", "time": "HH:MM", "days": [...]} in shop time.
    recurrence: dict[str, Any] | None = fields.JSONField(null=True)
    evergreen_days = fields.IntField(null=True)  # requeue this many days after publishing
    lease_until = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    error = fields.CharField(max_length=500, default="")
    # The same reason as data a page shows in the reader's language (bot.core.said).
    error_i18n: Any = fields.JSONField(null=True)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="posts", null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    variants: fields.ReverseRelation[PostVariant]

    class Meta:
        table = "posts"
        indexes = (Index(fields=("status", "due_at"), name="post_due"),)


class PostVariant(Model):
    """The post on one target (a Telegram channel, a Facebook Page, an Instagram account).

    ``state`` makes publishing exactly-once: ``sending`` is committed before the network
    call; a crash leaves it there, and such a variant is never sent again blindly."""

    id = fields.IntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="variants", on_delete=fields.CASCADE)
    channel_account: fields.ForeignKeyRelation[ChannelAccount] = fields.ForeignKeyField(
        "models.ChannelAccount", related_name="post_variants", on_delete=fields.RESTRICT)
    network = fields.CharField(max_length=16)  # telegram | facebook | instagram
    target = fields.CharField(max_length=128)  # chat id / @channel, Page id, IG user id
    text = fields.TextField(null=True)  # None: the post's text
    # waiting | sending | done | failed | unknown (a crash mid-send: a person checks)
    state = fields.CharField(max_length=16, default="waiting")
    remote_id = fields.CharField(max_length=128, null=True)
    error = fields.CharField(max_length=500, default="")
    error_i18n: Any = fields.JSONField(null=True)  # bot.core.said
    attempts = fields.IntField(default=0)
    published_at = fields.DatetimeField(null=True)

    class Meta:
        table = "post_variants"


class PostEvent(Model):
    """One step of a post's workflow: who moved it, when, from what to what, and why."""

    id = fields.IntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="events", on_delete=fields.CASCADE)
    from_status = fields.CharField(max_length=16)
    to_status = fields.CharField(max_length=16)
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="post_events", null=True, on_delete=fields.SET_NULL)
    reason = fields.CharField(max_length=500, default="")
    reason_i18n: Any = fields.JSONField(null=True)  # Switchboard's, as data (bot.core.said)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "post_events"



class PostClick(Model):
    """A click on a tracked link of a published post (``scheduler.posts.links``): which
    post and target it came from, and when. No contact: a click on a social network is
    anonymous; an order is tied to it by the UTM campaign the shop saw it land with."""

    id = fields.IntField(primary_key=True)
    post_id = fields.IntField()
    variant_id = fields.IntField()
    network = fields.CharField(max_length=16)
    at = fields.DatetimeField()

    class Meta:
        table = "post_clicks"
        indexes = (Index(fields=("post_id", "at"), name="pc_post"),
                   Index(fields=("at", "post_id"), name="pc_at"))
