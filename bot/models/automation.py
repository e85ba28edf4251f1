"""The customer bot's knowledge base, automation rules, and staff chat flows."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from bot.models.contacts import ChannelAccount


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

