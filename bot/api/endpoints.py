"""REST API handlers under ``/api/v1``. Each is declared once in :func:`endpoints`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.api import schemas as s
from bot.core.auth import Perm
from bot.core.cache import forget_all
from bot.core.channel import FetchesFiles
from bot.core.http import ApiError, Call, Endpoint, Handler, json_out, openapi
from bot.core.keys import ADAPTERS, BUS, ENDPOINTS
from bot.models import (
    CannedReply,
    ChannelAccount,
    Contact,
    Conversation,
    ConversationStatus,
    CsatRating,
    FaqEntry,
    Label,
    Message,
    Note,
    Rule,
    User,
)
from bot.services import accounts as services
from bot.services import inbox
from bot.services.flows.customer import lookup
from bot.services.replies import OUTBOX, account_info, render_canned
from listening.api import endpoints as listening_endpoints
from scheduler.marketing.api import endpoints as marketing_endpoints
from scheduler.posts.api import endpoints as post_endpoints


def _bus(call: Call):  # type: ignore[no-untyped-def]
    return call.request.app[BUS]


# --- conversations --------------------------------------------------------------------------

async def list_conversations(call: Call) -> web.Response:
    q: s.ConversationQuery = call.query
    f = inbox.ListFilter(
        status=None if q.status == "all" else ConversationStatus(q.status), channel=q.channel,
        account_id=q.account_id, assignee=q.assignee, label=q.label, q=q.q, page=q.page,
        per_page=q.per_page)
    return json_out(await inbox.list_conversations(f, call.user))


async def conversation_detail(conversation_id: int) -> dict:  # type: ignore[type-arg]
    conv = await inbox.get_conversation(conversation_id)
    return {"id": conv.id, "status": conv.status, "channel": conv.channel_kind,
            "channel_account_id": conv.channel_account_id,  # type: ignore[attr-defined]
            "contact": {"id": conv.contact.id, "name": conv.contact.name,
                        "email": conv.contact.email},
            "assignee_id": conv.assignee_id,  # type: ignore[attr-defined]
            "labels": sorted(lb.name for lb in conv.labels),
            "snoozed_until": conv.snoozed_until, "thread_id": conv.thread_key,
            "unread_count": conv.unread_count, "needs_human": conv.needs_human,
            "public": conv.is_public,
            "ratings": await CsatRating.filter(conversation_id=conv.id).order_by("-id").values(
                "rating", "created_at"),
            "thread": await inbox.thread(conv.id)}


async def get_conversation(call: Call) -> web.Response:
    return json_out(await conversation_detail(call.param("conversation_id")))


async def list_messages(call: Call) -> web.Response:
    cid = call.param("conversation_id")
    await inbox.get_conversation(cid)
    return json_out([i for i in await inbox.thread(cid) if i["type"] == "message"])


def message_out(m) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return {"id": m.id, "conversation_id": m.conversation_id, "direction": str(m.direction),
            "text": m.text, "status": str(m.status), "error": m.error, "attempts": m.attempts,
            "created_at": m.created_at, "sent_at": m.sent_at}


async def get_attachment(call: Call) -> web.StreamResponse:
    """Fetch a file the customer sent, from the channel, when staff open it."""
    msg = await Message.get_or_none(id=call.param("message_id")).prefetch_related(
        "channel_account")
    index = call.param("index")
    if msg is None or index >= len(msg.attachments):
        raise ApiError(404, "not_found", "no such attachment")
    meta = msg.attachments[index]
    account = msg.channel_account
    adapter = call.request.app[ADAPTERS].get(account.kind)
    if not isinstance(adapter, FetchesFiles) or not meta.get("file_id"):
        raise ApiError(404, "not_found", f"{account.kind} keeps no fetchable files")
    try:
        data, path = await adapter.fetch_file(account_info(account), meta["file_id"])
    except Exception as exc:
        raise ApiError(502, "channel_error", f"the channel did not give the file: {exc}"
                       ) from exc
    name = meta.get("file_name") or path.rsplit("/", 1)[-1] or f"attachment-{index}"
    return web.Response(body=data, content_type=meta.get("mime_type") or
                        "application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "X-Content-Type-Options": "nosniff"})


async def reply(call: Call) -> web.Response:
    cid = call.param("conversation_id")
    body: s.ReplyIn = call.body
    text = await reply_text(cid, body.text, body.canned_reply_id)
    msg = await call.request.app[OUTBOX].send(cid, text, call.user,
                                              reply_to_id=body.reply_to_message_id)
    return json_out(message_out(msg), 201)


async def reply_privately(call: Call) -> web.Response:
    msg = await call.request.app[OUTBOX].reply_privately(call.param("message_id"),
                                                         call.body.text, call.user)
    return json_out(message_out(msg), 201)


async def reply_text(conversation_id: int, text: str | None, canned_id: int | None) -> str:
    """The text to send: given, or a canned reply rendered for the conversation's contact."""
    if canned_id is not None:
        canned = await CannedReply.filter(id=canned_id).first()
        if canned is None:
            raise ApiError(404, "not_found", "canned reply not found", "canned_reply_id")
        conv = await inbox.get_conversation(conversation_id)
        return render_canned(canned.body, conv.contact)
    if not text:
        raise ApiError(422, "invalid", "give text or canned_reply_id", "text")
    return text


