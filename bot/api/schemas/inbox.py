"""The inbox API's models: conversations, messages, notes, labels."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.api.schemas.common import Text
from bot.core.http import MAX_PAGE, Strict
from bot.models import ConversationStatus


class ConversationQuery(BaseModel):
    status: ConversationStatus | Literal["all"] = ConversationStatus.OPEN
    channel: Annotated[str, Field(max_length=32)] | None = None
    account_id: int | None = None
    assignee: Annotated[str, Field(pattern=r"^(me|none|[0-9]{1,18})$")] | None = None
    label: Annotated[str, Field(max_length=64)] | None = None
    q: Annotated[str, Field(max_length=200)] | None = None
    page: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 1
    per_page: Annotated[int, Field(ge=1, le=200)] = 25


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
    author_id: int | None = Field(None, description="Public comments: the contact who wrote "
                                  "it (the conversation's contact is the group or page).")
    author__name: str | None = None
    payload: str | None = Field(None, description="Inbound: the button the customer pressed.")
    buttons: list[dict[str, str]] | None = Field(
        None, description="Outbound: quick replies offered with it.")
    origin: str | None = Field(None, description="Outbound not typed in the inbox: bot, "
                               "rule, telegram (a staff reply from the staff chat).")
    reply_to_id: int | None = Field(None, description="Outbound: the comment it answers.")


class Rating(BaseModel):
    rating: int = Field(ge=1, le=5)
    created_at: datetime


class ConversationDetail(ConversationBase):
    needs_human: bool = Field(description="The customer asked for a person; the bot is "
                              "silent until the conversation is resolved.")
    public: bool = Field(description="A group or post thread of public comments.")
    ratings: list[Rating] = Field(description="CSAT ratings, newest first.")
    thread: list[ThreadItem]


class ReplyIn(Strict):
    """Give text, or a canned reply to render (or both: the text wins)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": [f], "properties": {f: {"not": {"type": "null"}}}}
        for f in ("text", "canned_reply_id")]})

    text: Text | None = None
    canned_reply_id: int | None = Field(None, description="Render this canned reply instead.")
    reply_to_message_id: int | None = Field(
        None, description="Public conversations: the comment to answer in its thread "
                          "(default: the latest one).")
    idempotency_key: str | None = Field(
        None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="A key the client makes per reply: the same key again (a retry after a "
                    "lost answer, through any process) returns the reply already stored and "
                    "sends nothing; with another text or conversation it is refused (409 "
                    "idempotency_conflict).")


class PrivateReplyIn(Strict):
    text: Text


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
    deleted_at: datetime | None = Field(
        default=None, description="When it was deleted (it left the thread and is kept "
        "as a record); null while it is not.")
    deleted_by_id: int | None = Field(
        default=None, description="Who deleted it (null while it is not deleted, or when "
        "that user is gone).")
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


class LabelOut(BaseModel):
    id: int
    name: str
    color: str


class LabelIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$", description="#rrggbb")]
