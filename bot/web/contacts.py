"""The contact pages: search, a contact with identities and conversations, edit, merge."""

from __future__ import annotations

from aiohttp import web

from bot.core.auth import FORM, USER, Perm
from bot.core.clean import db_id
from bot.core.errors import InboxError
from bot.core.fields import readable
from bot.core.i18n import lazy
from bot.core.pages import form_str, page, path_id, render
from bot.services import contacts as service
from bot.web.common import page_number


@page(Perm.CONTACTS_READ)
async def contacts(request: web.Request) -> web.Response:
    data = await service.list_contacts(request.query.get("q") or None,
                                       page_number(request.query), 50)
    return render(request, "web/contacts.html", data=data, q=request.query.get("q", ""))


@page(Perm.CONTACTS_READ)
async def contact(request: web.Request) -> web.Response:
    detail = await service.contact_detail(path_id(request, "contact_id"))
    # the same field -> permission map as the API (bot.core.fields): a marketer sees no
    # conversations
    return render(request, "web/contact.html",
                  c=readable(detail, service.DETAIL_PERMS, request.get(USER)))


@page(Perm.CONTACTS_WRITE)
async def contact_save(request: web.Request) -> web.StreamResponse:
    cid, form = path_id(request, "contact_id"), request[FORM]
    attrs = {}
    for line in form_str(form, "attributes").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            attrs[key.strip()] = value.strip()
    await service.update_contact(cid, {
        "name": form_str(form, "name"), "email": form_str(form, "email") or None,
        "phone": form_str(form, "phone") or None, "locale": form_str(form, "locale") or None,
        "tags": sorted({t.strip() for t in form_str(form, "tags").split(",") if t.strip()}),
        "attributes": attrs})
    raise web.HTTPFound(f"/contacts/{cid}")


@page(Perm.CONTACTS_WRITE)
async def contact_merge(request: web.Request) -> web.StreamResponse:
    cid, other = path_id(request, "contact_id"), db_id(form_str(request[FORM], "merge_id"))
    if other is None:
        raise InboxError(lazy("give the id of the contact to merge in"), "invalid", "merge_id")
    await service.merge_contacts(cid, other)
    raise web.HTTPFound(f"/contacts/{cid}")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/contacts", contacts)
    r.add_get("/contacts/{contact_id}", contact)
    r.add_post("/contacts/{contact_id}", contact_save)
    r.add_post("/contacts/{contact_id}/merge", contact_merge)