async def retry_message(call: Call) -> web.Response:
    msg = await call.request.app[OUTBOX].retry(call.param("message_id"))
    return json_out(message_out(msg))


async def mark_read(call: Call) -> web.Response:
    cid = call.param("conversation_id")
    await inbox.get_conversation(cid)
    await inbox.mark_read(cid, _bus(call))
    return json_out({"conversation_id": cid, "unread_count": 0})


def note_out(n: Note, revisions: list | None = None) -> dict:  # type: ignore[type-arg]
    return {"id": n.id, "conversation_id": n.conversation_id,  # type: ignore[attr-defined]
            "text": n.text, "author_id": n.author_id,  # type: ignore[attr-defined]
            "created_at": n.created_at, "updated_at": n.updated_at,
            "revisions": revisions or []}


async def add_note(call: Call) -> web.Response:
    assert call.user is not None
    note = await inbox.add_note(call.param("conversation_id"), call.user, call.body.text,
                                _bus(call))
    return json_out(note_out(note), 201)


async def note_with_history(note_id: int) -> dict:  # type: ignore[type-arg]
    note = await Note.filter(id=note_id).first()
    if note is None:
        raise ApiError(404, "not_found", "note not found", "note_id")
    revs = await note.revisions.all().order_by("id").values("text", "edited_by_id",
                                                            "created_at")
    return note_out(note, revs)


async def get_note(call: Call) -> web.Response:
    return json_out(await note_with_history(call.param("note_id")))


async def edit_note(call: Call) -> web.Response:
    assert call.user is not None
    note_id = call.param("note_id")
    await inbox.edit_note(note_id, call.user, call.body.text, _bus(call))
    return json_out(await note_with_history(note_id))


async def assign(call: Call) -> web.Response:
    cid = call.param("conversation_id")
    who = call.body.assignee
    if who == "me":
        assert call.user is not None
        who = call.user.id
    conv = await inbox.assign(cid, who, _bus(call))
    return json_out({"conversation_id": cid, "assignee_id": conv.assignee_id})  # type: ignore[attr-defined]


async def set_labels(call: Call) -> web.Response:
    cid = call.param("conversation_id")
    labels = await inbox.set_labels(cid, call.body.labels, _bus(call))
    return json_out({"conversation_id": cid, "labels": labels})


async def set_status(call: Call) -> web.Response:
    cid = call.param("conversation_id")
    body: s.StatusIn = call.body
    conv = await inbox.set_status(cid, body.status, body.snoozed_until, _bus(call))
    return json_out({"conversation_id": cid, "status": conv.status,
                     "snoozed_until": conv.snoozed_until})


async def list_labels(call: Call) -> web.Response:
    return json_out(await Label.all().order_by("name").values("id", "name", "color"))


