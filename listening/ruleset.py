"""The listening rules as staff keep them (the REST API and the pages alike): list, add,
change, delete. Every change is checked (the query must parse) and drops the pipeline's
cached rule list, so the next item is matched against the new rules."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.core.errors import InboxError
from bot.core.i18n import _, lazy
from bot.models import ListeningRule
from listening.errors import BadQuery, Missing, Taken
from listening.rules import QueryError, compile_rule
from listening.service import forget_rules

KINDS = ("brand", "product", "competitor", "keyword", "hashtag")
LANGUAGE = re.compile(r"[a-z]{2}")


class BadRule(InboxError):
    status = 422


def check(kind: str, query: str, languages: Sequence[str], name: str = "x") -> None:
    """Raise :class:`BadQuery` when ``query`` does not parse, :class:`BadRule` (422) when
    another field is not one the API's schema takes (the pages send plain forms)."""
    if not name.strip() or len(name) > 120:
        raise BadRule(_("give the rule a name of up to 120 characters"), "invalid", "name")
    if kind not in KINDS:
        raise BadRule(_("the kind must be one of %(kinds)s", kinds=", ".join(KINDS)),
                      "invalid", "kind")
    if not query.strip() or len(query) > 2000:
        raise BadQuery(_("give a query of up to 2,000 characters"))
    for lang in languages:
        if not LANGUAGE.fullmatch(lang):
            raise BadRule(_("languages are two-letter codes such as en, vi (not %(code)s)",
                            code=lang[:10]), "invalid", "languages")
    try:
        compile_rule(0, "", kind, query, list(languages))
    except QueryError as exc:
        raise BadQuery(exc.args[0]) from exc


async def all_rules() -> list[ListeningRule]:
    return await ListeningRule.all().order_by("id")


async def get_rule(rule_id: int) -> ListeningRule:
    rule = await ListeningRule.filter(id=rule_id).first()
    if rule is None:
        raise Missing("rule", "rule_id")
    return rule


async def add_rule(name: str, kind: str, query: str, languages: Sequence[str],
                   enabled: bool = True) -> ListeningRule:
    check(kind, query, languages, name)
    if await ListeningRule.filter(name=name).exists():
        raise Taken(lazy("a rule named %(name)s exists", name=repr(name)), "name")
    rule = await ListeningRule.create(name=name, kind=kind, query=query,
                                      languages=list(languages), enabled=enabled)
    forget_rules()
    return rule


async def change_rule(rule_id: int, *, name: str | None = None, kind: str | None = None,
                      query: str | None = None, languages: Sequence[str] | None = None,
                      enabled: bool | None = None) -> ListeningRule:
    """Change the fields given (None: kept)."""
    rule = await get_rule(rule_id)
    if name is not None:
        rule.name = name
    if kind is not None:
        rule.kind = kind
    if query is not None:
        rule.query = query
    if languages is not None:
        rule.languages = list(languages)
    if enabled is not None:
        rule.enabled = enabled
    check(rule.kind, rule.query, rule.languages, rule.name)
    if await ListeningRule.filter(name=rule.name).exclude(id=rule_id).exists():
        raise Taken(_("a rule named %(name)s exists", name=repr(rule.name)), "name")
    await rule.save()
    forget_rules()
    return rule


async def delete_rule(rule_id: int) -> None:
    """Delete the rule (its mentions go with it)."""
    rule = await get_rule(rule_id)
    await rule.delete()
    forget_rules()
