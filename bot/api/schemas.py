"""Request and response models of the REST API (they also generate the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.models import ConversationStatus, Role

Text = Annotated[str, Field(min_length=1, max_length=20000)]
Name = Annotated[str, Field(max_length=200)]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationQuery(BaseModel):
    status: ConversationStatus | Literal["all"] = ConversationStatus.OPEN
    channel: Annotated[str, Field(max_length=32)] | None = None
    account_id: int | None = None
    assignee: Annotated[str, Field(pattern=r"^(me|none|\d+)$")] | None = None
    label: Annotated[str, Field(max_length=64)] | None = None
    q: Annotated[str, Field(max_length=200)] | None = None
    page: Annotated[int, Field(ge=1)] = 1
    per_page: Annotated[int, Field(ge=1, le=200)] = 25


class PageQuery(BaseModel):
    q: Annotated[str, Field(max_length=200)] | None = None
    page: Annotated[int, Field(ge=1)] = 1
    per_page: Annotated[int, Field(ge=1, le=500)] = 50


class ContactRef(BaseModel):
    id: int
    name: str
    email: str | None


class ConversationBase(BaseModel):
    id: int
    status: ConversationStatus
    channel: str
    channel_account_id: int
    contact: ContactRef
    assignee_id: int | None
    unread_count: int
    snoozed_until: datetime | None
    thread_id: str | None
    labels: list[str]


class ConversationSummary(ConversationBase):
    last_message_at: datetime
    preview: str


class ConversationPage(BaseModel):
    items: list[ConversationSummary]
    counts: dict[str, int] = Field(description="Conversations per status for these filters.")
    page: int
    per_page: int
    unread_on_page: int
    inbox_zero: bool = Field(description="True when nothing is open: Inbox Zero.")


class ThreadItem(BaseModel):
    type: Literal["message", "note"]
    id: int
    text: str
    created_at: datetime
    direction: Literal["in", "out"] | None = None
    status: str | None = Field(None, description="received, pending, retrying, sent, failed")
    error: str | None = None
    attempts: int | None = None
    edits: int | None = Field(None, description="Notes: how many times it was edited.")
    attachments: list[dict[str, Any]] | None = Field(
        None, description="Messages: file metadata; GET /api/v1/messages/{id}/attachments/{n} "
                          "fetches the file from the channel.")
    history: list[dict[str, Any]] | None = Field(
        None, description="Messages: earlier texts the customer edited away, oldest first.")


class ConversationDetail(ConversationBase):
    thread: list[ThreadItem]


class ReplyIn(Strict):
    text: Text | None = None
    canned_reply_id: int | None = Field(None, description="Render this canned reply instead.")


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    direction: Literal["in", "out"]
    text: str
    status: str
    error: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None


class NoteIn(Strict):
    text: Text


class NoteOut(BaseModel):
    id: int
    conversation_id: int
    text: str
    author_id: int | None
    created_at: datetime
    updated_at: datetime
    revisions: list[dict[str, Any]] = Field(default_factory=list,
                                            description="Earlier texts, oldest first.")


class AssignIn(Strict):
    assignee: int | Literal["me", "round_robin"] | None = Field(
        description="A user id, 'me', 'round_robin', or null to unassign.")


class AssignOut(BaseModel):
    conversation_id: int
    assignee_id: int | None


class LabelsIn(Strict):
    labels: list[Annotated[str, Field(min_length=1, max_length=64)]]


class LabelsOut(BaseModel):
    conversation_id: int
    labels: list[str]


class StatusIn(Strict):
    status: ConversationStatus
    snoozed_until: datetime | None = Field(None, description="Required when snoozing.")


class StatusOut(BaseModel):
    conversation_id: int
    status: ConversationStatus
    snoozed_until: datetime | None


class ContactIn(Strict):
    name: Name = ""
    email: Email | None = None
    phone: Annotated[str, Field(max_length=64)] | None = None
    locale: Annotated[str, Field(max_length=16)] | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    tags: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list)


class ContactPatch(Strict):
    name: Name | None = None
    email: Email | None = None
    phone: Annotated[str, Field(max_length=64)] | None = None
    locale: Annotated[str, Field(max_length=16)] | None = None
    attributes: dict[str, Any] | None = None
    tags: list[Annotated[str, Field(max_length=64)]] | None = None


class IdentityOut(BaseModel):
    channel_account_id: int
    channel: str
    account_name: str
    external_id: str


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
    conversations: list[dict[str, Any]] = Field(default_factory=list)


class ContactPage(BaseModel):
    items: list[ContactOut]
    total: int
    page: int
    per_page: int


class MergeIn(Strict):
    merge_id: int = Field(description="The contact folded into this one, then deleted.")


class UserIn(Strict):
    email: Email
    role: Role
    name: Name = ""
    password: Annotated[str, Field(min_length=8, max_length=200)] | None = None


class UserPatch(Strict):
    name: Name | None = None
    role: Role | None = None
    is_active: bool | None = None


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    created_at: datetime


class UserCreated(UserOut):
    password: str = Field(description="Shown once.")
    api_token: str = Field(description="Shown once.")


class ChannelIn(Strict):
    kind: Annotated[str, Field(max_length=32)]
    name: Annotated[str, Field(min_length=1, max_length=120)]
    callback_url: Annotated[str, Field(max_length=500, pattern=r"^(https?://\S+)?$")] = ""
    settings: dict[str, Any] = Field(default_factory=dict)


class ChannelOut(BaseModel):
    id: int
    kind: str
    name: str
    callback_url: str
    settings: dict[str, Any]
    enabled: bool
    created_at: datetime


class ChannelCreated(ChannelOut):
    secret: str = Field(description="Signs inbound bodies and callbacks. Shown once.")


class CannedIn(Strict):
    shortcut: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w-]+$")]
    title: Name = ""
    body: Text


class CannedOut(BaseModel):
    id: int
    shortcut: str
    title: str
    body: str


class LabelOut(BaseModel):
    id: int
    name: str
    color: str


class Deleted(BaseModel):
    deleted: bool
