"""Segments: contacts chosen by rules, for broadcasts and for a live count while a
marketer edits them.

A rule set is ``{"match": "all" | "any", "conditions": [...]}``; a condition is one of

- ``{"tag": "vip"}``: the contact has the tag;
- ``{"attribute": "city", "equals": "Hanoi"}`` (without ``equals``: has it at all);
- ``{"consent": "subscribed"}``: the e-mail consent state;
- ``{"channel": "telegram"}``: has an identity on a channel of that kind;
- ``{"event": "order_placed", "days": 30}``: had that shop event in the last N days;
- ``{"replied": true, "days": 14}``: wrote to the shop (any channel) in the last N days;

and any of them may carry ``"not": true``. Conditions on the contact row are checked in
Python over the contacts that have an e-mail address; the others are one query each,
giving sets of contact ids.

The one way to save, list, count and delete segments is here (the REST API and the pages
alike). A segment that a broadcast still to go out uses cannot be deleted; one that only
sent or cancelled broadcasts used can (they keep their mails and results, and show that
their segment was deleted). Drip sequences start on shop events, not on segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from tortoise.transactions import in_transaction

from bot.core.errors import InboxError, NotFound
from bot.core.http import exactly_one
from bot.core.i18n import _, lazy
from bot.models import Broadcast, Contact, Identity, Message, Segment, ShopEvent
from scheduler.marketing.clock import now
from scheduler.marketing.errors import Conflict, Exists
from scheduler.marketing.sequences import EventKind


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra=exactly_one(
        "tag", "attribute", "consent", "channel", "event", "replied"))
    tag: str | None = Field(None, max_length=64)
    attribute: str | None = Field(None, max_length=64)
    equals: str | None = Field(None, max_length=200)
    consent: Literal["", "pending", "subscribed", "unsubscribed", "bounced"] | None = None
    channel: str | None = Field(None, max_length=32)
    event: EventKind | None = None
    replied: bool | None = None
    days: int = Field(30, ge=1, le=3650)
    negate: bool = Field(False, alias="not")

    @model_validator(mode="after")
    def _one(self) -> Condition:
        kinds = [self.tag, self.attribute, self.consent, self.channel, self.event,
                 self.replied]
        if sum(k is not None for k in kinds) != 1:
            raise ValueError("each condition is exactly one of tag, attribute, consent, "
                             "channel, event, replied")
        return self


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: Literal["all", "any"] = "all"
    conditions: list[Condition] = Field(default_factory=list, max_length=50)


async def _ids(c: Condition, everyone: dict[int, Contact]) -> set[int]:
    """The contacts (among ``everyone``) for which the condition holds, before ``not``."""
    if c.tag is not None:
        return {i for i, p in everyone.items() if c.tag in (p.tags or [])}
    if c.attribute is not None:
        return {i for i, p in everyone.items() if c.attribute in (p.attributes or {})
                and (c.equals is None or str(p.attributes[c.attribute]) == c.equals)}
    if c.consent is not None:
        return {i for i, p in everyone.items() if p.email_consent == c.consent}
    since = now() - timedelta(days=c.days)
    if c.channel is not None:
        rows = await Identity.filter(channel_account__kind=c.channel).values_list(
            "contact_id", flat=True)
    elif c.event is not None:
        rows = await ShopEvent.filter(kind=c.event, occurred_at__gte=since).values_list(
            "contact_id", flat=True)
    else:
        rows = await Message.filter(direction="in", created_at__gte=since).values_list(
            "conversation__contact_id", flat=True)
    return {int(r) for r in rows}  # type: ignore[call-overload]


async def members(rules: Rules) -> list[int]:
    """Ids of the contacts with an e-mail address that the rules choose, in id order."""
    everyone = {p.id: p for p in await Contact.filter(email__isnull=False).exclude(email="")}
    chosen: set[int] | None = None
    for c in rules.conditions:
        hit = await _ids(c, everyone)
        hit = set(everyone) - hit if c.negate else hit & set(everyone)
        if chosen is None:
            chosen = hit
        else:
            chosen = chosen & hit if rules.match == "all" else chosen | hit
    return sorted(set(everyone) if chosen is None else chosen)


# --- the one way to save and list segments ------------------------------------------------------

@dataclass(frozen=True)
class Counted:
    """A saved segment with how many contacts it chooses now."""

    id: int
    name: str
    rules: Rules
    count: int


async def count(rules: Rules) -> int:
    return len(await members(rules))


async def create(name: str, rules: Rules) -> Counted:
    if await Segment.filter(name=name).exists():
        raise Exists(lazy("a segment named %(name)s exists", name=repr(name)), "name")
    row = await Segment.create(name=name, rules=rules.model_dump(by_alias=True))
    return Counted(row.id, row.name, rules, await count(rules))


async def all_counted() -> list[Counted]:
    """Every saved segment, by name, with its current count."""
    out = []
    for row in await Segment.all().order_by("name"):
        rules = Rules.model_validate(row.rules)
        out.append(Counted(row.id, row.name, rules, await count(rules)))
    return out


async def get(segment_id: int) -> Counted:
    row = await Segment.filter(id=segment_id).first()
    if row is None:
        raise NotFound("segment", "segment_id")
    rules = Rules.model_validate(row.rules)
    return Counted(row.id, row.name, rules, await count(rules))


async def update(segment_id: int, name: str, rules: Rules) -> Counted:
    """Rename a segment and change its rules (a name another segment has is refused)."""
    if not name.strip() or len(name) > 120:
        raise InboxError(_("give the segment a name of up to 120 characters"), "invalid",
                         "name")
    if await Segment.filter(name=name).exclude(id=segment_id).exists():
        raise Exists(_("a segment named %(name)s exists", name=repr(name)), "name")
    if not await Segment.filter(id=segment_id).update(
            name=name, rules=rules.model_dump(by_alias=True)):
        raise NotFound("segment", "segment_id")
    return Counted(segment_id, name, rules, await count(rules))


async def delete(segment_id: int) -> None:
    """Delete a segment; Conflict (409) naming them while a broadcast still to go out
    (scheduled, or in its A/B test) uses it. The segment's row is locked first, so a
    broadcast made meanwhile either is seen here or fails to find its segment."""
    async with in_transaction() as conn:
        row = await Segment.filter(id=segment_id).using_db(conn).select_for_update().first()
        if row is None:
            raise NotFound("segment", "segment_id")
        busy = await Broadcast.filter(segment_id=segment_id, state__in=(
            "scheduled", "testing")).using_db(conn).order_by("id").values_list("name",
                                                                              flat=True)
        if busy:
            raise Conflict(_("Broadcasts still to go out use this segment (%(broadcasts)s): "
                             "cancel them or wait until they are sent, then delete it.",
                             broadcasts=", ".join(str(b) for b in busy)), "segment_id")
        # the sent and cancelled ones keep their results, without a segment (done here:
        # migration 0024 made the column nullable, but on PostgreSQL the constraint keeps
        # the ON DELETE RESTRICT it was created with)
        await Broadcast.filter(segment_id=segment_id).using_db(conn).update(segment_id=None)
        await Segment.filter(id=segment_id).using_db(conn).delete()


async def member_page(rules: Rules, offset: int, limit: int) -> tuple[int, list[Contact]]:
    """How many contacts the rules choose, and the ``limit`` of them from ``offset`` on
    (in id order)."""
    ids = await members(rules)
    chosen = ids[offset:offset + limit]
    rows = {c.id: c for c in await Contact.filter(id__in=chosen)} if chosen else {}
    return len(ids), [rows[i] for i in chosen if i in rows]
