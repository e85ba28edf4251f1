"""The unified inbox's pages: the list, a conversation and what staff do to it, and the
staff websocket that tells open pages to re-fetch their fragments."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import WSMsgType, web
from aiohttp.web_request import FileField
from babel.dates import format_timedelta

from bot.core import attachments as files
from bot.core import i18n, l10n
from bot.core.auth import FORM, USER, Perm, has_perm, session_of
from bot.core.clean import db_id
from bot.core.errors import InboxError
from bot.core.i18n import _, lazy
from bot.core.keys import BUS, SETTINGS
from bot.core.origins import check_origin, parse_origins
from bot.core.outfiles import MAX_REPLY_FILES
from bot.core.pages import error_page, form_str, page, path_id, render
from bot.core.time import utcnow
from bot.models import (
    ConversationStatus,
    CsatRating,
    Label,
    Note,
    SentimentCorrection,
    SentimentScore,
)
from bot.services import (
    accounts,
    attachments,
    canned,
    contacts,
    inbox,
    inbox_bulk,
    inbox_labels,
    inbox_urgency,
    notes,
    saved_views,
    users,
)
from bot.services.inbox import ListFilter
from bot.services.labels import chip
from bot.services.live import HUB
from bot.services.replies import OUTBOX
from bot.web.common import page_number
from config import Settings


def _filter_from(query: Mapping[str, str]) -> ListFilter:
    status = query.get("status", "open")
    try:
        st = None if status == "all" else ConversationStatus(status)
    except ValueError:
        raise web.HTTPBadRequest(text=_("Unknown status %(status)r", status=status)) from None
    assignee = query.get("assignee") or None
    if assignee not in (None, "me", "none") and db_id(assignee) is None:
        raise web.HTTPBadRequest(text=_("Unknown assignee %(assignee)r", assignee=assignee))
    sort = query.get("sort") or "recent"
    if sort not in inbox_urgency.SORTS:
        raise web.HTTPBadRequest(text=_("Unknown sort %(sort)r", sort=sort))
    return ListFilter(status=st, channel=query.get("channel") or None,
                      assignee=assignee, label=query.get("label") or None,
                      q=query.get("q") or None, sort=sort, page=page_number(query))


def waited(since: datetime | None) -> str:
    """How long a customer has waited, in the page's language ("3 hours")."""
    if since is None:
        return ""
    return format_timedelta(utcnow() - since, threshold=1, locale=i18n.current.get())


_KEPT = ("status", "channel", "assignee", "label", "q", "sort", "page")  # the list's filters


def _notice(query: Mapping[str, str]) -> str:
    """What the last bulk action did ("3 of 4 conversations changed."), or nothing."""
    changed, of = query.get("changed", ""), query.get("of", "")
    if not (changed.isdecimal() and of.isdecimal() and len(changed + of) < 10):
        return ""
    return _("%(changed)s of %(of)s conversations changed.", changed=int(changed), of=int(of))


@page(Perm.INBOX_WRITE)
async def inbox_bulk_action(request: web.Request) -> web.StreamResponse:
    """The list's bulk action (assign, label, resolve) on the checked conversations, then
    back to the list as it was, with how many changed."""
    form, me = request[FORM], request[USER]
    ids = [i for v in form.getall("id", []) if isinstance(v, str) and (i := db_id(v)) is not None]
    who = form_str(form, "assignee")
    changed = await inbox_bulk.apply(
        ids, form_str(form, "action"), assignee=me.id if who == "me" else db_id(who),
        label=form_str(form, "label"), actor_id=me.id, bus=request.app[BUS])
    back = [(k, v) for k, v in parse_qsl(form_str(form, "back")) if k in _KEPT]
    raise web.HTTPFound("/inbox?" + urlencode(
        [*back, ("changed", str(changed)), ("of", str(len(set(ids))))]))


@page(Perm.INBOX_READ)
async def view_save(request: web.Request) -> web.StreamResponse:
    """Save the list's current filters under a name, then show the list by them."""
    form = request[FORM]
    view = await saved_views.save_view(request[USER], form_str(form, "name"),
                                       form_str(form, "back"))
    raise web.HTTPFound(f"/inbox?{view.query}")


