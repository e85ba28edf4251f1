"""Automation rules: when an event happens and every condition holds, run the actions.

A rule is data (``Rule`` rows: ``event``, ``conditions``, ``actions``), validated by the
pydantic models below on the way in (API, web form) and again when loaded, so a rule
that cannot run is refused with a clear message instead of failing later.

Typical rule: a comment in the shop's group containing "price" or "ціна" gets a reply in
its thread, and the author a private message::

    event: message_received
    conditions: {"public": true, "keywords": ["price", "ціна"]}
    actions: [{"type": "reply", "template": "Prices are in our catalogue: …"},
              {"type": "reply_private", "template": "Hi {{ contact.first_name }}, …"}]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import TemplateError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from bot.core import bounded, metrics
from bot.core.cache import Ttl, forget_all
from bot.core.errors import InboxError, NotFound
from bot.core.events import EventBus
from bot.core.i18n import lazy
from bot.core.time import utcnow
from bot.models import (
    Contact,
    Conversation,
    ConversationStatus,
    Followup,
    Message,
    Rule,
    User,
)
from bot.services import inbox
from bot.services.notify import StaffNotifier
from bot.services.replies import Outbox, contact_context, sample_context
from bot.services.rule_spec import (
    EVENTS,
    Action,
    AddLabel,
    Assign,
    Conditions,
    Notify,
    Reply,
    ReplyPrivate,
    Resolve,
    holds,
    validate,
)

log = logging.getLogger("switchboard.rules")

Parsed = tuple[int, Conditions, list[Action]]
# event -> its enabled rules, parsed: read on every message, so parsed once per cache fill.
_enabled: Ttl[list[Parsed]] = Ttl()


async def _load(event: str) -> list[Parsed]:
    out: list[Parsed] = []
    for rule in await Rule.filter(event=event, enabled=True).order_by("position", "id"):
        try:
            out.append((rule.id, *validate(rule.conditions, rule.actions)))
        except InboxError as exc:
            log.warning("rule skipped: invalid", extra={"rule": rule.id, "error": str(exc)})
    return out


class RuleEngine:
    """Runs the enabled rules for an event, in ``position`` order."""

    def __init__(self, outbox: Outbox, bus: EventBus, notifier: StaffNotifier,
                 timezone: str) -> None:
        self.outbox, self.bus, self.notifier = outbox, bus, notifier
        self.tz = ZoneInfo(timezone)

    async def run(self, event: str, conversation_id: int, message_id: int | None = None,
                  now: datetime | None = None, sentiment: str | None = None,
                  key: str | None = None, row: int | None = None) -> bool:
        """Run matching rules; True if one of them answered the customer.

        ``key`` names the run (a followup row, ``fu:<id>``): each action that speaks is
        keyed by it, the rule and the action's place, so running the same key twice sends
        each reply and notification once (see :mod:`bot.services.followups`). ``row``: the
        followup row's id, where each rule's progress is recorded (``payload["done"]``),
        so a row run again (after a crash, a lapsed lease or a failed step) counts each
        rule fired once, skips the rules it finished, and does not move a round-robin
        assignment made by the earlier run."""
        rules = await _enabled.get(event, lambda: _load(event))
        if not rules:
            return False
        conv = await Conversation.filter(id=conversation_id).prefetch_related(
            "contact", "labels").first()
        if conv is None:
            return False
        msg = None
        if message_id is not None:
            msg = await Message.filter(id=message_id).prefetch_related("author").first()
        person: Contact = msg.author if msg is not None and msg.author else conv.contact
        local = (now or utcnow()).astimezone(self.tz).time()
        text = msg.text if msg else None
        facts: dict[str, Any] = dict(
            kind=conv.channel_kind, public=conv.is_public, text=text, locale=person.locale,
            labels={lb.name for lb in conv.labels}, attributes=dict(person.attributes or {}),
            local_time=local, sentiment=sentiment)
        # the regexes of the rules whose other conditions hold, all in one regex_timeout_ms
        # budget, off the event loop; a pattern out of time is no match (logged once)
        wanted = [c.regex for _, c, _ in rules if c.regex is not None and text is not None
                  and holds(c, **facts)]
        matches = await bounded.search_all_async(wanted, text) if wanted and text is not None \
            else set()
        answered = False
        for rule_id, conds, actions in rules:
            if not holds(conds, **facts, matches=matches):
                continue
            tag = f"{event}:{rule_id}"
            again, before = await _fire(rule_id, row, tag)
            if before is not None:  # an earlier run of this row finished the rule
                answered |= before
                continue
            if not again:
                metrics.child(metrics.RULES_FIRED, event).inc()
            said = False
            for i, action in enumerate(actions):
                ref = f"{key}:r{rule_id}:{i}" if key is not None else None
                try:
                    said |= await self._do(action, conv, msg, person, ref, again)
                except InboxError as exc:  # e.g. nobody to assign to: the others still run
                    log.warning("rule action failed", extra={
                        "rule": rule_id, "action": action.type, "error": str(exc)})
            answered |= said
            if row is not None:
                await _progress(row, tag, said)
        return answered

    async def _do(self, action: Action, conv: Conversation, msg: Message | None,
                  person: Contact, ref: str | None = None, again: bool = False) -> bool:
        """One action; ``again``: the rule's actions run a second time for the same row
        (its earlier run stopped before it finished them)."""
        extra = {"message": {"text": msg.text if msg else ""},
                 "conversation": {"id": conv.id, "channel": conv.channel_kind}}
        if isinstance(action, Reply):
            await self.outbox.send(conv.id, await _render(action.template, person, extra),
                                   None, origin="rule", reply_to_id=msg.id if msg else None,
                                   source_ref=ref)
            return True
        if isinstance(action, ReplyPrivate):
            if msg is None or msg.author_id is None:  # type: ignore[attr-defined]
                return False  # a private message has no comment to answer privately
            await self.outbox.reply_privately(msg.id, await _render(action.template, person,
                                                                    extra), None, origin="rule",
                                          source_ref=ref)
            return True
        if isinstance(action, Assign):
            if again and action.to == "round_robin" and conv.assignee_id is not None:  # type: ignore[attr-defined]
                return False  # the earlier run picked someone: keep them
            await inbox.assign(conv.id, action.to, self.bus)
        elif isinstance(action, AddLabel):
            names = {lb.name for lb in conv.labels} | {action.label}
            await inbox.set_labels(conv.id, sorted(names), self.bus)
        elif isinstance(action, Notify):
            await self.notifier.notify(conv.id, await _render(action.template, person, extra),
                                       key=ref)
        elif isinstance(action, Resolve):
            await inbox.set_status(conv.id, ConversationStatus.RESOLVED, bus=self.bus)
        return False


async def _fire(rule_id: int, row: int | None, tag: str) -> tuple[bool, bool | None]:
    """Count the rule fired, once per followup row: (whether an earlier run of the row
    fired it already, what it answered if that run finished the rule, else None)."""
    if row is None:
        await Rule.filter(id=rule_id).update(fired=F("fired") + 1, last_fired_at=utcnow())
        return False, None
    async with in_transaction() as conn:
        found = await Followup.filter(id=row).using_db(conn).values_list("payload", flat=True)
        payload: dict[str, Any] = dict(found[0] or {}) if found else {}
        done: dict[str, Any] = dict(payload.get("done") or {})
        if tag in done:
            return True, done[tag]
        if found:
            await Followup.filter(id=row).using_db(conn).update(
                payload={**payload, "done": {**done, tag: None}})
        await Rule.filter(id=rule_id).using_db(conn).update(fired=F("fired") + 1,
                                                            last_fired_at=utcnow())
    return False, None


async def _progress(row: int, tag: str, answered: bool) -> None:
    """The rule's actions all ran for this row (``answered``: one spoke to the customer)."""
    async with in_transaction() as conn:
        found = await Followup.filter(id=row).using_db(conn).values_list("payload", flat=True)
        if found:
            payload: dict[str, Any] = dict(found[0] or {})
            done = {**dict(payload.get("done") or {}), tag: answered}
            await Followup.filter(id=row).using_db(conn).update(
                payload={**payload, "done": done})


