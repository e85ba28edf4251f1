"""The models of the canned replies, FAQ and automation rules API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from bot.api.schemas.common import Name, Text
from bot.core.http import Strict, omissible
from bot.services.rule_spec import Action, Conditions


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
    locale: Locale = omissible()
    question: Annotated[str, Field(min_length=1, max_length=300)] = omissible()
    variants: list[Annotated[str, Field(max_length=300)]] = omissible()
    answer: Annotated[str, Field(min_length=1, max_length=4000)] = omissible()
    in_menu: bool = omissible()
    position: int = omissible()


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
    conditions: Conditions = Field(
        default_factory=lambda: Conditions.model_validate({}),
        description="All given must hold (each is optional); time_of_day is in the shop's "
                    "timezone.")
    actions: list[Action] = Field(
        min_length=1, description="In order. Templates are jinja2 with contact, message and "
                                  "conversation.")
    enabled: bool = True
    position: int = 0


class RulePatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)] = omissible()
    event: Literal["message_received", "conversation_created", "conversation_resolved",
                   "message_scored"] = omissible()
    conditions: Conditions = omissible()
    actions: list[Action] = omissible(min_length=1)
    enabled: bool = omissible()
    position: int = omissible()


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
