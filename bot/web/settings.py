"""The bot's settings pages: FAQ answers, automation rules, and canned replies."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.core.auth import FORM, Perm
from bot.core.errors import InboxError, NotFound
from bot.core.keys import ADAPTERS
from bot.core.pages import form_str, page, path_id, render
from bot.services import canned, faq, rule_spec, rules, users
from bot.services.flows.texts import LOCALES
from bot.web import rule_page


async def _bot(request: web.Request, status: int = 200, **ctx: Any) -> web.Response:
    q, locale = request.query.get("q", ""), request.query.get("locale", "en")
    tried = (await faq.match(q, locale) or False) if q else None
    ctx = {"error": None, "editing": None, "typed": {}, **ctx}
    return render(request, "web/bot.html", status, faq=await faq.list_faq(), locales=LOCALES,
                  rules=await rules.list_rules(), events=rule_spec.EVENTS,
                  agents=await users.agents(), q=q, locale=locale, tried=tried,
                  kinds=sorted(request.app[ADAPTERS].keys()), **ctx)


@page(Perm.BOT_READ)
async def bot_page(request: web.Request) -> web.Response:
    return await _bot(request)


async def _save_faq(request: web.Request, fid: int | None) -> web.StreamResponse:
    """Add (``fid`` None) or change an FAQ entry from the page's form; a refusal shows the
    page again with the message and what was typed."""
    form = request[FORM]
    try:
        await faq.save_faq(fid, {
            "locale": form_str(form, "locale"), "question": form_str(form, "question"),
            "variants": form_str(form, "variants").splitlines(),
            "answer": form_str(form, "answer"), "in_menu": form_str(form, "in_menu") == "on"})
    except NotFound:
        raise
    except InboxError as exc:
        return await _bot(request, exc.status, error=str(exc), editing=fid, typed=dict(form))
    raise web.HTTPFound("/admin/bot#faq")


@page(Perm.BOT_WRITE)
async def faq_add(request: web.Request) -> web.StreamResponse:
    return await _save_faq(request, None)


@page(Perm.BOT_WRITE)
async def faq_edit(request: web.Request) -> web.StreamResponse:
    return await _save_faq(request, path_id(request, "fid"))


@page(Perm.BOT_WRITE)
async def faq_delete(request: web.Request) -> web.StreamResponse:
    if not await faq.delete_faq(path_id(request, "fid")):
        raise NotFound("FAQ entry", "faq_id")
    raise web.HTTPFound("/admin/bot#faq")


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


async def _canned(request: web.Request, status: int = 200, **ctx: Any) -> web.Response:
    ctx = {"error": None, "editing": None, "typed": {}, **ctx}
    return render(request, "web/canned.html", status, canned=await canned.list_canned(),
                  **ctx)


@page(Perm.CANNED_READ)
async def canned_page(request: web.Request) -> web.Response:
    return await _canned(request)


@page(Perm.CANNED_WRITE)
async def canned_add(request: web.Request) -> web.StreamResponse:
    form = request[FORM]
    try:
        await canned.add_canned(form_str(form, "shortcut"), form_str(form, "title"),
                                form_str(form, "body"))
    except NotFound:
        raise
    except InboxError as exc:  # the form again, with what was typed and why it was refused
        return await _canned(request, exc.status, error=str(exc), typed=dict(form))
    raise web.HTTPFound("/admin/canned")


@page(Perm.CANNED_WRITE)
async def canned_edit(request: web.Request) -> web.StreamResponse:
    form, cid = request[FORM], path_id(request, "canned_id")
    try:
        await canned.update_canned(cid, form_str(form, "shortcut"), form_str(form, "title"),
                                   form_str(form, "body"))
    except NotFound:
        raise
    except InboxError as exc:
        return await _canned(request, exc.status, error=str(exc), editing=cid, typed=dict(form))
    raise web.HTTPFound("/admin/canned")


@page(Perm.CANNED_WRITE)
async def canned_delete(request: web.Request) -> web.StreamResponse:
    if not await canned.delete_canned(path_id(request, "canned_id")):
        raise NotFound("canned reply", "canned_id")
    raise web.HTTPFound("/admin/canned")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/bot", bot_page)
    r.add_post("/admin/bot/faq", faq_add)
    r.add_post("/admin/bot/faq/{fid}", faq_edit)
    r.add_post("/admin/bot/faq/{fid}/delete", faq_delete)
    r.add_post("/admin/bot/rules", rule_add)
    r.add_post("/admin/bot/rules/{rid}", rule_toggle)
    rule_page.setup(app)
    r.add_get("/admin/canned", canned_page)
    r.add_post("/admin/canned", canned_add)
    r.add_post("/admin/canned/{canned_id}", canned_edit)
    r.add_post("/admin/canned/{canned_id}/delete", canned_delete)
