"""Request and response models of the REST API (they also generate the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from bot.core.http import MAX_PAGE, Strict
from bot.models import ConversationStatus, Role

Text = Annotated[str, Field(min_length=1, max_length=20000)]
Name = Annotated[str, Field(max_length=200)]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
class ConversationQuery(BaseModel):
    status: ConversationStatus | Literal["all"] = ConversationStatus.OPEN
    channel: Annotated[str, Field(max_length=32)] | None = None
    account_id: int | None = None
    assignee: Annotated[str, Field(pattern=r"^(me|none|[0-9]{1,18})$")] | None = None
    label: Annotated[str, Field(max_length=64)] | None = None
    q: Annotated[str, Field(max_length=200)] | None = None
    page: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 1
    per_page: Annotated[int, Field(ge=1, le=200)] = 25


class PageQuery(BaseModel):
    q: Annotated[str, Field(max_length=200)] | None = None
    page: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 1
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
    text: Text | None = None
    canned_reply_id: int | None = Field(None, description="Render this canned reply instead.")
    reply_to_message_id: int | None = Field(
        None, description="Public conversations: the comment to answer in its thread "
                          "(default: the latest one).")


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
    telegram_user_id: Annotated[int, Field(gt=0)] | None = Field(
        None, description="Link the user's Telegram account: staff chat commands and "
                          "replies are accepted only from linked ids.")


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    telegram_user_id: int | None = None
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


class ChannelPatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    callback_url: Annotated[str, Field(max_length=500, pattern=r"^(https?://\S+)?$")] | None = None
    settings: dict[str, Any] | None = Field(
        None, description="Merged into the stored settings; null removes a key; a masked "
                          "secret sent back unchanged keeps the stored one. Telegram: token, "
                          "api_base_url, mode, staff_chat_id, staff_notify (all, unassigned, "
                          "needs_human, off), bot (true/false).")
    enabled: bool | None = None


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


Locale = Literal["en", "vi", "th", "pl", "ru", "km"]


class FaqIn(Strict):
    locale: Locale
    question: Annotated[str, Field(min_length=1, max_length=300)]
    variants: list[Annotated[str, Field(max_length=300)]] = Field(
        default_factory=list, description="Other ways people ask the same thing.")
    answer: Annotated[str, Field(min_length=1, max_length=4000)]
    in_menu: bool = Field(False, description="Offer it as a button with the greeting.")
    position: int = 0


class FaqPatch(Strict):
    locale: Locale | None = None
    question: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    variants: list[Annotated[str, Field(max_length=300)]] | None = None
    answer: Annotated[str, Field(min_length=1, max_length=4000)] | None = None
    in_menu: bool | None = None
    position: int | None = None


class FaqOut(BaseModel):
    id: int
    locale: str
    question: str
    variants: list[str]
    answer: str
    in_menu: bool
    position: int
    updated_at: datetime


class FaqQuery(BaseModel):
    q: Annotated[str, Field(min_length=1, max_length=1000)]
    locale: Annotated[str, Field(max_length=16)] = "en"


class FaqMatch(BaseModel):
    entry: FaqOut | None = Field(description="The answer the bot would give, or null.")


class RuleIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    event: Literal["message_received", "conversation_created", "conversation_resolved",
                   "message_scored"] = Field(description=(
                       "message_scored: after the sentiment model has read an inbound "
                       "message (for the sentiment condition)"))
    conditions: dict[str, Any] = Field(
        default_factory=dict,
        description="All given must hold: channels [kinds], public (bool), keywords [words], "
                    "regex, languages [codes], labels [names], attributes {key: value}, "
                    "time_of_day {from: HH:MM, to: HH:MM} in the shop's timezone, "
                    "sentiment [negative|neutral|positive].")
    actions: list[dict[str, Any]] = Field(
        description="In order: {type: assign, to: user id | round_robin}, {type: add_label, "
                    "label}, {type: reply, template}, {type: reply_private, template}, "
                    "{type: notify, template}, {type: resolve}. Templates are jinja2 with "
                    "contact, message and conversation.")
    enabled: bool = True
    position: int = 0


class RulePatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    event: Literal["message_received", "conversation_created", "conversation_resolved",
                   "message_scored"] | None = None
    conditions: dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = None
    enabled: bool | None = None
    position: int | None = None


class RuleOut(BaseModel):
    id: int
    name: str
    event: str
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    enabled: bool
    position: int
    fired: int
    last_fired_at: datetime | None
