"""Alerts for staff, shown in the web inbox and sent where configured."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


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
        indexes = (Index(fields=("kind", "created_at"), name="alert_kind_time"),)

