"""The contact pages: search, a contact with identities and conversations, edit, merge,
delete (the erasure a customer may ask for: the service's, as the API's DELETE does)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from bot.core.auth import FORM, USER, Perm
from bot.core.clean import db_id
from bot.core.errors import InboxError
from bot.core.fields import readable
from bot.core.i18n import _, lazy
from bot.core.pages import form_str, page, path_id, render
from bot.services import contacts as service
from bot.web.common import page_number


def _notice(query: Mapping[str, str]) -> str:
    """What the last action on a contact did ("Contact #3 was deleted."), or nothing."""
    deleted = query.get("deleted", "")
    if not (deleted.isdecimal() and len(deleted) < 19):
        return ""
    return _("Contact #%(id)s was deleted.", id=int(deleted))


@page(Perm.CONTACTS_READ)
async def contacts(request: web.Request) -> web.Response:
    data = await service.list_contacts(request.query.get("q") or None,
                                       page_number(request.query), 50)
    return render(request, "web/contacts.html", data=data, q=request.query.get("q", ""),
                  notice=_notice(request.query))


async def _contact_page(request: web.Request, cid: int, status: int = 200,
                        error: str = "") -> web.Response:
    detail = await service.contact_detail(cid)
    # the same field -> permission map as the API (bot.core.fields): a marketer sees no
    # conversations
    return render(request, "web/contact.html", status=status, error=error,
                  c=readable(detail, service.DETAIL_PERMS, request.get(USER)))


@page(Perm.CONTACTS_READ)
async def contact(request: web.Request) -> web.Response:
    return await _contact_page(request, path_id(request, "contact_id"))


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


@page(Perm.CONTACTS_WRITE)
async def contact_delete(request: web.Request) -> web.StreamResponse:
    """Delete the contact (the form is behind a confirming step on its page); one with
    conversations is refused (409: merge it instead), shown on its page again."""
    cid = path_id(request, "contact_id")
    try:
        await service.delete_contact(cid)
    except service.HasConversations as exc:
        return await _contact_page(request, cid, exc.status, str(exc))
    raise web.HTTPSeeOther(f"/contacts?deleted={cid}")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/contacts", contacts)
    r.add_get("/contacts/{contact_id}", contact)
    r.add_post("/contacts/{contact_id}", contact_save)
    r.add_post("/contacts/{contact_id}/merge", contact_merge)
    r.add_post("/contacts/{contact_id}/delete", contact_delete)