# --- contacts -------------------------------------------------------------------------------

async def list_contacts(call: Call) -> web.Response:
    q: s.PageQuery = call.query
    return json_out(await services.list_contacts(q.q, q.page, q.per_page))


async def create_contact(call: Call) -> web.Response:
    contact = await Contact.create(**call.body.model_dump())
    return json_out(await services.contact_detail(contact.id), 201)


async def get_contact(call: Call) -> web.Response:
    return json_out(await services.contact_detail(call.param("contact_id")))


async def update_contact(call: Call) -> web.Response:
    cid = call.param("contact_id")
    await services.update_contact(cid, call.body.model_dump(exclude_unset=True))
    return json_out(await services.contact_detail(cid))


async def delete_contact(call: Call) -> web.Response:
    cid = call.param("contact_id")
    if await Conversation.filter(contact_id=cid).exists():
        raise ApiError(409, "has_conversations",
                       "this contact has conversations; merge it into another instead")
    deleted = await Contact.filter(id=cid).delete()
    if not deleted:
        raise ApiError(404, "not_found", "contact not found", "contact_id")
    return json_out({"deleted": True})


async def merge_contact(call: Call) -> web.Response:
    cid = call.param("contact_id")
    await inbox.merge_contacts(cid, call.body.merge_id)
    return json_out(await services.contact_detail(cid))


# --- users, channels, canned replies ----------------------------------------------------------

async def list_users(call: Call) -> web.Response:
    return json_out([services.user_out(u) for u in await User.all().order_by("id")])


async def create_user(call: Call) -> web.Response:
    b: s.UserIn = call.body
    return json_out(await services.add_user(b.email, b.role, b.name, b.password), 201)


async def update_user(call: Call) -> web.Response:
    user = await services.update_user(call.param("user_id"),
                                      call.body.model_dump(exclude_unset=True))
    return json_out(services.user_out(user))


async def list_channels(call: Call) -> web.Response:
    return json_out([services.channel_out(a)
                     for a in await ChannelAccount.all().order_by("id")])


async def create_channel(call: Call) -> web.Response:
    b: s.ChannelIn = call.body
    created = await services.add_channel(call.request.app[ADAPTERS], b.kind, b.name,
                                         b.callback_url, b.settings)
    return json_out(created, 201)


async def update_channel(call: Call) -> web.Response:
    account = await services.update_channel(call.request.app[ADAPTERS],
                                            call.param("channel_id"),
                                            call.body.model_dump(exclude_unset=True))
    return json_out(services.channel_out(account))


# --- the bot's knowledge base and rules ---------------------------------------------------------

def _editable(model: type[FaqEntry] | type[Rule], key: str, what: str,
              save: Callable[[int | None, dict[str, Any]], Awaitable[Any]],
              out: Callable[[Any], dict[str, Any]]) -> tuple[Handler, Handler, Handler]:
    """Create, change (only the fields sent) and delete handlers for a simple resource."""
    async def create(call: Call) -> web.Response:
        return json_out(out(await save(None, call.body.model_dump())), 201)

    async def update(call: Call) -> web.Response:
        return json_out(out(await save(call.param(key),
                                        call.body.model_dump(exclude_unset=True))))

    async def delete(call: Call) -> web.Response:
        if not await model.filter(id=call.param(key)).delete():
            raise ApiError(404, "not_found", f"{what} not found", key)
        forget_all()  # cached rules
        return json_out({"deleted": True})

    noun = key.removesuffix("_id")
    for verb, fn in (("create", create), ("update", update), ("delete", delete)):
        fn.__name__ = fn.__qualname__ = f"{verb}_{noun}"  # routes are named after handlers
    return create, update, delete


create_faq, update_faq, delete_faq = _editable(FaqEntry, "faq_id", "FAQ entry",
                                               services.save_faq, services.faq_out)
create_rule, update_rule, delete_rule = _editable(Rule, "rule_id", "rule", services.save_rule,
                                                  services.rule_out)


