"""Tortoise models. Schema changes go through ``tortoise makemigrations``.

Inbox tables are shaped for the hot paths: ingest looks messages up by
``(channel_account, external_id)`` and identities by ``(channel_account, external_id)``;
the inbox list reads conversations by ``(status, channel_kind, last_message_at)``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    MARKETER = "marketer"


class ConversationStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class DeliveryStatus(StrEnum):
    RECEIVED = "received"  # inbound, stored
    PENDING = "pending"  # outbound, not yet delivered
    RETRYING = "retrying"  # outbound, last attempt failed, another is due
    SENT = "sent"
    FAILED = "failed"  # outbound, gave up; reason in ``error``


class User(Model):
    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=120, default="")
    role = fields.CharEnumField(Role, max_length=16)
    password_hash = fields.CharField(max_length=255, default="")
    api_token_hash = fields.CharField(max_length=64, null=True, unique=True)
    # The staff member's Telegram user id: only linked ids may use staff chat commands.
    telegram_user_id = fields.BigIntField(null=True, unique=True)
    is_active = fields.BooleanField(default=True)
    last_assigned_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "users"


class Session(Model):
    """A staff login. The cookie holds the token, the table only its hash."""

    id = fields.CharField(max_length=64, primary_key=True)  # sha256 of the cookie token
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE)
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "sessions"


class ChannelAccount(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=32, db_index=True)
    name = fields.CharField(max_length=120)
    # HMAC key for inbound signatures and signed callbacks. It must be usable, so it is
    # stored as is; it never leaves the server except once, when the account is created.
    secret = fields.CharField(max_length=128)
    callback_url = fields.CharField(max_length=500, default="")
    settings: dict[str, Any] = fields.JSONField(default=dict)
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "channel_accounts"

    def __repr__(self) -> str:
        return f"<ChannelAccount {self.id} {self.kind} {self.name!r}>"


class Contact(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, default="")
    email = fields.CharField(max_length=254, null=True, db_index=True)
    phone = fields.CharField(max_length=64, null=True)
    locale = fields.CharField(max_length=16, null=True)
    attributes: dict[str, Any] = fields.JSONField(default=dict)
    tags: list[str] = fields.JSONField(default=list)
    # Why messages cannot reach this contact (e.g. they blocked the Telegram bot), or "".
    unreachable = fields.CharField(max_length=200, default="", db_default="")
    # Marketing e-mail consent: "" (never asked), pending (double opt-in mail sent),
    # subscribed, unsubscribed or bounced; when, and what set it (a form, a bounce, …).
    email_consent = fields.CharField(max_length=16, default="", db_default="")
    email_consent_at = fields.DatetimeField(null=True)
    email_consent_source = fields.CharField(max_length=200, default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "contacts"


class Identity(Model):
    """Who a contact is on one channel account."""

    id = fields.IntField(primary_key=True)
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="identities", on_delete=fields.CASCADE)
    channel_account: fields.ForeignKeyRelation[ChannelAccount] = fields.ForeignKeyField(
        "models.ChannelAccount", related_name="identities", on_delete=fields.CASCADE)
    external_id = fields.CharField(max_length=255)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "identities"
        unique_together = (("channel_account", "external_id"),)


class Label(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    color = fields.CharField(max_length=16, default="#64748b")

    class Meta:
        table = "labels"


class Conversation(Model):
    id = fields.IntField(primary_key=True)
    channel_account: fields.ForeignKeyRelation[ChannelAccount] = fields.ForeignKeyField(
        "models.ChannelAccount", related_name="conversations", on_delete=fields.RESTRICT)
    # Copied from the account so the inbox list filters by channel on one index.
    channel_kind = fields.CharField(max_length=32)
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="conversations", on_delete=fields.RESTRICT)
    thread_key = fields.CharField(max_length=255, null=True)
    status = fields.CharEnumField(ConversationStatus, max_length=16,
                                  default=ConversationStatus.OPEN)
    assignee: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="assigned", null=True, on_delete=fields.SET_NULL)
    snoozed_until = fields.DatetimeField(null=True)
    unread_count = fields.IntField(default=0)
    last_message_at = fields.DatetimeField()
    last_message_preview = fields.CharField(max_length=200, default="")
    resolved_at = fields.DatetimeField(null=True)
    # The customer asked for a person: the bot stays silent until the conversation is resolved.
    needs_human = fields.BooleanField(default=False, db_default=False)
    # A group or a post's comment thread: many authors, messages are public comments.
    is_public = fields.BooleanField(default=False, db_default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    labels: fields.ManyToManyRelation[Label] = fields.ManyToManyField(
        "models.Label", related_name="conversations", through="conversation_labels")

    class Meta:
        table = "conversations"
        indexes = (
            Index(fields=("status", "last_message_at"), name="conv_status_last"),
            Index(fields=("channel_kind", "status", "last_message_at"),
                  name="conv_kind_status_last"),
            Index(fields=("contact_id", "channel_account_id", "status"), name="conv_contact"),
            Index(fields=("assignee_id", "status", "last_message_at"), name="conv_assignee"),
        )


class Message(Model):
    id = fields.IntField(primary_key=True)
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="messages", on_delete=fields.CASCADE)
    channel_account: fields.ForeignKeyRelation[ChannelAccount] = fields.ForeignKeyField(
        "models.ChannelAccount", related_name="messages", on_delete=fields.RESTRICT)
    direction = fields.CharEnumField(Direction, max_length=4)
    # Inbound: the sender's id, the idempotency key. Outbound: the id the channel gave back.
    external_id = fields.CharField(max_length=255, null=True)
    text = fields.TextField()
    # Files sent with the message, as metadata only (e.g. Telegram's file_id, name, size).
    attachments: list[dict[str, Any]] = fields.JSONField(default=list, db_default="[]")
    # Earlier versions of a text the customer edited: [{"text", "replaced_at"}], oldest first.
    history: list[dict[str, Any]] = fields.JSONField(default=list, db_default="[]")
    # What the channel knows beyond the text, to answer in kind (an e-mail's subject and
    # References chain).
    meta: dict[str, Any] = fields.JSONField(default=dict, db_default="{}")
    sender: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="messages", null=True, on_delete=fields.SET_NULL)
    # Inbound in a public conversation: who wrote the comment (the conversation's contact
    # is the group itself).
    author: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="comments", null=True, on_delete=fields.SET_NULL)
    # Inbound: the button the customer pressed (e.g. "faq:3", "csat:5"), else null.
    payload = fields.CharField(max_length=64, null=True)
    # Outbound: quick-reply buttons offered with the text, [{"label", "payload"}].
    buttons: list[dict[str, str]] = fields.JSONField(default=list, db_default="[]")
    # Outbound: who wrote it when not a staff member in the inbox ("bot", "rule", "telegram").
    origin = fields.CharField(max_length=16, default="", db_default="")
    # Outbound written outside the inbox: the id of what it was written as (a staff chat
    # message), so a redelivered update never sends it twice.
    source_ref = fields.CharField(max_length=128, null=True, unique=True)
    # Outbound in a public conversation: the comment this answers (reply in thread).
    reply_to: fields.ForeignKeyNullableRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="replies", null=True, on_delete=fields.SET_NULL)
    status = fields.CharEnumField(DeliveryStatus, max_length=16)
    error = fields.CharField(max_length=500, default="")
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    lease_until = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "messages"
        unique_together = (("channel_account", "external_id"),)
        indexes = (
            Index(fields=("conversation_id", "id"), name="msg_conv"),
            Index(fields=("status", "next_attempt_at"), name="msg_due"),
        )


class Note(Model):
    """A private note on a conversation. Staff see it, customers never do."""

    id = fields.IntField(primary_key=True)
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="notes", on_delete=fields.CASCADE)
    author: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notes", null=True, on_delete=fields.SET_NULL)
    text = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    revisions: fields.ReverseRelation[NoteRevision]

    class Meta:
        table = "notes"


class NoteRevision(Model):
    """The text a note had before an edit, and who replaced it."""

    id = fields.IntField(primary_key=True)
    note: fields.ForeignKeyRelation[Note] = fields.ForeignKeyField(
        "models.Note", related_name="revisions", on_delete=fields.CASCADE)
    text = fields.TextField()
    edited_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="note_edits", null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "note_revisions"


class CannedReply(Model):
    id = fields.IntField(primary_key=True)
    shortcut = fields.CharField(max_length=64, unique=True)
    title = fields.CharField(max_length=200, default="")
    body = fields.TextField()  # a jinja2 template; ``contact`` is in scope
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "canned_replies"


class CsatRating(Model):
    """A customer's 1-5 rating of a resolved conversation."""

    id = fields.IntField(primary_key=True)
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="ratings", on_delete=fields.CASCADE)
    rating = fields.SmallIntField()
    # Who resolved the conversation the rating is about.
    assignee: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="ratings", null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "csat_ratings"


