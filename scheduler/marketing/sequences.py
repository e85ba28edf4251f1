"""Drip sequences: what they are (steps that wait, send, branch or exit), the starting
ones every shop gets, how a shop event enrols a contact or ends an enrolment, and the one
way to create, change and list them (the REST API and the pages alike).

A step is one of:

- ``{"wait": {"hours": 1}}`` (or days / minutes), or ``{"wait": {"until": "09:00"}}``:
  the next time of day in the contact's timezone (the shop's if unknown);
- ``{"send": "cart_1"}``: a mail from ``templates/email/<lang>.j2``;
- ``{"branch": {"event": "order_placed", "goto": 5}}`` or
  ``{"branch": {"attribute": "vip", "equals": "yes", "goto": 5}}``: jump when it holds;
- ``{"exit": "reason"}``: end here.

A sequence also names events that end it early (``exit_on``): an order ends the
abandoned-cart mails at once, and every send checks again just before it goes
(``scheduler.marketing.drips`` runs the steps).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from tortoise.exceptions import IntegrityError
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from bot.core.http import Strict, exactly_one, omissible
from bot.core.i18n import _, lazy, ngettext
from bot.models import Enrollment, MailSend, Sequence, ShopEvent
from channels.email.mailer import MAILS
from scheduler.marketing.clock import now
from scheduler.marketing.errors import Conflict, Exists, Invalid, Missing

# The kinds of shop event: what starts, ends or branches a sequence, and what a segment
# and the events API name.
EventKind = Literal["signup", "checkout_started", "checkout_updated", "order_placed"]


MAX_WAIT_DAYS = 3650  # a longer wait is a typo (and past what a timedelta holds)


class Wait(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": ["minutes"], "properties": {"minutes": {"not": {"const": 0}}}},
        {"required": ["hours"], "properties": {"hours": {"not": {"const": 0}}}},
        {"required": ["days"], "properties": {"days": {"not": {"const": 0}}}},
        {"required": ["until"], "properties": {"until": {"type": "string"}}}]})
    minutes: float = Field(0, ge=0)
    hours: float = Field(0, ge=0)
    days: float = Field(0, ge=0)  # in all at most MAX_WAIT_DAYS (checked below)
    until: str | None = Field(None, pattern=r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$",
                              description="a time of day in the contact's timezone (HH:MM)")

    @model_validator(mode="after")
    def _some(self) -> Wait:
        if not (self.minutes or self.hours or self.days or self.until):
            raise ValueError(_("a wait needs minutes, hours, days or a time of day"))
        if self.minutes + 60 * self.hours + 1440 * self.days > MAX_WAIT_DAYS * 1440:
            raise ValueError(_("a wait is at most %(days)d days", days=MAX_WAIT_DAYS))
        return self


class Branch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: str | None = None  # happened since the enrolment started
    attribute: str | None = None
    equals: str | None = None
    goto: int = Field(ge=0)


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra=exactly_one("wait", "send", "branch", "exit"))
    wait: Wait | None = None
    send: str | None = None
    branch: Branch | None = None
    exit: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Step:
        if sum(x is not None for x in (self.wait, self.send, self.branch, self.exit)) != 1:
            raise ValueError(_("each step is exactly one of wait, send, branch, exit"))
        return self


Steps = TypeAdapter(list[Step])
# What starts a sequence (a checkout_updated event continues one checkout_started began).
Trigger = Literal["signup", "checkout_started", "order_placed"]


class SequenceIn(Strict):
    """A new sequence, as the REST API and the page take it (the one check of both)."""

    key: Annotated[str, Field(pattern=r"^[a-z0-9_]{2,64}$")]
    name: Annotated[str, Field(min_length=1, max_length=120)]
    trigger: Trigger
    exit_on: list[EventKind] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1, max_length=50)
    enabled: bool = True


class SequencePatch(Strict):
    """A change to a sequence (the fields left out stay as they are)."""

    name: Annotated[str, Field(min_length=1, max_length=120)] = omissible()
    exit_on: list[EventKind] = omissible()
    steps: list[Step] = omissible(min_length=1, max_length=50)
    enabled: bool = omissible()


def _seq(key: str, name: str, trigger: str, exit_on: list[str],
         steps: list[dict[str, Any]]) -> dict[str, Any]:
    Steps.validate_python(steps)
    return {"key": key, "name": name, "trigger": trigger, "exit_on": exit_on, "steps": steps}


# The starting sequences every shop gets (editable afterwards).
BUILTIN = [
    _seq("welcome", "Welcome series", "signup", [],
         [{"send": "welcome_1"}, {"wait": {"days": 3}}, {"send": "welcome_2"}]),
    _seq("abandoned_cart", "Abandoned cart", "checkout_started", ["order_placed"],
         [{"wait": {"hours": 1}}, {"send": "cart_1"}, {"wait": {"hours": 23}},
          {"send": "cart_2"}, {"wait": {"hours": 48}}, {"send": "cart_3"}]),
    _seq("review_request", "Post-purchase review request", "order_placed", [],
         [{"wait": {"days": 7}}, {"send": "review_1"}]),
    _seq("win_back", "Win-back", "order_placed", ["order_placed"],
         [{"wait": {"days": 90}}, {"send": "winback_1"}]),
]


async def install_builtin() -> None:
    """Create the starting sequences that are missing (never overwrites edits)."""
    for spec in BUILTIN:
        await Sequence.get_or_create(key=spec["key"], defaults={
            k: v for k, v in spec.items() if k != "key"})



# --- events: enrol and exit ---------------------------------------------------------------------

async def on_event(event: ShopEvent, when: datetime | None = None) -> list[int]:
    """What a new shop event does to sequences: ends the enrolments it is an exit for,
    refreshes an abandoned cart's items, and enrols the contact where it is a trigger.
    Returns the ids of new enrolments."""
    at = when or now()
    kind = "checkout_started" if event.kind == "checkout_updated" else event.kind
    contact_id = event.contact_id  # type: ignore[attr-defined]
    started: list[int] = []
    for seq in await Sequence.filter(enabled=True):
        active = Enrollment.filter(sequence_id=seq.id, contact_id=contact_id, state="active")
        if event.kind in seq.exit_on:
            await active.filter(started_at__lt=event.occurred_at).update(
                state="exited", ended_reason=f"{event.kind} ({event.source})", due_at=None)
        if seq.trigger != kind:
            continue
        current = await active.first()
        if current is not None:  # e.g. the cart changed: the next mails show the new one
            if event.kind == "checkout_updated":
                await Enrollment.filter(id=current.id).update(
                    context={**current.context, **event.payload})
            continue
        if event.kind == "checkout_updated":
            continue  # only a started checkout enrols
        row = await Enrollment.create(sequence_id=seq.id, contact_id=contact_id,
                                      context=dict(event.payload), started_at=at, due_at=at)
        started.append(row.id)
    return started



# --- the one way to change sequences ------------------------------------------------------------

def check_steps(steps: list[Step]) -> list[dict[str, Any]]:
    """Every template a step sends exists, and every branch goes to a real step; the steps
    as stored."""
    known = templates()
    for i, step in enumerate(steps):
        if step.send is not None and step.send not in known:
            raise Invalid(lazy("Step %(num)s: no mail template %(name)s; known: %(known)s",
                               num=i + 1, name=repr(step.send), known=", ".join(known)),
                          f"steps.{i}.send")
        if step.branch is not None and step.branch.goto >= len(steps):
            raise Invalid(lazy("Step %(num)s: it goes to step %(goto)s, past the last step",
                               num=i + 1, goto=step.branch.goto + 1),
                          f"steps.{i}.branch.goto")
    return [st.model_dump(exclude_none=True) for st in steps]


async def all_sequences() -> list[Sequence]:
    return await Sequence.all().order_by("id")


async def create(key: str, name: str, trigger: str, exit_on: list[str], steps: list[Step],
                 enabled: bool = True) -> Sequence:
    taken = Exists(lazy("a sequence %(key)s exists", key=repr(key)), "key")
    if await Sequence.filter(key=key).exists():
        raise taken
    try:
        return await Sequence.create(key=key, name=name, trigger=trigger, exit_on=list(exit_on),
                                     steps=check_steps(steps), enabled=enabled)
    except IntegrityError:  # the same key saved meanwhile (a form sent twice at once)
        raise taken from None


async def update(sequence_id: int, name: str | None = None, exit_on: list[str] | None = None,
                 steps: list[Step] | None = None, enabled: bool | None = None) -> Sequence:
    """Change a sequence; running enrolments continue at their step number."""
    row = await Sequence.filter(id=sequence_id).first()
    if row is None:
        raise Missing(lazy("no such sequence"), "sequence_id")
    if steps is not None:
        row.steps = check_steps(steps)
    if name is not None:
        row.name = name
    if exit_on is not None:
        row.exit_on = list(exit_on)
    if enabled is not None:
        row.enabled = enabled
    await row.save()
    return row


async def delete(sequence_id: int) -> None:
    """Delete a paused sequence that no contact is going through, with its finished
    enrolments (the mails it sent stay, with their results). Conflict (409) while it is
    on (it could enrol someone meanwhile: pause it first), while contacts are still in it
    (the drip runner would find their sequence gone), and for a built-in one (it comes
    back at the next start: pause it instead). The row is locked first, so an enrolment
    made meanwhile is either seen or fails to find its sequence."""
    async with in_transaction() as conn:
        row = await Sequence.filter(id=sequence_id).using_db(conn).select_for_update().first()
        if row is None:
            raise Missing(_("no such sequence"), "sequence_id")
        if row.key in {spec["key"] for spec in BUILTIN}:
            raise Conflict(_("A built-in sequence cannot be deleted (it comes back at the "
                             "next start): pause it instead."), "sequence_id")
        if row.enabled:
            raise Conflict(_("Pause the sequence first, so that nobody new enters it."),
                           "enabled")
        active = await Enrollment.filter(sequence_id=sequence_id, state="active").using_db(
            conn).count()
        if active:
            raise Conflict(ngettext(
                "%(num)d contact is still going through this sequence: wait until they "
                "finish, then delete it.",
                "%(num)d contacts are still going through this sequence: wait until they "
                "finish, then delete it.", active), "sequence_id")
        ended = list(await Enrollment.filter(sequence_id=sequence_id).using_db(
            conn).values_list("id", flat=True))
        if ended:  # the mails stay (said here, as for segments: not left to the key)
            await MailSend.filter(enrollment_id__in=ended).using_db(conn).update(
                enrollment_id=None)
        await Enrollment.filter(sequence_id=sequence_id).using_db(conn).delete()
        await Sequence.filter(id=sequence_id).using_db(conn).delete()


async def active_counts() -> dict[int, int]:
    """Active enrolments per sequence id (one grouped query)."""
    rows = await Enrollment.filter(state="active").annotate(n=Count("id")).group_by(
        "sequence_id").values("sequence_id", "n")
    return {int(r["sequence_id"]): int(r["n"]) for r in rows}


def templates() -> list[str]:
    """The mail templates a send step may name (``templates/email/<lang>.j2``)."""
    return sorted(n.removesuffix("_subject") for n in MAILS.names() if n.endswith("_subject"))


async def recent_enrollments(limit: int = 200) -> list[Enrollment]:
    """The latest enrolments, each with its sequence."""
    return await Enrollment.all().order_by("-id").limit(limit).prefetch_related("sequence")
