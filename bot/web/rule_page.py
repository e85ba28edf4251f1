"""An automation rule's edit page (``/admin/bot/rules/{rid}/edit``): the same fields as the
add form on the bot page, filled in, saved through ``bot.services.rules.save_rule`` (the
API's too). What the form does not show (conditions and actions set through the API) is
kept as it is. Bad input shows the form again with the message (400)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.core.auth import FORM, Form, Perm
from bot.core.clean import db_id
from bot.core.errors import InboxError
from bot.core.http import api_status
from bot.core.i18n import _
from bot.core.keys import ADAPTERS
from bot.core.pages import form_str, page, path_id, render
from bot.models import Rule
from bot.services import rule_spec, rules, users

WORDS = ("channels", "keywords", "languages", "labels")
TEMPLATES = ("reply", "reply_private", "notify")
FORM_CONDITIONS = (*WORDS, "regex", "public", "time_of_day")
FORM_ACTIONS = (*TEMPLATES, "add_label", "assign", "resolve")


def _words(value: str) -> list[str] | None:
    items = [w.strip() for w in value.split(",") if w.strip()]
    return items or None


def conditions_of(f: Form) -> dict[str, Any]:
    """The conditions the rule form's fields describe."""
    out: dict[str, Any] = {k: v for k, v in {
        **{w: _words(form_str(f, w)) for w in WORDS}, "regex": form_str(f, "regex") or None,
        "public": {"yes": True, "no": False}.get(form_str(f, "public")),
    }.items() if v is not None}
    if form_str(f, "time_from") and form_str(f, "time_to"):
        out["time_of_day"] = {"from": form_str(f, "time_from"), "to": form_str(f, "time_to")}
    return out


def actions_of(f: Form) -> list[dict[str, Any]]:
    """The actions the rule form's fields describe."""
    out: list[dict[str, Any]] = [{"type": kind, "template": form_str(f, kind)}
                                 for kind in TEMPLATES if form_str(f, kind)]
    if form_str(f, "add_label"):
        out.append({"type": "add_label", "label": form_str(f, "add_label")})
    if who := form_str(f, "assign"):
        user_id = db_id(who)
        out.append({"type": "assign", "to": who if user_id is None else user_id})
    if form_str(f, "resolve") == "on":
        out.append({"type": "resolve"})
    return out


def fields_of(rule: Rule) -> dict[str, Any]:
    """The form's fields for a stored rule (the first action of each kind the form has)."""
    c = rule.conditions or {}
    v: dict[str, Any] = {"name": rule.name, "event": rule.event, "add_label": "",
                         "assign": "", "resolve": False, **{t: "" for t in TEMPLATES}}
    v.update({w: ", ".join(c.get(w) or []) for w in WORDS})
    v["regex"] = c.get("regex") or ""
    v["public"] = {True: "yes", False: "no"}.get(c.get("public"), "")  # type: ignore[arg-type]
    v["time_from"] = (c.get("time_of_day") or {}).get("from", "")
    v["time_to"] = (c.get("time_of_day") or {}).get("to", "")
    for a in reversed(rule.actions or []):
        kind = a.get("type")
        if kind in TEMPLATES:
            v[kind] = a.get("template", "")
        elif kind == "add_label":
            v["add_label"] = a.get("label", "")
        elif kind == "assign":
            v["assign"] = str(a.get("to", ""))
        elif kind == "resolve":
            v["resolve"] = True
    return v


def merged(rule: Rule, f: Form) -> dict[str, Any]:
    """The rule's new values: the form's fields, and what the form does not show kept."""
    kept_conditions = {k: v for k, v in (rule.conditions or {}).items()
                       if k not in FORM_CONDITIONS}
    seen: set[str] = set()
    kept_actions = []
    for a in rule.actions or []:  # beyond the first of each kind the form shows
        if a.get("type") in FORM_ACTIONS and a.get("type") not in seen:
            seen.add(str(a.get("type")))
        else:
            kept_actions.append(a)
    return {"name": form_str(f, "name") or rule.name, "event": form_str(f, "event"),
            "conditions": {**kept_conditions, **conditions_of(f)},
            "actions": [*actions_of(f), *kept_actions]}


async def _form(request: web.Request, rule: Rule, values: dict[str, Any], status: int = 200,
                error: str = "") -> web.Response:
    return render(request, "web/rule.html", status=status, rule=rule, v=values, error=error,
                  events=rule_spec.EVENTS, agents=await users.agents(),
                  kinds=sorted(request.app[ADAPTERS].keys()))


async def _rule(request: web.Request) -> Rule:
    rule = await Rule.filter(id=path_id(request, "rid")).first()
    if rule is None:
        raise web.HTTPNotFound(text=_("rule not found"))
    return rule


@page(Perm.BOT_WRITE)
async def rule_edit_form(request: web.Request) -> web.Response:
    rule = await _rule(request)
    return await _form(request, rule, fields_of(rule))


@page(Perm.BOT_WRITE)
async def rule_edit(request: web.Request) -> web.StreamResponse:
    rule, f = await _rule(request), request[FORM]
    try:
        await rules.save_rule(rule.id, merged(rule, f))
    except InboxError as exc:
        if api_status(exc) == 404:
            raise
        typed: dict[str, Any] = {k: form_str(f, k) for k in (
            "name", "event", *WORDS, "regex", "public", "time_from", "time_to", *TEMPLATES,
            "add_label", "assign")}
        typed["resolve"] = form_str(f, "resolve") == "on"
        return await _form(request, rule, typed, api_status(exc), str(exc))
    raise web.HTTPFound("/admin/bot#rules")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/bot/rules/{rid}/edit", rule_edit_form)
    app.router.add_post("/admin/bot/rules/{rid}/edit", rule_edit)