@page(Perm.INBOX_READ)
async def view_rename(request: web.Request) -> web.StreamResponse:
    await saved_views.rename_view(request[USER], path_id(request, "vid"),
                                  form_str(request[FORM], "name"))
    raise web.HTTPFound("/inbox")


@page(Perm.INBOX_READ)
async def view_delete(request: web.Request) -> web.StreamResponse:
    await saved_views.delete_view(request[USER], path_id(request, "vid"))
    raise web.HTTPFound("/inbox")


@page(Perm.INBOX_READ)
async def inbox_list(request: web.Request) -> web.Response:
    f = _filter_from(request.query)
    data = await inbox.list_conversations(f, request[USER])
    staff = {u.id: u for u in await users.list_users()}
    template = "web/_list.html" if request.query.get("fragment") else "web/inbox.html"
    all_labels = await Label.all().order_by("name")
    return render(request, template, data=data, f=f, users=staff, waited=waited,
                  chips={lb.name: chip(lb.color) for lb in all_labels},
                  notice=_notice(request.query),
                  views=await saved_views.list_views(request[USER]),
                  back=urlencode([(k, v) for k, v in request.query.items() if k in _KEPT]),
                  labels=all_labels,
                  channels=await accounts.channel_kinds(),
                  statuses=[str(s) for s in inbox_labels.STATUSES])


async def _sentiments(thread: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The model's label of each inbound message (the newest model's), and the staff's
    correction where there is one."""
    ids = [t["id"] for t in thread if t.get("type") == "message" and t.get("direction") == "in"]
    out: dict[int, dict[str, Any]] = {}
    for item_id, label in await SentimentScore.filter(item_kind="message", item_id__in=ids
                                                      ).order_by("id").values_list(
                                                          "item_id", "label"):
        out[item_id] = {"label": label, "corrected": False}
    for item_id, label in await SentimentCorrection.filter(
            item_kind="message", item_id__in=ids).values_list("item_id", "label"):
        out[item_id] = {"label": label, "corrected": True}
    return out


async def _conversation_ctx(request: web.Request, cid: int) -> dict[str, Any]:
    conv = await inbox.get_conversation(cid)
    thread = await inbox.thread(cid, shown=True)
    return {"conv": conv, "thread": thread, "sentiments": await _sentiments(thread),
            "can_attach": request.app[OUTBOX].can_attach(conv),
            "max_files": MAX_REPLY_FILES, "may_delete_note": notes.may_delete,
            "files": await attachments.of_thread(thread),
            "contact": await contacts.contact_detail(conv.contact.id),
            "users": await users.agents(),
            "canned": await canned.list_canned(),
            "labels": sorted(lb.name for lb in conv.labels),
            "ratings": await CsatRating.filter(conversation_id=cid).order_by("-id").values(
                "rating", "created_at"),
            "all_labels": await Label.all().order_by("name"),
            "statuses": [str(s) for s in inbox_labels.STATUSES]}


@page(Perm.INBOX_READ)
async def conversation(request: web.Request) -> web.Response:
    cid = path_id(request, "cid")
    fragment = request.query.get("fragment")
    if fragment is None and has_perm(request[USER], Perm.INBOX_WRITE):
        await inbox.mark_read(cid, request.app[BUS])
    ctx = await _conversation_ctx(request, cid)
    if fragment == "thread":
        return render(request, "web/_thread.html", **ctx)
    return render(request, "web/conversation.html", **ctx)


@page(Perm.INBOX_READ)
async def conversation_file(request: web.Request) -> web.StreamResponse:
    """A file a customer sent, for staff who may read the conversation: a JPEG, PNG, GIF
    or WebP shown inline as that type, anything else (HTML and SVG included) only as a
    download, never sniffed into something a browser runs."""
    found = await attachments.in_conversation(path_id(request, "cid"), path_id(request, "aid"))
    try:
        path = files.path_of(request.app[SETTINGS], found.sha256)
    except ValueError:
        path = None
    if path is None or not path.is_file():
        return error_page(request, 404, _("This file is no longer kept."))
    return web.FileResponse(path, headers=files.download_headers(found.file_name,
                                                                  found.content_type))


def _back(cid: int, anchor: str = "") -> web.HTTPFound:
    return web.HTTPFound(f"/inbox/{cid}{anchor}")


def _reply_body(settings: Settings) -> int:
    """A reply's form may carry MAX_REPLY_FILES files of the attachment limit each."""
    return settings.max_body_bytes + MAX_REPLY_FILES * settings.attachment_max_bytes


