"""Conversation labels: list with their use, rename, recolour, delete. Labels are created
by labelling a conversation (:func:`bot.services.inbox.set_labels`); these change or remove
one for every conversation at once. Shared by the labels page and the REST API."""

from __future__ import annotations

import re
from typing import Any

from tortoise.functions import Count
from tortoise.transactions import in_transaction

from bot.core.cache import forget_all
from bot.core.errors import InboxError, NotFound, TooLong
from bot.core.events import ConversationChanged, EventBus
from bot.core.i18n import _
from bot.models import Conversation, Label, Rule

NAME_MAX = 64
COLOR = re.compile(r"#[0-9a-fA-F]{6}")
DEFAULT_COLOR = "#64748b"  # the model's default


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def chip(color: str) -> tuple[str, str]:
    """A label chip's background and text colour: ``color`` (the default grey when it is
    not #rrggbb) and black or white, whichever has the higher WCAG 2 contrast ratio on it
    (at least 4.58:1 for any background, so the name always meets AA)."""
    bg = color.lower() if COLOR.fullmatch(color or "") else DEFAULT_COLOR
    r, g, b = (_linear(int(bg[i:i + 2], 16)) for i in (1, 3, 5))
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    on_white, on_black = 1.05 / (lum + 0.05), (lum + 0.05) / 0.05
    return bg, "#ffffff" if on_white >= on_black else "#000000"


async def list_labels() -> list[dict[str, Any]]:
    """Every label with how many conversations carry it, by name."""
    rows = await Label.all().annotate(uses=Count("conversations")).order_by("name").values(
        "id", "name", "color", "uses")
    return list(rows)


async def _label(label_id: int) -> Label:
    label = await Label.filter(id=label_id).first()
    if label is None:
        raise NotFound("label", "label_id")
    return label


async def _carrying(label_id: int) -> list[int]:
    rows = await Conversation.filter(labels__id=label_id).values_list("id", flat=True)
    return [int(str(cid)) for cid in rows]  # values_list is typed as tuples


def _changed(conversation_ids: list[int], bus: EventBus | None) -> None:
    """Live pages showing those conversations re-fetch them."""
    if bus is not None:
        for cid in conversation_ids:
            bus.publish(ConversationChanged(cid, "labels"))


async def _rename_in_rules(old: str, new: str) -> None:
    """Automation rules name labels: a rule that matched or added the old name now uses
    the new one (else it would bring the old label back)."""
    changed = False
    for rule in await Rule.all():
        labels = rule.conditions.get("labels")
        renames = any(a.get("type") == "add_label" and a.get("label") == old
                      for a in rule.actions)
        if isinstance(labels, list) and old in labels:
            rule.conditions = {**rule.conditions,
                               "labels": [new if x == old else x for x in labels]}
        elif not renames:
            continue
        rule.actions = [{**a, "label": new} if a.get("type") == "add_label"
                        and a.get("label") == old else a for a in rule.actions]
        await rule.save(update_fields=["conditions", "actions"])
        changed = True
    if changed:
        forget_all()  # the cached, parsed rules


async def update_label(label_id: int, name: str, color: str,
                       bus: EventBus | None = None) -> Label:
    """Rename and recolour a label; the conversations that carry it keep it."""
    label = await _label(label_id)
    name = name.strip()
    if not name:
        raise InboxError(_("A label needs a name."), "invalid", "name")
    if len(name) > NAME_MAX:
        raise TooLong("name", NAME_MAX)
    if not COLOR.fullmatch(color):
        raise InboxError(_("A colour is written #rrggbb."), "invalid", "color")
    if await Label.filter(name=name).exclude(id=label_id).exists():
        raise InboxError(_("There is already a label %(name)s.", name=repr(name)), "exists",
                         "name")
    old = label.name
    async with in_transaction():
        label.name, label.color = name, color.lower()
        await label.save(update_fields=["name", "color"])
        if name != old:
            await _rename_in_rules(old, name)
    _changed(await _carrying(label_id), bus)
    return label


async def delete_label(label_id: int, bus: EventBus | None = None) -> None:
    """Delete a label and take it off every conversation."""
    label = await _label(label_id)
    cids = await _carrying(label_id)
    async with in_transaction():
        for conv in await Conversation.filter(id__in=cids):
            await conv.labels.remove(label)
        await label.delete()
    _changed(cids, bus)
