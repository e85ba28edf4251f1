"""The contacts API's models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from bot.api.schemas.common import Email, Name
from bot.core.auth import Perm
from bot.core.fields import requires
from bot.core.http import MAX_PAGE, Strict, omissible


class PageQuery(BaseModel):
    q: Annotated[str, Field(max_length=200)] | None = None
    page: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 1
    per_page: Annotated[int, Field(ge=1, le=500)] = 50


class ContactIn(Strict):
    name: Name = ""
    email: Email | None = None
    phone: Annotated[str, Field(max_length=64)] | None = None
    locale: Annotated[str, Field(max_length=16)] | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    tags: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list)


class ContactPatch(Strict):
    """Fields left out stay as they are; e-mail, phone and locale may be cleared with null."""

    name: Name = omissible()
    email: Email | None = None
    phone: Annotated[str, Field(max_length=64)] | None = None
    locale: Annotated[str, Field(max_length=16)] | None = None
    attributes: dict[str, Any] = omissible()
    tags: list[Annotated[str, Field(max_length=64)]] = omissible()


class IdentityOut(BaseModel):
    channel_account_id: int
    channel: str
    account_name: str
    external_id: str


class ConversationBrief(BaseModel):
    id: int
    status: str
    channel: str
    last_message_at: datetime | None
    preview: str | None


class ContactOut(BaseModel):
    id: int
    name: str
    email: str | None
    phone: str | None
    locale: str | None
    attributes: dict[str, Any]
    tags: list[str]
    created_at: datetime
    identities: list[IdentityOut] = Field(default_factory=list)
    conversations: list[ConversationBrief] = Field(
        default_factory=list, json_schema_extra=requires(Perm.INBOX_READ))


class ContactPage(BaseModel):
    items: list[ContactOut]
    total: int
    page: int
    per_page: int


class MergeIn(Strict):
    merge_id: int = Field(description="The contact folded into this one, then deleted.")