@page(Perm.INBOX_WRITE, max_body=_reply_body)
async def conversation_reply(request: web.Request) -> web.StreamResponse:
    """Send a reply, with the files attached to it where the channel carries them."""
    cid, form, outbox = path_id(request, "cid"), request[FORM], request.app[OUTBOX]
    settings = request.app[SETTINGS]
    uploads = [f for f in form.getall("files", []) if isinstance(f, FileField) and f.filename]
    kept: list[dict[str, Any]] = []
    if uploads:
        conv = await inbox.get_conversation(cid)
        if not outbox.can_attach(conv):
            raise InboxError(_("Files cannot be sent in this conversation: its channel "
                               "carries text only here."), "files_not_supported", "files")
        kept = await attachments.keep_uploads(settings, uploads,
                                              outbox.adapters.get(conv.channel_kind))
    # refused after this (too long, a bad canned reply): the files are left to the sweep
    text, canned_id = form_str(form, "text"), db_id(form_str(form, "canned_id"))
    if text or canned_id is not None or not kept:
        text = await canned.reply_text(cid, text or None, canned_id)
    await outbox.send(cid, text, request[USER], files=kept,
                      reply_to_id=db_id(form_str(form, "reply_to_message_id")))
    raise _back(cid, "#composer")


@page(Perm.INBOX_WRITE)
async def conversation_canned(request: web.Request) -> web.StreamResponse:
    """The reply box's ``/shortcut`` picker: the canned replies rendered for this contact,
    for staff who may reply and read canned replies."""
    if not has_perm(request[USER], Perm.CANNED_READ):
        return error_page(request, 403, _("Your role may not read canned replies."))
    return web.json_response(await canned.picker(path_id(request, "cid")))


@page(Perm.INBOX_WRITE)
async def message_reply_privately(request: web.Request) -> web.StreamResponse:
    """Answer a public comment's author in a private conversation, then go there."""
    text = form_str(request[FORM], "text")
    msg = await request.app[OUTBOX].reply_privately(path_id(request, "mid"), text, request[USER])
    raise _back(msg.conversation_id)  # type: ignore[attr-defined]


@page(Perm.INBOX_WRITE)
async def message_retry(request: web.Request) -> web.StreamResponse:
    msg = await request.app[OUTBOX].retry(path_id(request, "mid"))
    raise _back(msg.conversation_id)  # type: ignore[attr-defined]


@page(Perm.INBOX_WRITE)
async def conversation_note(request: web.Request) -> web.StreamResponse:
    cid = path_id(request, "cid")
    await inbox.add_note(cid, request[USER], form_str(request[FORM], "text"), request.app[BUS])
    raise _back(cid, "#composer")


@page(Perm.INBOX_WRITE)
async def note_edit(request: web.Request) -> web.StreamResponse:
    note = await inbox.edit_note(path_id(request, "nid"), request[USER],
                                 form_str(request[FORM], "text"), request.app[BUS])
    raise _back(note.conversation_id)  # type: ignore[attr-defined]


@page(Perm.INBOX_WRITE)
async def note_delete(request: web.Request) -> web.StreamResponse:
    note = await notes.delete_note(path_id(request, "nid"), request[USER], request.app[BUS])
    raise _back(note.conversation_id)  # type: ignore[attr-defined]


