"""The bot's settings pages: FAQ answers, automation rules, and canned replies."""

from __future__ import annotations

from aiohttp import web

from bot.core.auth import FORM, Perm
from bot.core.errors import NotFound
from bot.core.keys import ADAPTERS
from bot.core.pages import form_str, page, path_id, render
from bot.services import canned, faq, rule_spec, rules, users
from bot.services.flows.texts import LOCALES
from bot.web import rule_page


@page(Perm.BOT_READ)
async def bot_page(request: web.Request) -> web.Response:
    q, locale = request.query.get("q", ""), request.query.get("locale", "en")
    tried = (await faq.match(q, locale) or False) if q else None
    return render(request, "web/bot.html", faq=await faq.list_faq(), locales=LOCALES,
                  rules=await rules.list_rules(), events=rule_spec.EVENTS,
                  agents=await users.agents(), q=q, locale=locale, tried=tried,
                  kinds=sorted(request.app[ADAPTERS].keys()))


@page(Perm.BOT_WRITE)
async def faq_add(request: web.Request) -> web.StreamResponse:
    form = request[FORM]
    await faq.save_faq(None, {
        "locale": form_str(form, "locale"), "question": form_str(form, "question"),
        "variants": form_str(form, "variants").splitlines(), "answer": form_str(form, "answer"),
        "in_menu": form_str(form, "in_menu") == "on"})
    raise web.HTTPFound("/admin/bot")


@page(Perm.BOT_WRITE)
async def faq_delete(request: web.Request) -> web.StreamResponse:
    await faq.delete_faq(path_id(request, "fid"))
    raise web.HTTPFound("/admin/bot")


@page(Perm.BOT_WRITE)
async def rule_add(request: web.Request) -> web.StreamResponse:
    """The rule form: the common conditions and actions as fields."""
    f = request[FORM]
    conditions, actions = rule_page.conditions_of(f), rule_page.actions_of(f)
    await rules.save_rule(None, {"name": form_str(f, "name") or "Rule",
                                 "event": form_str(f, "event"),
                                 "conditions": conditions, "actions": actions})
    raise web.HTTPFound("/admin/bot#rules")


@page(Perm.BOT_WRITE)
async def rule_toggle(request: web.Request) -> web.StreamResponse:
    rid = path_id(request, "rid")
    if form_str(request[FORM], "delete") == "1":
        if not await rules.delete_rule(rid):
            raise NotFound("rule", "rule_id")
    else:
        await rules.toggle_rule(rid)
    raise web.HTTPFound("/admin/bot#rules")


@page(Perm.CANNED_READ)
async def canned_page(request: web.Request) -> web.Response:
    return render(request, "web/canned.html", canned=await canned.list_canned())


@page(Perm.CANNED_WRITE)
async def canned_add(request: web.Request) -> web.StreamResponse:
    form = request[FORM]
    await canned.add_canned(form_str(form, "shortcut"), form_str(form, "title"),
                            form_str(form, "body"))
    raise web.HTTPFound("/admin/canned")


@page(Perm.CANNED_WRITE)
async def canned_delete(request: web.Request) -> web.StreamResponse:
    await canned.delete_canned(path_id(request, "canned_id"))
    raise web.HTTPFound("/admin/canned")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/bot", bot_page)
    r.add_post("/admin/bot/faq", faq_add)
    r.add_post("/admin/bot/faq/{fid}/delete", faq_delete)
    r.add_post("/admin/bot/rules", rule_add)
    r.add_post("/admin/bot/rules/{rid}", rule_toggle)
    rule_page.setup(app)
    r.add_get("/admin/canned", canned_page)
    r.add_post("/admin/canned", canned_add)
    r.add_post("/admin/canned/{canned_id}/delete", canned_delete)