async def list_faq(call: Call) -> web.Response:
    rows = await FaqEntry.all().order_by("locale", "position", "id")
    return json_out([services.faq_out(e) for e in rows])


async def match_faq(call: Call) -> web.Response:
    """Try the matcher: which answer would the bot give to this text?"""
    q: s.FaqQuery = call.query
    entry = await lookup(q.q, q.locale)
    return json_out({"entry": services.faq_out(entry) if entry else None})


async def list_rules(call: Call) -> web.Response:
    return json_out([services.rule_out(r) for r in await Rule.all().order_by("position", "id")])


async def list_canned(call: Call) -> web.Response:
    return json_out([services.canned_out(c)
                     for c in await CannedReply.all().order_by("shortcut")])


async def create_canned(call: Call) -> web.Response:
    b: s.CannedIn = call.body
    return json_out(services.canned_out(await services.add_canned(b.shortcut, b.title, b.body)),
                    201)


async def delete_canned(call: Call) -> web.Response:
    if not await CannedReply.filter(id=call.param("canned_id")).delete():
        raise ApiError(404, "not_found", "canned reply not found", "canned_id")
    return json_out({"deleted": True})


async def openapi_json(call: Call) -> web.Response:
    return json_out(openapi(call.request.app[ENDPOINTS], "1"))


