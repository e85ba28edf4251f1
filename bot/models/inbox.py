"""The shared inbox: conversations, messages, notes, canned replies, ratings.

Tables are shaped for the hot paths: ingest looks messages up by
``(channel_account, external_id)`` and identities by ``(channel_account, external_id)``;
the inbox list reads conversations by ``(status, channel_kind, last_message_at)``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from bot.models.contacts import ChannelAccount, Contact
from bot.models.users import User


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
    error_i18n: Any = fields.JSONField(null=True)  # as data a page translates (bot.core.said)
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
            # The dashboard's "who waits longest": per open conversation, the last answer
            # by a person and the first question after it, from the index alone.
            Index(fields=("conversation_id", "direction", "id", "sender_id", "created_at"),
                  name="msg_conv_dir"),
        )


class MessageAttachment(Model):
    """A file a customer sent with a message, kept on disk under
    ``<data_dir>/attachments`` by its SHA-256 (:mod:`bot.core.attachments`); this row says
    which message it came with and what it was called. Written in the message's own
    transaction, so a message is never stored without its files or the other way round."""

    id = fields.IntField(primary_key=True)
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="files", on_delete=fields.CASCADE)
    file_name = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=127)
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "message_attachments"


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
    # Deleted notes leave the thread but are kept, with their history, on /notes/{id}.
    deleted_at = fields.DatetimeField(null=True)
    deleted_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notes_deleted", null=True, on_delete=fields.SET_NULL)
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
    # What the customer wrote right after rating (the bot keeps it as the comment).
    comment = fields.TextField(default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "csat_ratings"


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



class SavedView(Model):
    """A staff member's named inbox filters (the list's query string), listed in the inbox."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="saved_views", on_delete=fields.CASCADE)
    name = fields.CharField(max_length=80)
    query = fields.CharField(max_length=1000)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "saved_views"
        unique_together = (("user", "name"),)
