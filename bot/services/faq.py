"""The customer bot's FAQ entries: list, add, change, delete, and try the matcher. Shared
by the pages and the REST API (the matching itself lives in :mod:`bot.services.flows`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.cache import forget_all
from bot.core.errors import InboxError, NotFound, TooLong
from bot.core.i18n import _, lazy
from bot.models import FaqEntry
from bot.services.flows.customer import lookup
from bot.services.flows.texts import LOCALES


def faq_out(e: FaqEntry) -> dict[str, Any]:
    return {"id": e.id, "locale": e.locale, "question": e.question, "variants": e.variants,
            "answer": e.answer, "in_menu": e.in_menu, "position": e.position,
            "updated_at": e.updated_at}


async def list_faq() -> list[FaqEntry]:
    return await FaqEntry.all().order_by("locale", "position", "id")


QUESTION_MAX, ANSWER_MAX = 300, 4000


def _check(clean: Mapping[str, Any], new: bool) -> None:
    """Refuse what the table cannot hold or the bot cannot use (the pages send anything)."""
    if (new or "locale" in clean) and clean.get("locale") not in LOCALES:
        raise InboxError(lazy("locale must be one of %(known)s", known=", ".join(LOCALES)),
                         "invalid", "locale")
    for key in ("question", "answer"):
        if (new or key in clean) and not clean.get(key):
            raise InboxError(_("An FAQ entry needs a question and an answer."), "invalid",
                             key)
    too_long = [k for k, limit in (("question", QUESTION_MAX), ("answer", ANSWER_MAX))
                if len(clean.get(k) or "") > limit]
    if any(len(v) > QUESTION_MAX for v in clean.get("variants") or []):
        too_long.append("variants")
    if too_long:
        limit = ANSWER_MAX if too_long[0] == "answer" else QUESTION_MAX
        raise TooLong(too_long[0], limit)


async def save_faq(entry_id: int | None, values: Mapping[str, Any]) -> FaqEntry:
    """Create (``entry_id`` None) or change an FAQ entry."""
    clean = dict(values)
    if "variants" in clean:
        clean["variants"] = [v.strip() for v in clean["variants"] if v.strip()]
    _check(clean, entry_id is None)
    if entry_id is None:
        return await FaqEntry.create(**clean)
    entry = await FaqEntry.filter(id=entry_id).first()
    if entry is None:
        raise NotFound("FAQ entry", "faq_id")
    entry.update_from_dict(clean)
    await entry.save()
    forget_all()  # the bot answers with the changed entry from now on
    return entry


async def delete_faq(entry_id: int) -> bool:
    """Delete an FAQ entry; False if there was none."""
    if not await FaqEntry.filter(id=entry_id).delete():
        return False
    forget_all()
    return True


async def match(text: str, locale: str) -> FaqEntry | None:
    """The entry the bot would answer ``text`` with, or None."""
    return await lookup(text, locale)
