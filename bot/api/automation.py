"""The REST endpoints of what answers customers without staff typing: the bot's FAQ, the
automation rules, and canned replies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from bot.api.schemas import automation as s
from bot.api.schemas.common import Deleted
from bot.core.auth import Perm
from bot.core.errors import NotFound
from bot.core.http import Call, Endpoint, Handler, json_out
from bot.services import canned, faq, rules

Row = TypeVar("Row")


def _editable(key: str, what: str,
              save: Callable[[int | None, Mapping[str, Any]], Awaitable[Row]],
              delete_row: Callable[[int], Awaitable[bool]],
              out: Callable[[Row], dict[str, Any]]) -> tuple[Handler, Handler, Handler]:
    """Create, change (only the fields sent) and delete handlers for a simple resource."""
    async def create(call: Call) -> web.Response:
        values = call.body.model_dump(by_alias=True, exclude_none=True)
        return json_out(out(await save(None, values)), 201)

    async def update(call: Call) -> web.Response:
        values = call.body.model_dump(by_alias=True, exclude_unset=True)
        return json_out(out(await save(call.param(key), values)))

    async def delete(call: Call) -> web.Response:
        if not await delete_row(call.param(key)):
            raise NotFound(what, key)
        return json_out({"deleted": True})

    noun = key.removesuffix("_id")
    for verb, fn in (("create", create), ("update", update), ("delete", delete)):
        fn.__name__ = fn.__qualname__ = f"{verb}_{noun}"  # routes are named after handlers
    return create, update, delete


create_faq, update_faq, delete_faq = _editable("faq_id", "FAQ entry", faq.save_faq,
                                               faq.delete_faq, faq.faq_out)
create_rule, update_rule, delete_rule = _editable("rule_id", "rule", rules.save_rule,
                                                  rules.delete_rule, rules.rule_out)


async def list_faq(call: Call) -> web.Response:
    return json_out([faq.faq_out(e) for e in await faq.list_faq()])


async def match_faq(call: Call) -> web.Response:
    """Try the matcher: which answer would the bot give to this text?"""
    q: s.FaqQuery = call.query
    entry = await faq.match(q.q, q.locale)
    return json_out({"entry": faq.faq_out(entry) if entry else None})


async def list_rules(call: Call) -> web.Response:
    return json_out([rules.rule_out(r) for r in await rules.list_rules()])


async def list_canned(call: Call) -> web.Response:
    return json_out([canned.canned_out(c) for c in await canned.list_canned()])


async def create_canned(call: Call) -> web.Response:
    b: s.CannedIn = call.body
    return json_out(canned.canned_out(await canned.add_canned(b.shortcut, b.title, b.body)),
                    201)


async def update_canned(call: Call) -> web.Response:
    b: s.CannedIn = call.body
    return json_out(canned.canned_out(await canned.update_canned(
        call.param("canned_id"), b.shortcut, b.title, b.body)))


async def delete_canned(call: Call) -> web.Response:
    if not await canned.delete_canned(call.param("canned_id")):
        raise NotFound("canned reply", "canned_id")
    return json_out({"deleted": True})


def endpoints() -> list[Endpoint]:
    P, E = Perm, Endpoint
    return [
        E("GET", "/api/v1/faq", list_faq, "The bot's FAQ answers", "Bot", P.BOT_READ,
          response=s.FaqOut, many=True),
        E("POST", "/api/v1/faq", create_faq, "Add an FAQ answer", "Bot", P.BOT_WRITE,
          body=s.FaqIn, response=s.FaqOut, status=201),
        E("GET", "/api/v1/faq/match", match_faq, "Which answer the bot gives to a text",
          "Bot", P.BOT_READ, query=s.FaqQuery, response=s.FaqMatch),
        E("PATCH", "/api/v1/faq/{faq_id}", update_faq, "Change an FAQ answer", "Bot",
          P.BOT_WRITE, body=s.FaqPatch, response=s.FaqOut),
        E("DELETE", "/api/v1/faq/{faq_id}", delete_faq, "Delete an FAQ answer", "Bot",
          P.BOT_WRITE, response=Deleted),
        E("GET", "/api/v1/rules", list_rules, "Automation rules", "Bot", P.BOT_READ,
          response=s.RuleOut, many=True),
        E("POST", "/api/v1/rules", create_rule, "Add an automation rule", "Bot", P.BOT_WRITE,
          body=s.RuleIn, response=s.RuleOut, status=201),
        E("PATCH", "/api/v1/rules/{rule_id}", update_rule, "Change an automation rule",
          "Bot", P.BOT_WRITE, body=s.RulePatch, response=s.RuleOut),
        E("DELETE", "/api/v1/rules/{rule_id}", delete_rule, "Delete an automation rule",
          "Bot", P.BOT_WRITE, response=Deleted),
        E("GET", "/api/v1/canned-replies", list_canned, "Canned replies", "Inbox",
          P.CANNED_READ, response=s.CannedOut, many=True),
        E("POST", "/api/v1/canned-replies", create_canned, "Add a canned reply (jinja2)",
          "Inbox", P.CANNED_WRITE, body=s.CannedIn, response=s.CannedOut, status=201),
        E("PUT", "/api/v1/canned-replies/{canned_id}", update_canned,
          "Change a canned reply", "Inbox", P.CANNED_WRITE, body=s.CannedIn,
          response=s.CannedOut),
        E("DELETE", "/api/v1/canned-replies/{canned_id}", delete_canned,
          "Delete a canned reply", "Inbox", P.CANNED_WRITE, response=Deleted),
    ]
