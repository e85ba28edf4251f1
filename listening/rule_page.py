"""A listening rule's own page: change its name, kind, query, languages and whether it is
on (the same checks as adding one, :mod:`listening.ruleset`), or delete it with its
mentions after a confirming step. A refusal shows the form again with what was typed."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.core.auth import FORM, Perm
from bot.core.errors import InboxError
from bot.core.pages import form_str, page, path_id, render
from listening import ruleset


def _langs(raw: str) -> list[str]:
    return [x.strip().lower() for x in raw.replace(";", ",").split(",") if x.strip()]


async def _form(request: web.Request, rid: int, values: dict[str, Any], status: int = 200,
                error: str = "") -> web.Response:
    return render(request, "web/listening_rule.html", status=status, rid=rid, v=values,
                  kinds=ruleset.KINDS, error=error)


@page(Perm.LISTENING_READ)
async def rule_page(request: web.Request) -> web.Response:
    rule = await ruleset.get_rule(path_id(request, "rid"))
    return await _form(request, rule.id, {
        "name": rule.name, "kind": rule.kind, "query": rule.query,
        "languages": ", ".join(rule.languages), "enabled": rule.enabled})


@page(Perm.LISTENING_WRITE)
async def rule_save(request: web.Request) -> web.StreamResponse:
    rid, form = path_id(request, "rid"), request[FORM]
    await ruleset.get_rule(rid)  # 404 before anything else
    name, kind, query = form_str(form, "name"), form_str(form, "kind"), form_str(form, "query")
    langs, enabled = form_str(form, "languages"), form.get("enabled") == "on"
    typed = {"name": name, "kind": kind, "query": query, "languages": langs,
             "enabled": enabled}
    try:
        await ruleset.change_rule(rid, name=name, kind=kind, query=query,
                                  languages=_langs(langs), enabled=enabled)
    except InboxError as exc:
        return await _form(request, rid, typed, exc.status, str(exc))
    raise web.HTTPFound("/listening#rules")


@page(Perm.LISTENING_WRITE)
async def rule_delete(request: web.Request) -> web.StreamResponse:
    await ruleset.delete_rule(path_id(request, "rid"))
    raise web.HTTPFound("/listening#rules")


def setup(app: web.Application) -> None:
    app.router.add_get("/listening/rules/{rid}", rule_page)
    app.router.add_post("/listening/rules/{rid}", rule_save)
    app.router.add_post("/listening/rules/{rid}/delete", rule_delete)
