"""The admin page of what the channel loops could not import (bot.services.quarantine):
each quarantined item with its source, error and raw body; dismiss it, or try it again
when its source offers it again."""

from __future__ import annotations

from aiohttp import web

from bot.core.auth import FORM, Perm
from bot.core.errors import InboxError
from bot.core.pages import form_str, page, path_id, render
from bot.services import quarantine

SHOWN = 200


@page(Perm.CHANNELS)
async def imports_page(request: web.Request) -> web.Response:
    items = await quarantine.quarantined(SHOWN)
    return render(request, "web/imports.html", items=items, shown=SHOWN)


@page(Perm.CHANNELS)
async def imports_act(request: web.Request) -> web.StreamResponse:
    failure_id, action = path_id(request, "fid"), form_str(request[FORM], "action")
    if action == "dismiss":
        await quarantine.dismiss(failure_id)
    elif action == "retry":
        await quarantine.retry(failure_id)
    else:
        raise InboxError("action must be dismiss or retry", "invalid", "action")
    raise web.HTTPFound("/admin/imports")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/imports", imports_page)
    app.router.add_post("/admin/imports/{fid}", imports_act)
