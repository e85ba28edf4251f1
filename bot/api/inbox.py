"""The inbox's REST endpoints: conversations, messages (replies, retries, attachments),
notes, assignment, labels and status."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.api.schemas import inbox as s
from bot.api.schemas.common import Deleted
from bot.core import attachments as files
from bot.core.auth import Perm
from bot.core.channel import FetchesFiles
from bot.core.events import EventBus
from bot.core.http import ApiError, Call, Endpoint, json_out
from bot.core.keys import ADAPTERS, BUS, SETTINGS
from bot.models import ConversationStatus, CsatRating, Label, Message, Note
from bot.services import canned, inbox, labels, notes
from bot.services.replies import OUTBOX, account_info
from config import Settings


def _bus(call: Call) -> EventBus:
    return call.request.app[BUS]


async def list_conversations(call: Call) -> web.Response:
    q: s.ConversationQuery = call.query
    f = inbox.ListFilter(
        status=None if q.status == "all" else ConversationStatus(q.status), channel=q.channel,
        account_id=q.account_id, assignee=q.assignee, label=q.label, q=q.q, page=q.page,
        per_page=q.per_page)
    return json_out(await inbox.list_conversations(f, call.user))


async def conversation_detail(conversation_id: int) -> dict[str, Any]:
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


def message_out(m: Message) -> dict[str, Any]:
    return {"id": m.id, "conversation_id": m.conversation_id,  # type: ignore[attr-defined]
            "direction": str(m.direction), "text": m.text, "status": str(m.status),
            "error": m.error, "attempts": m.attempts, "created_at": m.created_at,
            "sent_at": m.sent_at}


def _kept(settings: Settings, meta: Any) -> Path | None:
    digest = meta.get("sha256") if isinstance(meta, dict) else None
    try:
        path = files.path_of(settings, str(digest))
    except ValueError:
        return None
    return path if path.is_file() else None


async def get_attachment(call: Call) -> web.StreamResponse:
    """Fetch a file the customer sent, from the channel, when staff open it."""
    msg = await Message.get_or_none(id=call.param("message_id")).prefetch_related(
        "channel_account")
    index = call.param("index")
    if msg is None or index >= len(msg.attachments):
        raise ApiError(404, "not_found", "no such attachment")
    meta = msg.attachments[index]
    kept = _kept(call.request.app[SETTINGS], meta)
    if kept is not None:  # stored when it arrived (bot.core.attachments)
        return web.FileResponse(kept, headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f"attachment; filename*=UTF-8''"
                                   f"{quote(str(meta.get('file_name') or 'file'), safe='')}",
            "X-Content-Type-Options": "nosniff"})
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
    text = await canned.reply_text(cid, body.text, body.canned_reply_id)
    key = body.idempotency_key
    # The key is the user's, across conversations: the same key again returns the reply
    # it stored, and sends nothing; with another text or conversation it is refused.
    msg = await call.request.app[OUTBOX].send(
        cid, text, call.user, reply_to_id=body.reply_to_message_id,
        source_ref=None if key is None else f"api:{call.user.id if call.user else 0}:{key}")
    if key is not None and (msg.conversation_id != cid  # type: ignore[attr-defined]
                            or msg.text != text):
        raise ApiError(409, "idempotency_conflict",
                       f"idempotency_key {key!r} was used for another reply (another text "
                       "or conversation); use a new key for a new reply", "idempotency_key")
    return json_out(message_out(msg), 201)


async def reply_privately(call: Call) -> web.Response:
    msg = await call.request.app[OUTBOX].reply_privately(call.param("message_id"),
                                                         call.body.text, call.user)
    return json_out(message_out(msg), 201)


async def retry_message(call: Call) -> web.Response:
    msg = await call.request.app[OUTBOX].retry(call.param("message_id"))
    return json_out(message_out(msg))


async def mark_read(call: Call) -> web.Response:
    cid = call.param("conversation_id")
    await inbox.get_conversation(cid)
    await inbox.mark_read(cid, _bus(call))
    return json_out({"conversation_id": cid, "unread_count": 0})


def note_out(n: Note, revisions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": n.id, "conversation_id": n.conversation_id,  # type: ignore[attr-defined]
            "text": n.text, "author_id": n.author_id,  # type: ignore[attr-defined]
            "created_at": n.created_at, "updated_at": n.updated_at,
            "deleted_at": n.deleted_at,
            "deleted_by_id": n.deleted_by_id,  # type: ignore[attr-defined]
            "revisions": revisions or []}


async def add_note(call: Call) -> web.Response:
    assert call.user is not None
    note = await inbox.add_note(call.param("conversation_id"), call.user, call.body.text,
                                _bus(call))
    return json_out(note_out(note), 201)


async def note_with_history(note_id: int) -> dict[str, Any]:
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


async def delete_note(call: Call) -> web.Response:
    assert call.user is not None
    await notes.delete_note(call.param("note_id"), call.user, _bus(call))
    return json_out({"deleted": True})


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
    conv = await inbox.set_status(cid, body.status, body.snoozed_until, _bus(call),
                                  actor_id=call.user.id if call.user else None)
    return json_out({"conversation_id": cid, "status": conv.status,
                     "snoozed_until": conv.snoozed_until})


async def list_labels(call: Call) -> web.Response:
    return json_out(await Label.all().order_by("name").values("id", "name", "color"))


async def update_label(call: Call) -> web.Response:
    """Rename and recolour a label, for every conversation (as the labels page)."""
    b: s.LabelIn = call.body
    label = await labels.update_label(call.param("label_id"), b.name, b.color, _bus(call))
    return json_out({"id": label.id, "name": label.name, "color": label.color})


async def delete_label(call: Call) -> web.Response:
    await labels.delete_label(call.param("label_id"), _bus(call))
    return json_out({"deleted": True})


def endpoints() -> list[Endpoint]:
    C, P, E = "/api/v1/conversations", Perm, Endpoint
    conv = C + "/{conversation_id}"
    return [
        E("GET", C, list_conversations, "List conversations with filters and counts",
          "Inbox", P.INBOX_READ, query=s.ConversationQuery, response=s.ConversationPage),
        E("GET", conv, get_conversation, "A conversation with its whole thread", "Inbox",
          P.INBOX_READ, response=s.ConversationDetail),
        E("GET", conv + "/messages", list_messages, "The messages of a conversation", "Inbox",
          P.INBOX_READ, response=s.ThreadItem, many=True),
        E("POST", conv + "/reply", reply, "Reply to the customer (text or canned reply)",
          "Inbox", P.INBOX_WRITE, body=s.ReplyIn, response=s.MessageOut, status=201,
          responses={409: "idempotency_key already used for another text or conversation"}),
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
        E("DELETE", "/api/v1/notes/{note_id}", delete_note,
          "Delete a note (its author or an admin; the record and history are kept)",
          "Inbox", P.INBOX_WRITE, response=Deleted,
          responses={403: "not the note's author nor an admin"}),
        E("POST", conv + "/assign", assign, "Assign to a user, me, round-robin, or nobody",
          "Inbox", P.INBOX_WRITE, body=s.AssignIn, response=s.AssignOut),
        E("PUT", conv + "/labels", set_labels, "Replace the conversation's labels", "Inbox",
          P.INBOX_WRITE, body=s.LabelsIn, response=s.LabelsOut),
        E("POST", conv + "/status", set_status, "Resolve, reopen, set pending, or snooze",
          "Inbox", P.INBOX_WRITE, body=s.StatusIn, response=s.StatusOut),
        E("GET", "/api/v1/labels", list_labels, "All labels", "Inbox", P.INBOX_READ,
          response=s.LabelOut, many=True),
        E("PUT", "/api/v1/labels/{label_id}", update_label,
          "Rename and recolour a label (its conversations keep it)", "Inbox",
          P.INBOX_WRITE, body=s.LabelIn, response=s.LabelOut),
        E("DELETE", "/api/v1/labels/{label_id}", delete_label,
          "Delete a label and take it off every conversation", "Inbox", P.INBOX_WRITE,
          response=Deleted),
    ]
