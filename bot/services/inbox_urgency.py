"""The inbox list's page of rows: each with its latest sentiment and how long the customer
has waited for a person, in the newest-activity order or "most urgent first".

Both come from correlated subqueries in the list's one query (no query per row):

* **sentiment**: the label of the newest inbound message the listening pipeline scored
  (``sentiment_scores``, the newest model's score; a staff correction in
  ``sentiment_corrections`` before it). One probe of ``msg_conv_dir`` ``(conversation_id,
  direction, id, …)`` walked newest first, each message looked up by the scores' unique
  ``(item_kind, item_id, model_version)`` index.
* **waiting since**: for an open conversation, when the first inbound message after the
  last answer by a person came in (a person's answer: an outbound message with a sender,
  not the bot's nor a rule's), as the dashboard's "waiting longest" reads it: two
  index-only probes of ``msg_conv_dir``. None when nobody waits (the conversation is not
  open, or a person answered the last message).

**Most urgent first** (``sort=urgent``): the urgency is the seconds the customer has
waited, times :data:`NEGATIVE_WEIGHT` when the conversation's sentiment is negative (so a
negative customer waiting 20 minutes comes before a neutral one waiting an hour, and after
a neutral one waiting two). Highest urgency first; ties by the longest waiting, then the
newest activity. Conversations nobody waits on come after every waiting one, newest activity
first. The newest-activity order (the default) runs the subqueries for the page's rows
only; the urgent order runs them once per conversation that passes the filters (the
cost grows with the open conversations, not with the messages).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.expressions import RawSQL
from tortoise.queryset import QuerySet

from bot.models import Conversation

SORTS = ("recent", "urgent")
NEGATIVE_WEIGHT = 4

_CONV = '"conversations"."id"'

# Walks the conversation's inbound messages newest first (so the scores are looked up per
# message, never scanned by kind) down to the first one with a score.
SENTIMENT = f"""(SELECT COALESCE(
    (SELECT sc.label FROM sentiment_corrections sc
      WHERE sc.item_kind = 'message' AND sc.item_id = m.id),
    (SELECT s.label FROM sentiment_scores s WHERE s.item_kind = 'message'
      AND s.item_id = m.id ORDER BY s.id DESC LIMIT 1))
  FROM messages m WHERE m.conversation_id = {_CONV} AND m.direction = 'in'
    AND EXISTS (SELECT 1 FROM sentiment_scores e
                WHERE e.item_kind = 'message' AND e.item_id = m.id)
  ORDER BY m.id DESC LIMIT 1)"""

WAITING = f"""(CASE WHEN "conversations"."status" = 'open' THEN
  (SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = {_CONV}
     AND m.direction = 'in' AND m.id > COALESCE(
       (SELECT MAX(o.id) FROM messages o WHERE o.conversation_id = {_CONV}
          AND o.direction = 'out' AND o.sender_id IS NOT NULL), 0)) END)"""

FIELDS = ("id", "status", "channel_kind", "channel_account_id", "contact_id", "contact__name",
          "contact__email", "assignee_id", "unread_count", "last_message_at",
          "last_message_preview", "snoozed_until", "thread_key", "needs_human", "is_public",
          "sentiment", "waiting_since")


def _seconds_since(expr: str) -> str:
    """SQL for the seconds from ``expr`` (a stored timestamp) to the database's now."""
    if str(connections.get("default").capabilities.dialect) == "postgres":
        return f"EXTRACT(EPOCH FROM (now() - {expr}))"
    # SQLite keeps UTC timestamps as ISO text (with their offset), which julianday reads
    return f"((julianday('now') - julianday({expr})) * 86400.0)"


def _urgency() -> str:
    return (f"COALESCE({_seconds_since(WAITING)} * CASE WHEN {SENTIMENT} = 'negative' "
            f"THEN {NEGATIVE_WEIGHT} ELSE 1 END, -1)")


def ordered(qs: QuerySet[Conversation], sort: str) -> QuerySet[Conversation]:
    """The filtered conversations with their ``sentiment`` and ``waiting_since``, in
    ``sort`` order (one of :data:`SORTS`)."""
    qs = qs.annotate(sentiment=RawSQL(SENTIMENT), waiting_since=RawSQL(WAITING))
    if sort == "urgent":
        return qs.annotate(urgency=RawSQL(_urgency())).order_by(
            "-urgency", "waiting_since", "-last_message_at", "-id")
    return qs.order_by("-last_message_at", "-id")


async def page_rows(qs: QuerySet[Conversation], sort: str, offset: int,
                    limit: int) -> list[dict[str, Any]]:
    """One page of :func:`ordered` as ``values()`` rows, ``waiting_since`` an aware
    datetime."""
    rows = await ordered(qs, sort).offset(offset).limit(limit).values(*FIELDS)
    for r in rows:
        r["waiting_since"] = _when(r["waiting_since"])
    return rows


def _when(value: Any) -> datetime | None:
    """A timestamp as SQLite (ISO text) or PostgreSQL (a datetime) returns it, in UTC."""
    if value is None:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
