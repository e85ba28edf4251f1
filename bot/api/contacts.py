"""The contacts' REST endpoints."""

from __future__ import annotations

from aiohttp import web

from bot.api.schemas import contacts as s
from bot.api.schemas.common import Deleted
from bot.core.auth import Perm
from bot.core.fields import readable
from bot.core.http import Call, Endpoint, json_out
from bot.services import contacts as service


async def list_contacts(call: Call) -> web.Response:
    q: s.PageQuery = call.query
    return json_out(await service.list_contacts(q.q, q.page, q.per_page))


async def _detail(call: Call, contact_id: int, status: int = 200) -> web.Response:
    """The contact as the caller's role may read it (bot.core.fields)."""
    detail = await service.contact_detail(contact_id)
    return json_out(readable(detail, service.DETAIL_PERMS, call.user), status)


async def create_contact(call: Call) -> web.Response:
    contact = await service.create_contact(call.body.model_dump())
    return await _detail(call, contact.id, 201)


async def get_contact(call: Call) -> web.Response:
    return await _detail(call, call.param("contact_id"))


async def update_contact(call: Call) -> web.Response:
    cid = call.param("contact_id")
    await service.update_contact(cid, call.body.model_dump(exclude_unset=True))
    return await _detail(call, cid)


async def delete_contact(call: Call) -> web.Response:
    await service.delete_contact(call.param("contact_id"))
    return json_out({"deleted": True})


async def merge_contact(call: Call) -> web.Response:
    cid = call.param("contact_id")
    await service.merge_contacts(cid, call.body.merge_id)
    return await _detail(call, cid)


def endpoints() -> list[Endpoint]:
    P, E = Perm, Endpoint
    return [
        E("GET", "/api/v1/contacts", list_contacts, "List or search contacts", "Contacts",
          P.CONTACTS_READ, query=s.PageQuery, response=s.ContactPage),
        E("POST", "/api/v1/contacts", create_contact, "Create a contact", "Contacts",
          P.CONTACTS_WRITE, body=s.ContactIn, response=s.ContactOut, status=201),
        E("GET", "/api/v1/contacts/{contact_id}", get_contact,
          "A contact with identities and conversations", "Contacts", P.CONTACTS_READ,
          response=s.ContactOut),
        E("PATCH", "/api/v1/contacts/{contact_id}", update_contact, "Change a contact",
          "Contacts", P.CONTACTS_WRITE, body=s.ContactPatch, response=s.ContactOut),
        E("DELETE", "/api/v1/contacts/{contact_id}", delete_contact,
          "Delete a contact without conversations", "Contacts", P.CONTACTS_WRITE,
          response=Deleted, responses={409: "contact has conversations"}),
        E("POST", "/api/v1/contacts/{contact_id}/merge", merge_contact,
          "Merge another contact into this one", "Contacts", P.CONTACTS_WRITE,
          body=s.MergeIn, response=s.ContactOut),
    ]