class FaqEntry(Model):
    """One answer of the bot's knowledge base, in one locale, with the ways people ask."""

    id = fields.IntField(primary_key=True)
    locale = fields.CharField(max_length=8, db_index=True)
    question = fields.CharField(max_length=300)
    variants: list[str] = fields.JSONField(default=list)
    answer = fields.TextField()
    in_menu = fields.BooleanField(default=False)  # offered as a button with the greeting
    position = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "faq_entries"


class Rule(Model):
    """An automation rule: when ``event`` happens and every condition holds, run the actions."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    event = fields.CharField(max_length=32)
    conditions: dict[str, Any] = fields.JSONField(default=dict)
    actions: list[dict[str, Any]] = fields.JSONField(default=list)
    enabled = fields.BooleanField(default=True)
    position = fields.IntField(default=0)
    fired = fields.IntField(default=0)
    last_fired_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "rules"


class StaffNotification(Model):
    """A notification posted in a staff chat, so a reply to it finds its conversation."""

    id = fields.IntField(primary_key=True)
    channel_account: fields.ForeignKeyRelation[ChannelAccount] = fields.ForeignKeyField(
        "models.ChannelAccount", related_name="staff_notifications", on_delete=fields.CASCADE)
    chat_id = fields.CharField(max_length=64)
    external_id = fields.CharField(max_length=64)  # the posted message's id in that chat
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="staff_notifications", on_delete=fields.CASCADE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff_notifications"
        unique_together = (("channel_account", "chat_id", "external_id"),)


class ChatFlow(Model):
    """A step-by-step exchange a staff member is in with the bot (the interactive /post):
    which step, and what was said so far. Kept in the database so any server process
    can take the next message, and a restart does not lose a half-written post."""

    id = fields.IntField(primary_key=True)
    channel_account: fields.ForeignKeyRelation[ChannelAccount] = fields.ForeignKeyField(
        "models.ChannelAccount", related_name="chat_flows", on_delete=fields.CASCADE)
    chat_id = fields.CharField(max_length=64)
    user_external_id = fields.CharField(max_length=64)
    flow = fields.CharField(max_length=32)
    step = fields.CharField(max_length=32)
    data: Any = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "chat_flows"
        unique_together = (("channel_account", "chat_id", "user_external_id"),)


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
    (validated by ``scheduler.drips.Steps``)."""

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
    """A named set of contacts by rules (``scheduler.segments.Rules``), counted live."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120, unique=True)
    rules: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "segments"


class Broadcast(Model):
    """One mail to a segment, optionally with an A/B subject test: ``split_percent`` of
    the segment gets subject A or B (half each), and after ``decide_after_hours`` the
    subject with more opens (or clicks) goes to the rest. Due work like posts."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    segment: fields.ForeignKeyRelation[Segment] = fields.ForeignKeyField(
        "models.Segment", related_name="broadcasts", on_delete=fields.RESTRICT)
    subject_a = fields.CharField(max_length=300)
    subject_b = fields.CharField(max_length=300, default="")
    body = fields.TextField()
    split_percent = fields.IntField(default=0)
    metric = fields.CharField(max_length=8, default="opens")  # opens or clicks
    decide_after_hours = fields.FloatField(default=4)
    state = fields.CharField(max_length=16, default="scheduled")  # scheduled, testing, sent
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
        indexes = (Index(fields=("contact_id", "clicked_at"), name="mail_contact_click"),)


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
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "post_events"


__all__ = [
    "Broadcast", "CannedReply", "ChannelAccount", "ChatFlow", "Enrollment", "MailSend",
    "Segment", "Sequence",
    "ShopEvent", "Contact", "Conversation", "ConversationStatus",
    "CsatRating", "DeliveryStatus", "Direction", "FaqEntry", "Identity", "Label", "Message",
    "Note", "NoteRevision", "Post", "PostEvent", "PostStatus", "PostVariant", "Role", "Rule",
    "Session", "StaffNotification", "User",
]


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


class StaffAlert(Model):
    """An alert for staff (a negative spike, a review near its deadline): shown in the
    web inbox, and sent to the staff chat or by e-mail when configured."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=16)  # spike, review
    key = fields.CharField(max_length=120, unique=True)  # one alert per spike / review
    title = fields.CharField(max_length=300)
    text = fields.TextField(default="")
    link = fields.CharField(max_length=500, default="")
    data: dict[str, Any] = fields.JSONField(default=dict)
    sent_to: list[str] = fields.JSONField(default=list)
    ended_at = fields.DatetimeField(null=True)  # a spike's end
    read_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff_alerts"