@page(Perm.INBOX_READ)
async def note_history(request: web.Request) -> web.Response:
    note = await Note.filter(id=path_id(request, "nid")).prefetch_related(
        "author", "deleted_by").first()
    if note is None:
        raise web.HTTPNotFound(text="note not found")
    revs = await note.revisions.all().order_by("id").prefetch_related("edited_by")
    return render(request, "web/note_history.html", note=note, revisions=revs)


@page(Perm.INBOX_WRITE)
async def conversation_assign(request: web.Request) -> web.StreamResponse:
    cid, who = path_id(request, "cid"), form_str(request[FORM], "assignee")
    target: int | str | None
    if who == "me":
        target = request[USER].id
    elif who == "round_robin":
        target = who
    else:
        target = db_id(who)  # a user's id; None (nobody) for anything else
    await inbox.assign(cid, target, request.app[BUS])
    raise _back(cid)


@page(Perm.INBOX_WRITE)
async def conversation_labels(request: web.Request) -> web.StreamResponse:
    cid = path_id(request, "cid")
    names = [n for n in form_str(request[FORM], "labels").split(",")]
    await inbox.set_labels(cid, names, request.app[BUS])
    raise _back(cid)


@page(Perm.INBOX_WRITE)
async def conversation_status(request: web.Request) -> web.StreamResponse:
    cid, form = path_id(request, "cid"), request[FORM]
    try:
        status = ConversationStatus(form_str(form, "status"))
    except ValueError:
        raise InboxError(lazy("unknown status"), "invalid", "status") from None
    until = None
    if status == ConversationStatus.SNOOZED:
        raw = form_str(form, "snoozed_until")
        try:
            until = datetime.fromisoformat(raw)
        except ValueError:
            raise InboxError(lazy("snooze needs a date and time, got %(raw)s", raw=repr(raw)),
                             "invalid", "snoozed_until") from None
        if until.tzinfo is None:  # typed on the shop's wall clock, as the pages show times
            until = until.replace(tzinfo=l10n.zone())
    await inbox.set_status(cid, status, until, request.app[BUS], actor_id=request[USER].id)
    raise _back(cid)


async def staff_socket(request: web.Request) -> web.StreamResponse:
    # Before the cookie is read: a page on another site (or a sandboxed frame's "null")
    # gets no socket even with the staff member's cookie. Only the staff app's own origins
    # (this host, public_url's): not the shop's storefronts in allowed_origins, whose pages
    # may share the site and so the SameSite=Lax cookie.
    check_origin(request, parse_origins(request.app[SETTINGS].public_url), required=False)
    session = await session_of(request)
    if session is None or not has_perm(session.user, Perm.INBOX_READ):
        raise web.HTTPForbidden(text="log in first")
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)  # pages send typing pings
    await ws.prepare(request)
    hub = request.app[HUB]
    hub.join(ws, session.user)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await hub.heard(ws, msg.data)
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        hub.leave(ws)
    return ws


staff_socket.perm = Perm.INBOX_READ  # type: ignore[attr-defined]


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/inbox", inbox_list)
    r.add_post("/inbox/bulk", inbox_bulk_action)
    r.add_post("/inbox/views", view_save)
    r.add_post("/inbox/views/{vid}/delete", view_delete)
    r.add_post("/inbox/views/{vid}/rename", view_rename)
    r.add_get("/inbox/{cid}", conversation)
    r.add_post("/inbox/{cid}/reply", conversation_reply)
    r.add_get("/inbox/{cid}/canned", conversation_canned)
    r.add_get("/inbox/{cid}/files/{aid}", conversation_file)
    r.add_post("/inbox/{cid}/notes", conversation_note)
    r.add_post("/inbox/{cid}/assign", conversation_assign)
    r.add_post("/inbox/{cid}/labels", conversation_labels)
    r.add_post("/inbox/{cid}/status", conversation_status)
    r.add_post("/messages/{mid}/retry", message_retry)
    r.add_post("/messages/{mid}/reply-privately", message_reply_privately)
    r.add_post("/notes/{nid}", note_edit)
    r.add_post("/notes/{nid}/delete", note_delete)
    r.add_get("/notes/{nid}", note_history)
    r.add_get("/ws/staff", staff_socket)
