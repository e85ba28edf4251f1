"""Contacts: list, read, create, change, merge and delete; and the look-ups channels make
about the contact behind an external id. Shared by the pages, the REST API and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.core.auth import Perm
from bot.core.clean import fit, fit_key
from bot.core.errors import InboxError, NotFound
from bot.core.fields import FieldPerms
from bot.core.i18n import lazy
from bot.core.ingest import EMAIL_LEN, ID_LEN, LOCALE_LEN, NAME_LEN, PHONE_LEN
from bot.models import Contact, Conversation, Identity, Message
from bot.services import attachments
from bot.services.reports import shop_facts


class HasConversations(InboxError):
    status = 409

    def __init__(self) -> None:
        super().__init__(lazy("this contact has conversations; merge it into another "
                              "instead"), "has_conversations")


def contact_out(c: Contact) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "email": c.email, "phone": c.phone,
            "locale": c.locale, "attributes": dict(c.attributes or {}),
            "tags": list(c.tags or []), "created_at": c.created_at}


# The fields of contact_detail() from another domain, and who may read them
# (bot.core.fields.readable): a contact's conversations, with their previews, are the inbox's.
DETAIL_PERMS: FieldPerms = {"conversations": Perm.INBOX_READ}


async def contact_detail(contact_id: int) -> dict[str, Any]:
    """A contact with identities on every channel and all their conversations."""
    contact = await Contact.filter(id=contact_id).first()
    if contact is None:
        raise NotFound("contact", "contact_id")
    idents = await Identity.filter(contact_id=contact_id).order_by("id").values(
        "channel_account_id", "channel_account__kind", "channel_account__name", "external_id")
    convs = await Conversation.filter(contact_id=contact_id).order_by("-last_message_at").values(
        "id", "status", "channel_kind", "last_message_at", "last_message_preview")
    return {**contact_out(contact),
            "identities": [{"channel_account_id": i["channel_account_id"],
                            "channel": i["channel_account__kind"],
                            "account_name": i["channel_account__name"],
                            "external_id": i["external_id"]} for i in idents],
            "conversations": [{"id": c["id"], "status": str(c["status"]),
                               "channel": c["channel_kind"],
                               "last_message_at": c["last_message_at"],
                               "preview": c["last_message_preview"]} for c in convs]}


async def list_contacts(q: str | None, page: int, per_page: int) -> dict[str, Any]:
    qs = Contact.all()
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(phone__icontains=q))
    total = await qs.count()
    rows = await qs.order_by("-id").offset((page - 1) * per_page).limit(per_page)
    return {"items": [contact_out(c) for c in rows], "total": total, "page": page,
            "per_page": per_page}


async def create_contact(values: Mapping[str, Any]) -> Contact:
    return await Contact.create(**values)


async def update_contact(contact_id: int, changes: Mapping[str, Any]) -> Contact:
    contact = await Contact.filter(id=contact_id).first()
    if contact is None:
        raise NotFound("contact", "contact_id")
    for key, value in changes.items():
        setattr(contact, key, value)
    await contact.save()
    return contact


async def delete_contact(contact_id: int) -> None:
    """Delete a contact that has no conversations (one that has is merged instead). One
    that arrives between the check and the delete is refused by its foreign key; that is
    the same refusal (409), with nothing deleted."""
    if await Conversation.filter(contact_id=contact_id).exists():
        raise HasConversations()
    try:
        async with in_transaction() as conn:
            if not await Contact.filter(id=contact_id).using_db(conn).delete():
                raise NotFound("contact", "contact_id")
            await shop_facts.forget(conn, [contact_id])  # its shop events went with it
    except IntegrityError:
        if await Conversation.filter(contact_id=contact_id).exists():
            raise HasConversations() from None
        raise


async def merge_contacts(keep_id: int, merge_id: int) -> Contact:
    """Fold contact ``merge_id`` into ``keep_id``: identities, conversations, missing fields,
    attributes and tags move over, then the merged contact is deleted."""
    if keep_id == merge_id:
        raise InboxError(lazy("cannot merge a contact into itself"), "invalid", "merge_id")
    async with in_transaction() as conn:
        keep = await Contact.filter(id=keep_id).using_db(conn).first()
        other = await Contact.filter(id=merge_id).using_db(conn).first()
        if keep is None:
            raise NotFound("contact", "id")
        if other is None:
            raise NotFound("contact", "merge_id")
        await Identity.filter(contact_id=merge_id).using_db(conn).update(contact_id=keep_id)
        await Conversation.filter(contact_id=merge_id).using_db(conn).update(contact_id=keep_id)
        for f in ("name", "email", "phone", "locale"):
            if not getattr(keep, f) and getattr(other, f):
                setattr(keep, f, getattr(other, f))
        keep.attributes = {**(other.attributes or {}), **(keep.attributes or {})}
        keep.tags = sorted(set(keep.tags or []) | set(other.tags or []))
        await keep.save(using_db=conn)
        await other.delete(using_db=conn)  # its shop events with it: out of the roll-ups,
        await shop_facts.forget(conn, [merge_id], recompute=keep_id)  # and keep's source
    return keep


# --- what channels ask about the contact behind an external id (ChannelContext) -------------

async def thread_known(account_id: int, thread_key: str) -> bool:
    """Whether a conversation on this thread of the account exists."""
    return await Conversation.filter(channel_account_id=account_id,
                                     thread_key=fit_key(thread_key, ID_LEN)).exists()


async def contact_history(account_id: int, external_id: str) -> list[dict[str, Any]]:
    """The contact's newest 500 messages on this account, oldest first, each with its
    stored files (``files``: id, file_name, content_type, size)."""
    ident = await Identity.filter(channel_account_id=account_id,
                                  external_id=fit_key(external_id, ID_LEN)
                                  ).prefetch_related("contact").first()
    if ident is None:
        return []
    conv_ids = await Conversation.filter(contact_id=ident.contact.id,
                                         channel_account_id=account_id).values_list("id",
                                                                                    flat=True)
    rows = await Message.filter(conversation_id__in=list(conv_ids)).order_by("-id").limit(
        500).values("id", "direction", "text", "created_at", "external_id", "buttons")
    known = bool(ident.contact.email)
    prefix = external_id + ":"
    files = await attachments.of_messages([r["id"] for r in rows])
    return [{"id": r["id"], "direction": str(r["direction"]), "text": r["text"],
             "created_at": r["created_at"], "email_known": known,
             "buttons": r["buttons"] or [], "files": files.get(r["id"], []),
             "client_id": (r["external_id"] or "").removeprefix(prefix) or None}
            for r in reversed(rows)]  # the newest 500, oldest first


async def message_for_socket(message_id: int) -> dict[str, Any] | None:
    """A stored message as a chat socket shows it (the process holding a visitor's socket
    loads the reply another process delivered), or None."""
    row = await Message.filter(id=message_id).first().values(
        "id", "direction", "text", "created_at", "buttons")
    if not row:
        return None
    return {"id": row["id"], "direction": str(row["direction"]), "text": row["text"],
            "created_at": row["created_at"], "buttons": row["buttons"] or [],
            "files": await attachments.of_message(row["id"])}


async def update_contact_fields(account_id: int, external_id: str,
                                fields: dict[str, str]) -> bool:
    """Change the known contact behind an external id; False if there is none."""
    ident = await Identity.filter(channel_account_id=account_id,
                                  external_id=fit_key(external_id, ID_LEN)).first()
    if ident is None:
        return False
    # fitted as ingest fits them; an address too long to be one is not kept
    sizes = {"name": NAME_LEN, "phone": PHONE_LEN, "locale": LOCALE_LEN}
    fields = {k: fit(v, sizes[k]) if k in sizes else v for k, v in fields.items()
              if not (k == "email" and len(v) > EMAIL_LEN)}
    if not fields:
        return True
    await Contact.filter(id=ident.contact_id).update(**fields)  # type: ignore[attr-defined]
    return True