def endpoints() -> list[Endpoint]:
    C, P = "/api/v1/conversations", Perm
    conv = C + "/{conversation_id}"
    E = Endpoint
    return [*post_endpoints(), *marketing_endpoints(), *listening_endpoints(),
        E("GET", C, list_conversations, "List conversations with filters and counts",
          "Inbox", P.INBOX_READ, query=s.ConversationQuery, response=s.ConversationPage),
        E("GET", conv, get_conversation, "A conversation with its whole thread", "Inbox",
          P.INBOX_READ, response=s.ConversationDetail),
        E("GET", conv + "/messages", list_messages, "The messages of a conversation", "Inbox",
          P.INBOX_READ, response=s.MessageOut),
        E("POST", conv + "/reply", reply, "Reply to the customer (text or canned reply)",
          "Inbox", P.INBOX_WRITE, body=s.ReplyIn, response=s.MessageOut, status=201),
        E("GET", "/api/v1/messages/{message_id}/attachments/{index}", get_attachment,
          "Download a file the customer sent (fetched from the channel)", "Inbox",
          P.INBOX_READ, responses={404: "no such attachment", 502: "the channel failed"}),
        E("POST", "/api/v1/messages/{message_id}/reply-privately", reply_privately,
          "Answer a public comment's author in a private conversation", "Inbox",
          P.INBOX_WRITE, body=s.PrivateReplyIn, response=s.MessageOut, status=201,
          responses={400: "the message is not a public comment"}),
        E("POST", "/api/v1/messages/{message_id}/retry", retry_message,
          "Send a failed reply again", "Inbox", P.INBOX_WRITE, response=s.MessageOut,
          responses={400: "the message is not a failed reply"}),
        E("POST", conv + "/read", mark_read, "Mark the conversation read", "Inbox",
          P.INBOX_WRITE),
        E("POST", conv + "/notes", add_note, "Add a private note", "Inbox", P.INBOX_WRITE,
          body=s.NoteIn, response=s.NoteOut, status=201),
        E("GET", "/api/v1/notes/{note_id}", get_note, "A note with its edit history",
          "Inbox", P.INBOX_READ, response=s.NoteOut),
        E("PATCH", "/api/v1/notes/{note_id}", edit_note, "Edit a note (history is kept)",
          "Inbox", P.INBOX_WRITE, body=s.NoteIn, response=s.NoteOut),
        E("POST", conv + "/assign", assign, "Assign to a user, me, round-robin, or nobody",
          "Inbox", P.INBOX_WRITE, body=s.AssignIn, response=s.AssignOut),
        E("PUT", conv + "/labels", set_labels, "Replace the conversation's labels", "Inbox",
          P.INBOX_WRITE, body=s.LabelsIn, response=s.LabelsOut),
        E("POST", conv + "/status", set_status, "Resolve, reopen, set pending, or snooze",
          "Inbox", P.INBOX_WRITE, body=s.StatusIn, response=s.StatusOut),
        E("GET", "/api/v1/labels", list_labels, "All labels", "Inbox", P.INBOX_READ,
          response=s.LabelOut),
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
          response=s.Deleted, responses={409: "contact has conversations"}),
        E("POST", "/api/v1/contacts/{contact_id}/merge", merge_contact,
          "Merge another contact into this one", "Contacts", P.CONTACTS_WRITE,
          body=s.MergeIn, response=s.ContactOut),
        E("GET", "/api/v1/users", list_users, "Staff users", "Admin", P.USERS,
          response=s.UserOut),
        E("POST", "/api/v1/users", create_user, "Add a staff user (token shown once)",
          "Admin", P.USERS, body=s.UserIn, response=s.UserCreated, status=201),
        E("PATCH", "/api/v1/users/{user_id}", update_user, "Change role, name, or disable",
          "Admin", P.USERS, body=s.UserPatch, response=s.UserOut),
        E("GET", "/api/v1/channels", list_channels, "Channel accounts", "Admin", P.CHANNELS,
          response=s.ChannelOut),
        E("POST", "/api/v1/channels", create_channel,
          "Add a channel account (secret shown once)", "Admin", P.CHANNELS,
          body=s.ChannelIn, response=s.ChannelCreated, status=201),
        E("PATCH", "/api/v1/channels/{channel_id}", update_channel,
          "Change a channel account (settings are checked again)", "Admin", P.CHANNELS,
          body=s.ChannelPatch, response=s.ChannelOut),
        E("GET", "/api/v1/faq", list_faq, "The bot's FAQ answers", "Bot", P.BOT_READ,
          response=s.FaqOut),
        E("POST", "/api/v1/faq", create_faq, "Add an FAQ answer", "Bot", P.BOT_WRITE,
          body=s.FaqIn, response=s.FaqOut, status=201),
        E("GET", "/api/v1/faq/match", match_faq, "Which answer the bot gives to a text",
          "Bot", P.BOT_READ, query=s.FaqQuery, response=s.FaqMatch),
        E("PATCH", "/api/v1/faq/{faq_id}", update_faq, "Change an FAQ answer", "Bot",
          P.BOT_WRITE, body=s.FaqPatch, response=s.FaqOut),
        E("DELETE", "/api/v1/faq/{faq_id}", delete_faq, "Delete an FAQ answer", "Bot",
          P.BOT_WRITE, response=s.Deleted),
        E("GET", "/api/v1/rules", list_rules, "Automation rules", "Bot", P.BOT_READ,
          response=s.RuleOut),
        E("POST", "/api/v1/rules", create_rule, "Add an automation rule", "Bot", P.BOT_WRITE,
          body=s.RuleIn, response=s.RuleOut, status=201),
        E("PATCH", "/api/v1/rules/{rule_id}", update_rule, "Change an automation rule",
          "Bot", P.BOT_WRITE, body=s.RulePatch, response=s.RuleOut),
        E("DELETE", "/api/v1/rules/{rule_id}", delete_rule, "Delete an automation rule",
          "Bot", P.BOT_WRITE, response=s.Deleted),
        E("GET", "/api/v1/canned-replies", list_canned, "Canned replies", "Inbox",
          P.CANNED_READ, response=s.CannedOut),
        E("POST", "/api/v1/canned-replies", create_canned, "Add a canned reply (jinja2)",
          "Inbox", P.CANNED_WRITE, body=s.CannedIn, response=s.CannedOut, status=201),
        E("DELETE", "/api/v1/canned-replies/{canned_id}", delete_canned,
          "Delete a canned reply", "Inbox", P.CANNED_WRITE, response=s.Deleted),
        E("GET", "/api/v1/openapi.json", openapi_json, "This document", "Meta", None,
          security="none"),
    ]
