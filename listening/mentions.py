"""Mentions as staff read them and as a shop's own code feeds them (the REST API and the
pages alike): the newest first, filtered by rule, sentiment and time; and an item posted
to the listening rules, stored once per (source, account, id)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.auth import Perm
from bot.core.fields import FieldPerms, readable
from bot.core.links import web_url
from bot.models import Mention, User
from listening.service import Item, Listening


async def find(rule_ids: Sequence[int] | None = None, sentiment: str | None = None,
               since: datetime | None = None, limit: int = 100) -> list[Mention]:
    """Mentions of ``rule_ids`` (else every rule), newest first."""
    rows = Mention.all()
    if rule_ids:
        rows = rows.filter(rule_id__in=list(rule_ids))
    if sentiment:
        rows = rows.filter(sentiment=sentiment)
    if since:
        rows = rows.filter(occurred_at__gte=since)
    return await rows.order_by("-occurred_at", "-id").limit(limit)


@dataclass(frozen=True)
class Accepted:
    """What became of a posted item: the rules it matched, its sentiment (empty when
    the model is off), its mentions, and whether this call stored any."""

    matched: list[int]
    sentiment: str
    mentions: list[int]
    new: bool


async def take(listening: Listening, account_id: int, item_id: str, text: str,
               source: str = "api", author: str = "", url: str = "", lang: str = "",
               occurred_at: datetime | None = None) -> Accepted:
    """Score ``text`` and match it against the rules; the same ``item_id`` from the same
    source and account again stores nothing new."""
    ref = f"{source}:{account_id}:{item_id}"
    score, mentions = await listening.take(Item(
        "mention", 0, text, source, ref, occurred_at or datetime.now(UTC),
        lang=lang, author=author, url=web_url(url)))  # a link or nothing: no javascript:
    stored = await Mention.filter(source_ref=ref).values_list("id", "rule_id")
    return Accepted(matched=sorted({int(r) for _, r in stored}),
                    sentiment=score.label if score else "",
                    mentions=sorted(int(i) for i, _ in stored), new=bool(mentions))


# A mention taken from a customer's message: its text and author are the inbox's, for the
# roles that may read conversations only (bot.core.fields.readable, on the API and the page).
INBOX_FIELDS: FieldPerms = {"text": Perm.INBOX_READ, "author": Perm.INBOX_READ}


def from_inbox(m: Mention) -> bool:
    return m.source_ref.startswith("message:")


def for_reader(m: Mention, row: dict[str, Any], user: User | None) -> dict[str, Any]:
    """``row`` (the mention as shown) without what ``user`` may not read."""
    return readable(row, INBOX_FIELDS, user) if from_inbox(m) else row
