"""Channel accounts, the contacts who write to them, and who a contact is on each."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class ChannelAccount(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=32, db_index=True)
    name = fields.CharField(max_length=120)
    # HMAC key for inbound signatures and signed callbacks, encrypted at rest (it must be
    # usable, so it is encrypted, not hashed); it never leaves the server except once, when
    # the account is created.
    secret = fields.CharField(max_length=512)
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

