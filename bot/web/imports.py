"""The admin page of what the channel loops could not import (bot.services.quarantine):
the quarantined items with their source, key, error and tries (the raw body only on an
item's own page); dismiss one, or try it again: stored now where its channel can replay
the raw body (a Telegram update), else when its source offers it again."""

from __future__ import annotations

from aiohttp import web

from bot.core.auth import FORM, Perm
from bot.core.errors import InboxError
from bot.core.i18n import _, lazy
from bot.core.keys import ADAPTERS
from bot.core.pages import form_str, page, path_id, render
from bot.services import quarantine

SHOWN = 200
PREVIEW = 20_000  # characters of a raw body shown on its page
OUTCOMES = {"stored": lazy("Tried again: stored."),
            "waiting": lazy("Its tries start over: it is stored when its source offers it "
                            "again (a mail still unread, a review still listed; a feed entry "
                            "that is not new again is not offered again).")}


async def _list(request: web.Request, flash: str = "") -> web.Response:
    return render(request, "web/imports.html", items=await quarantine.summaries(SHOWN),
                  shown=SHOWN, flash=flash,
                  replayable=quarantine.replayable(request.app[ADAPTERS]))


@page(Perm.CHANNELS)
async def imports_page(request: web.Request) -> web.Response:
    return await _list(request)


@page(Perm.CHANNELS)
async def import_item(request: web.Request) -> web.Response:
    item = await quarantine.failure(path_id(request, "fid"))
    return render(request, "web/import_item.html", f=item, preview=item.body[:PREVIEW],
                  more=max(len(item.body) - PREVIEW, 0),
                  replayable=quarantine.replayable(request.app[ADAPTERS]))


@page(Perm.CHANNELS)
async def imports_act(request: web.Request) -> web.StreamResponse:
    failure_id, action = path_id(request, "fid"), form_str(request[FORM], "action")
    if action == "dismiss":
        await quarantine.dismiss(failure_id)
    elif action == "retry":
        outcome = await quarantine.retry(failure_id, request.app[ADAPTERS])
        said = OUTCOMES.get(outcome) or _("tried again and %(outcome)s (it stays here).",
                                          outcome=outcome)
        return await _list(request, f"#{failure_id}: {said}")
    else:
        raise InboxError(lazy("action must be dismiss or retry"), "invalid", "action")
    raise web.HTTPFound("/admin/imports")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/imports", imports_page)
    app.router.add_get("/admin/imports/{fid}", import_item)
    app.router.add_post("/admin/imports/{fid}", imports_act)