async def _render(template: str, person: Contact, extra: dict[str, Any]) -> str:
    """A rule's template for this contact, off the event loop and within the template
    limits (:mod:`bot.core.bounded`); InboxError if it cannot be rendered."""
    try:
        return await bounded.render_async(template, {**contact_context(person), **extra})
    except TemplateError as exc:
        raise InboxError(lazy("the rule's template could not be rendered: %(reason)s",
                              reason=exc), "invalid_template", "actions") from None


_SAMPLE = {"message": {"text": "Hello, where is my order?"},
           "conversation": {"id": 0, "channel": "api"}}


# --- the rules staff keep: one way to list, save, switch and delete them ----------------------

def rule_out(r: Rule) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "event": r.event, "conditions": r.conditions,
            "actions": r.actions, "enabled": r.enabled, "position": r.position,
            "fired": r.fired, "last_fired_at": r.last_fired_at}


async def list_rules() -> list[Rule]:
    return await Rule.all().order_by("position", "id")


async def save_rule(rule_id: int | None, values: Mapping[str, Any]) -> Rule:
    """Create or change a rule; conditions and actions are validated as a whole."""
    rule = Rule() if rule_id is None else await Rule.filter(id=rule_id).first()
    if rule is None:
        raise NotFound("rule", "rule_id")
    merged = {**(rule_out(rule) if rule_id is not None else {}), **values}
    if merged.get("event") not in EVENTS:
        raise InboxError(lazy("event must be one of %(known)s", known=", ".join(EVENTS)),
                         "invalid", "event")
    conds, acts = validate(merged.get("conditions") or {}, merged.get("actions") or [])
    for i, act in enumerate(acts):  # a template over the limits is refused when saved
        if isinstance(act, Reply | ReplyPrivate | Notify):
            try:
                await bounded.check_template(act.template, {**sample_context(), **_SAMPLE})
            except TemplateError as exc:
                raise InboxError(lazy("actions.%(i)s.template: %(reason)s", i=i, reason=exc),
                                 "invalid_template", "actions") from None
    if any(a.type == "assign" and a.to != "round_robin" for a in acts):
        ids = {a.to for a in acts if isinstance(a, Assign) and a.to != "round_robin"}
        if await User.filter(id__in=ids, is_active=True).count() != len(ids):
            raise InboxError(lazy("assign.to is not an active user"), "invalid", "actions")
    rule.name = merged.get("name") or rule.name or "Rule"
    rule.event = merged["event"]
    rule.conditions = conds.model_dump(exclude_none=True, by_alias=True)
    rule.actions = [a.model_dump() for a in acts]
    rule.enabled = bool(merged.get("enabled", True))
    rule.position = int(merged.get("position") or 0)
    await rule.save()
    forget_all()
    return rule


async def toggle_rule(rule_id: int) -> Rule:
    """Switch a rule off, or back on."""
    rule = await Rule.filter(id=rule_id).first()
    if rule is None:
        raise NotFound("rule", "rule_id")
    rule.enabled = not rule.enabled
    await Rule.filter(id=rule.id).update(enabled=rule.enabled)
    forget_all()  # cached rules
    return rule


async def delete_rule(rule_id: int) -> bool:
    """Delete a rule; False if there was none."""
    if not await Rule.filter(id=rule_id).delete():
        return False
    forget_all()  # cached rules
    return True
