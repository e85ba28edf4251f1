"""Work that must survive a crash and run in one process at a time.

* :class:`Followup`: the transactional outbox. The ingest transaction (and the others that
  start automation) records here what must follow: rules, the customer bot's turn, staff
  notifications, listening. Workers in any process claim rows with the core's lease/claim
  (``SKIP LOCKED`` on PostgreSQL), run them, and delete them; a conversation's rows run in
  id order, one at a time.
* :class:`Lease`: a named lease ("this process runs the Telegram loop of account 3") held
  by one process and renewed while it lives; another takes it over once it expires.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Followup(Model):
    """One piece of automation owed to an event (kind ``received``, ``scored``,
    ``resolved``, ``handoff``), deleted once it ran."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=32)
    conversation_id = fields.IntField()
    message_id = fields.IntField(null=True)
    payload: dict[str, Any] = fields.JSONField(default=dict)
    due_at = fields.DatetimeField(db_index=True)
    lease_until = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    error = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "followups"
        # the claim's "no earlier pending row of this conversation" is a range probe
        indexes = (("conversation_id", "id"),)


class Lease(Model):
    """A named lease: ``holder`` runs the work named ``name`` until ``until``, renewing
    it; once it lapses (the holder died) any process may take it."""

    name = fields.CharField(max_length=200, primary_key=True)
    holder = fields.CharField(max_length=100)
    until = fields.DatetimeField()
    acquired_at = fields.DatetimeField()

    class Meta:
        table = "leases"
