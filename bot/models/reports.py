"""Reports: the inbox's activity log (written with each change it records) and the
roll-ups the reports read (recomputed from the raw rows by
:mod:`bot.services.reports.inbox_facts`, never edited by hand).

Times in the roll-ups are whole seconds since the epoch (UTC), the same integers on
SQLite and PostgreSQL, so range filters and durations are plain integer arithmetic."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class ConversationEvent(Model):
    """What happened to a conversation that its row forgets: ``resolved``, ``reopened``
    (by the customer writing again, ``actor`` null, or by staff), ``handoff`` (the
    customer asked the bot for a person). Written in the same transaction as the change."""

    id = fields.BigIntField(primary_key=True)
    conversation_id = fields.IntField()
    kind = fields.CharField(max_length=16)
    actor_id = fields.IntField(null=True)  # the staff member, null: the customer or the bot
    at = fields.DatetimeField()

    class Meta:
        table = "conversation_events"
        indexes = (Index(fields=("conversation_id", "id"), name="conv_event_conv"),)


class FaqMiss(Model):
    """A customer's question the bot could not match to an FAQ entry."""

    id = fields.IntField(primary_key=True)
    conversation_id = fields.IntField()
    message_id = fields.IntField(unique=True)  # a turn run twice records it once
    question = fields.CharField(max_length=300)
    normalized = fields.CharField(max_length=300)  # what the report groups by
    created_at = fields.DatetimeField()

    class Meta:
        table = "faq_misses"
        indexes = (Index(fields=("created_at",), name="faq_miss_at"),)


class ConversationFact(Model):
    """One row per conversation: what the inbox reports count (see the definitions in
    :mod:`bot.services.reports.inbox_facts`)."""

    conversation_id = fields.IntField(primary_key=True, generated=False)
    account_id = fields.IntField()
    channel_kind = fields.CharField(max_length=32)
    agent_id = fields.IntField(null=True)  # who sent the first person's reply
    opened_at = fields.BigIntField()
    day = fields.CharField(max_length=10)  # opened_at's local day, YYYY-MM-DD
    weekday = fields.SmallIntField()  # 0 = Monday, local
    hour = fields.SmallIntField()  # local
    first_response_at = fields.BigIntField(null=True)
    frt_cal = fields.IntField(null=True)
    frt_biz = fields.IntField(null=True)
    resolved_at = fields.BigIntField(null=True)
    res_cal = fields.IntField(null=True)
    res_biz = fields.IntField(null=True)
    reopens = fields.IntField(default=0)
    msgs_in = fields.IntField(default=0)
    msgs_out = fields.IntField(default=0)
    human_out = fields.IntField(default=0)
    bot_out = fields.IntField(default=0)
    handed_off = fields.SmallIntField(default=0)
    bot_only = fields.SmallIntField(default=0)
    csat_asked = fields.IntField(default=0)
    csat_n = fields.IntField(default=0)
    csat_sum = fields.IntField(default=0)
    csat_1 = fields.IntField(default=0)
    csat_2 = fields.IntField(default=0)
    csat_3 = fields.IntField(default=0)
    csat_4 = fields.IntField(default=0)
    csat_5 = fields.IntField(default=0)

    class Meta:
        table = "report_conversations"
        # the range scans read this covering index alone (no table lookups): every column
        # the overview, response-time, SLA and agent reports need
        indexes = (
            Index(fields=("opened_at", "day", "channel_kind", "agent_id", "weekday", "hour",
                          "frt_biz", "frt_cal", "res_biz", "res_cal", "reopens", "msgs_in",
                          "msgs_out", "csat_n", "csat_sum"), name="rep_conv_cover"),
            # and this one the CSAT and bot reports' sums (a table lookup a row cost 6x)
            Index(fields=("opened_at", "channel_kind", "account_id", "agent_id", "bot_out",
                          "bot_only", "handed_off", "csat_asked", "csat_n", "csat_sum",
                          "csat_1", "csat_2", "csat_3", "csat_4", "csat_5"),
                  name="rep_conv_people"),
            Index(fields=("channel_kind", "opened_at"), name="rep_conv_kind"),
            Index(fields=("agent_id", "opened_at"), name="rep_conv_agent"),
            Index(fields=("account_id", "opened_at"), name="rep_conv_account"),
        )


class AgentFact(Model):
    """One row per conversation and staff member who replied in it."""

    id = fields.IntField(primary_key=True)
    conversation_id = fields.IntField()
    agent_id = fields.IntField()
    # the conversation's, copied so the reports filter without a join
    account_id = fields.IntField()
    channel_kind = fields.CharField(max_length=32)
    opened_at = fields.BigIntField()
    replies = fields.IntField()

    class Meta:
        table = "report_conversation_agents"
        unique_together = (("conversation_id", "agent_id"),)
        indexes = (Index(fields=("opened_at", "agent_id", "replies"), name="rep_agent_cover"),)


class ReportState(Model):
    """The roll-ups' watermarks (last message, event and rating id seen) and the
    settings they were computed with."""

    key = fields.CharField(max_length=32, primary_key=True)
    value = fields.BigIntField(default=0)
    text = fields.CharField(max_length=500, default="")

    class Meta:
        table = "report_state"
