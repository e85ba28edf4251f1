"""The API channel's wire format: the inbound body and the outbound callback payload."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core.channel import ContactInfo, InboundMessage, OutboundMessage

Id = Annotated[str, Field(min_length=1, max_length=255)]


class InboundContact(BaseModel):
    model_config = ConfigDict(extra="ignore")

    external_id: Id
    name: Annotated[str, Field(max_length=200)] | None = None
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    phone: Annotated[str, Field(max_length=64)] | None = None
    locale: Annotated[str, Field(max_length=16)] | None = None


class InboundBody(BaseModel):
    """A message from another system, for ``POST /api/v1/inbound/{account_id}``."""

    model_config = ConfigDict(extra="ignore")

    external_id: Id = Field(description="Your id for this message; resending it is harmless.")
    contact: InboundContact
    text: Annotated[str, Field(min_length=1, max_length=20000)]
    sent_at: datetime | None = Field(default=None, description="ISO 8601; UTC if no offset.")
    thread_id: Annotated[str, Field(max_length=255)] | None = None

    @field_validator("sent_at", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> Any:
        if value is None or isinstance(value, datetime):
            return value
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 date-time string")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                "must be an ISO 8601 date-time, e.g. 2026-11-21T10:00:00Z") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def to_inbound(self, account_id: int) -> InboundMessage:
        c = self.contact
        return InboundMessage(
            channel_account_id=account_id, external_id=self.external_id,
            contact=ContactInfo(c.external_id, c.name, c.email, c.phone, c.locale),
            text=self.text, sent_at=self.sent_at, thread_id=self.thread_id)


class InboundAccepted(BaseModel):
    id: int = Field(description="The stored message id.")
    conversation_id: int
    duplicate: bool = Field(description="True when this external_id was already stored.")


def callback_payload(msg: OutboundMessage) -> dict[str, Any]:
    """What a staff reply looks like when POSTed to the account's callback URL."""
    return {
        "event": "message.created",
        "message_id": msg.message_id,
        "conversation_id": msg.conversation_id,
        "thread_id": msg.thread_id,
        "contact": {"external_id": msg.contact_external_id},
        "text": msg.text,
        "created_at": msg.created_at.isoformat(),
    }
