"""What a rule is: its event, conditions and actions as pydantic models (checked on the way
in, from the API and the web form, and again when a rule is loaded), and whether its
conditions hold for a message. :mod:`bot.services.rules` runs the rules."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError, field_validator

from bot.core import bounded
from bot.core.errors import InboxError
from bot.core.http import Strict
from bot.core.i18n import lazy

EVENTS = ("message_received", "conversation_created", "conversation_resolved",
          "message_scored")
Event = Literal["message_received", "conversation_created", "conversation_resolved",
                "message_scored"]
Template = Annotated[str, Field(min_length=1, max_length=4000)]
_THAI_KHMER = re.compile(r"[\u0e00-\u0e7f\u1780-\u17ff]")


class TimeOfDay(Strict):
    """Between two clock times in the shop's timezone; ``from`` after ``to`` spans midnight."""

    from_: Annotated[str, Field(alias="from", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    to: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]

    def holds(self, local: time) -> bool:
        a, b = time.fromisoformat(self.from_), time.fromisoformat(self.to)
        return a <= local < b if a <= b else (local >= a or local < b)


class Conditions(Strict):
    """Every condition given must hold; an empty set always holds."""

    channels: list[str] | None = Field(None, description="channel kinds, any of")
    public: bool | None = Field(None, description="true: public comments only; false: "
                                "private messages only")
    keywords: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, description="any of these words in the text (case-insensitive)")
    regex: Annotated[str, Field(max_length=300)] | None = Field(
        None, description="a Python regular expression the text must match")
    languages: list[str] | None = Field(None, description="contact language, any of")
    labels: list[str] | None = Field(None, description="the conversation has any of these")
    attributes: dict[str, str] | None = Field(None, description="contact attributes equal")
    time_of_day: TimeOfDay | None = None
    sentiment: list[Literal["negative", "neutral", "positive"]] | None = Field(
        None, description="the message's sentiment, any of (event message_scored: fired "
                          "once the model has read the message)")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            bounded.check_pattern(value)  # a ValueError: 400 naming conditions.regex
        return value


class Assign(Strict):
    type: Literal["assign"]
    to: int | Literal["round_robin"]


class AddLabel(Strict):
    type: Literal["add_label"]
    label: Annotated[str, Field(min_length=1, max_length=64)]


class Reply(Strict):
    """Answer in the conversation (in a public thread: as a reply to the comment)."""

    type: Literal["reply"]
    template: Template


class ReplyPrivate(Strict):
    """Answer a public comment's author in a private conversation."""

    type: Literal["reply_private"]
    template: Template


class Notify(Strict):
    """Post to the staff chat."""

    type: Literal["notify"]
    template: Template


class Resolve(Strict):
    type: Literal["resolve"]


Action = Annotated[Assign | AddLabel | Reply | ReplyPrivate | Notify | Resolve,
                   Field(discriminator="type")]
_actions = TypeAdapter(list[Action])


def validate(conditions: dict[str, Any], actions: list[dict[str, Any]]
             ) -> tuple[Conditions, list[Action]]:
    """Parse a rule's parts; raise InboxError naming the first problem."""
    try:
        conds = Conditions.model_validate(conditions)
    except ValidationError as exc:
        raise _problem("conditions", exc) from None
    try:
        acts = _actions.validate_python(actions)
    except ValidationError as exc:
        raise _problem("actions", exc) from None
    if not acts:
        raise InboxError(lazy("a rule needs at least one action"), "invalid_rule", "actions")
    return conds, acts  # templates are checked when saved (save_rule)


def _problem(part: str, exc: ValidationError) -> InboxError:
    err = exc.errors()[0]
    where = ".".join([part, *(str(p) for p in err["loc"])])
    return InboxError(f"{where}: {err['msg']}", "invalid_rule", part)


def _has_keyword(text: str, words: list[str]) -> bool:
    folded = text.casefold()
    for w in words:
        k = w.casefold()
        if _THAI_KHMER.search(k):  # no spaces between words: containment is all we have
            if k in folded:
                return True
        elif re.search(rf"(?<!\w){re.escape(k)}(?!\w)", folded):
            return True
    return False


def _lang(locale: str | None) -> str:
    """The language part of a locale tag ("uk-UA" -> "uk"); any language, not only the
    ones the bot speaks."""
    return (locale or "").replace("_", "-").split("-", 1)[0].lower()


def holds(c: Conditions, *, kind: str, public: bool, text: str | None, locale: str | None,
          labels: set[str], attributes: dict[str, Any], local_time: time,
          sentiment: str | None = None, matches: Collection[str] | None = None) -> bool:
    """Whether every given condition holds for these facts (no I/O). ``matches`` are the
    regular expressions found in ``text`` (:func:`bot.core.bounded.search_all_async`, run
    beforehand off the loop); None skips the regex condition (it is not known yet)."""
    checks = [
        c.channels is None or kind in c.channels,
        c.public is None or c.public == public,
        c.keywords is None or (text is not None and _has_keyword(text, c.keywords)),
        c.regex is None or matches is None or (text is not None and c.regex in matches),
        c.languages is None or _lang(locale) in {_lang(x) for x in c.languages},
        c.labels is None or bool(labels & set(c.labels)),
        c.attributes is None or all(str(attributes.get(k)) == v
                                    for k, v in c.attributes.items()),
        c.time_of_day is None or c.time_of_day.holds(local_time),
        c.sentiment is None or sentiment in c.sentiment,
    ]
    return all(checks)
