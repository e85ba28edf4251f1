"""The labels page: every label with its use; rename, recolour and delete one (for every
conversation at once), with the permission that creates labels (labelling a conversation)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.core.auth import FORM, Perm
from bot.core.errors import InboxError, NotFound
from bot.core.keys import BUS
from bot.core.pages import form_str, page, path_id, render
from bot.services import labels


async def _labels(request: web.Request, status: int = 200, **ctx: Any) -> web.Response:
    ctx = {"error": None, "editing": None, "typed": {}, **ctx}
    return render(request, "web/labels.html", status, labels=await labels.list_labels(),
                  chip=labels.chip, **ctx)


@page(Perm.INBOX_READ)
async def labels_page(request: web.Request) -> web.Response:
    return await _labels(request)


@page(Perm.INBOX_WRITE)
async def label_edit(request: web.Request) -> web.StreamResponse:
    form, lid = request[FORM], path_id(request, "lid")
    try:
        await labels.update_label(lid, form_str(form, "name"), form_str(form, "color"),
                                  request.app[BUS])
    except NotFound:
        raise
    except InboxError as exc:
        return await _labels(request, exc.status, error=str(exc), editing=lid,
                             typed=dict(form))
    raise web.HTTPFound("/admin/labels")


@page(Perm.INBOX_WRITE)
async def label_delete(request: web.Request) -> web.StreamResponse:
    await labels.delete_label(path_id(request, "lid"), request.app[BUS])
    raise web.HTTPFound("/admin/labels")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/labels", labels_page)
    r.add_post("/admin/labels/{lid}", label_edit)
    r.add_post("/admin/labels/{lid}/delete", label_delete)
