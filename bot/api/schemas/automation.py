"""The models of the canned replies, FAQ and automation rules API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from bot.api.schemas.common import Name, Text
from bot.core.http import Strict


class CannedIn(Strict):
    shortcut: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w-]+$")]
    title: Name = ""
    body: Text


class CannedOut(BaseModel):
    id: int
    shortcut: str
    title: str
    body: str


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
