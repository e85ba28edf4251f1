"""Staff pages: login, the unified inbox, contacts, and admin screens.

Server-rendered with autoescaped jinja2. Every page declares the permission it needs with
:func:`page`; every POST form carries the session's CSRF token. Live updates come over
``/ws/staff`` and pages re-fetch their server-rendered fragments.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from bot.api.endpoints import reply_text
from bot.core.auth import (
    FORM,
    SESSION_COOKIE,
    USER,
    Form,
    Perm,
    end_session,
    has_perm,
    login,
    session_of,
    start_session,
)
from bot.core.cache import forget_all
from bot.core.clean import db_id
from bot.core.errors import InboxError
from bot.core.http import MAX_PAGE
from bot.core.keys import ADAPTERS, BUS, SETTINGS
from bot.core.pages import error_page, form_str, page, path_id, render
from bot.models import (
    CannedReply,
    ChannelAccount,
    ConversationStatus,
    CsatRating,
    FaqEntry,
    Label,
    Note,
    Role,
    Rule,
    User,
)
from bot.services import accounts as services
from bot.services import inbox
from bot.services.inbox import ListFilter
from bot.services.live import HUB
from bot.services.replies import OUTBOX

PRE_CSRF = "sb_login_csrf"


async def login_form(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    token = request.cookies.get(PRE_CSRF) or secrets.token_urlsafe(24)
    resp = render(request, "web/login.html", status=status, error=error, login_csrf=token,
                  next=request.query.get("next", "/inbox"))
    resp.set_cookie(PRE_CSRF, token, httponly=True, samesite="Strict",
                    secure=request.app[SETTINGS].cookie_secure)
    return resp


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    cookie = request.cookies.get(PRE_CSRF, "")
    if not cookie or not secrets.compare_digest(cookie, form_str(form, "csrf_token")):
        return error_page(request, 403, "The form's CSRF token is missing or wrong. "
                                        "Reload the page and try again.")
    user = await login(form_str(form, "email"), str(form.get("password", "")))
    if user is None:
        return await login_form(request, "Wrong e-mail or password.", 401)
    settings = request.app[SETTINGS]
    token, _ = await start_session(user, settings.session_hours)
    target = form_str(form, "next")
    if not target.startswith("/") or target.startswith("//"):
        target = "/inbox"
    resp = web.HTTPFound(target)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Lax",
                    secure=settings.cookie_secure, max_age=int(settings.session_hours * 3600))
    resp.del_cookie(PRE_CSRF)
    raise resp


@page(None)
async def logout(request: web.Request) -> web.StreamResponse:
    await end_session(request)
    resp = web.HTTPFound("/login")
    resp.del_cookie(SESSION_COOKIE)
    raise resp


@page(None)
async def home(request: web.Request) -> web.StreamResponse:
    user: User = request[USER]
    raise web.HTTPFound("/inbox" if has_perm(user, Perm.INBOX_READ) else "/contacts")


# --- inbox ----------------------------------------------------------------------------------

def _filter_from(query: Any) -> ListFilter:
    status = query.get("status", "open")
    try:
        st = None if status == "all" else ConversationStatus(status)
    except ValueError:
        raise web.HTTPBadRequest(text=f"unknown status {status!r}") from None
    assignee = query.get("assignee") or None
    if assignee not in (None, "me", "none") and db_id(assignee) is None:
        raise web.HTTPBadRequest(text=f"unknown assignee {assignee!r}")
    return ListFilter(status=st, channel=query.get("channel") or None,
                      assignee=assignee, label=query.get("label") or None,
                      q=query.get("q") or None, page=_page(query))


def _page(query: Any) -> int:
    """The ``page`` asked for: 1 unless a number, and at most MAX_PAGE."""
    return min(db_id(query.get("page", "1")) or 1, MAX_PAGE)


@page(Perm.INBOX_READ)
async def inbox_list(request: web.Request) -> web.Response:
    f = _filter_from(request.query)
    data = await inbox.list_conversations(f, request[USER])
    users = {u.id: u for u in await User.all()}
    template = "web/_list.html" if request.query.get("fragment") else "web/inbox.html"
    return render(request, template, data=data, f=f, users=users,
                  labels=await Label.all().order_by("name"),
                  channels=sorted({a.kind for a in await ChannelAccount.all()}),
                  statuses=[s.value for s in ConversationStatus])


async def _sentiments(thread: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The model's label of each inbound message (the newest model's), and the staff's
    correction where there is one."""
    from bot.models import SentimentCorrection, SentimentScore

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
    thread = await inbox.thread(cid)
    return {"conv": conv, "thread": thread, "sentiments": await _sentiments(thread),
            "contact": await services.contact_detail(conv.contact.id),
            "users": await User.filter(is_active=True, role__in=[Role.ADMIN, Role.AGENT]),
            "canned": await CannedReply.all().order_by("shortcut"),
            "labels": sorted(lb.name for lb in conv.labels),
            "ratings": await CsatRating.filter(conversation_id=cid).order_by("-id").values(
                "rating", "created_at"),
            "all_labels": await Label.all().order_by("name"),
            "statuses": [s.value for s in ConversationStatus]}


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


def _back(cid: int, anchor: str = "") -> web.HTTPFound:
    return web.HTTPFound(f"/inbox/{cid}{anchor}")


@page(Perm.INBOX_WRITE)
async def conversation_reply(request: web.Request) -> web.StreamResponse:
    cid, form = path_id(request, "cid"), request[FORM]
    canned = form_str(form, "canned_id")
    text = await reply_text(cid, form_str(form, "text") or None,
                            db_id(canned))
    reply_to = form_str(form, "reply_to_message_id")
    await request.app[OUTBOX].send(cid, text, request[USER],
                                   reply_to_id=db_id(reply_to))
    raise _back(cid, "#composer")


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


@page(Perm.INBOX_READ)
async def note_history(request: web.Request) -> web.Response:
    note = await Note.filter(id=path_id(request, "nid")).prefetch_related("author").first()
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
        raise InboxError("unknown status", "invalid", "status") from None
    until = None
    if status == ConversationStatus.SNOOZED:
        raw = form_str(form, "snoozed_until")
        try:
            until = datetime.fromisoformat(raw)
        except ValueError:
            raise InboxError(f"snooze needs a date and time, got {raw!r}", "invalid",
                             "snoozed_until") from None
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
    await inbox.set_status(cid, status, until, request.app[BUS])
    raise _back(cid)


async def staff_socket(request: web.Request) -> web.StreamResponse:
    session = await session_of(request)
    if session is None or not has_perm(session.user, Perm.INBOX_READ):
        raise web.HTTPForbidden(text="log in first")
    origin = request.headers.get("Origin")
    if origin and origin.split("://", 1)[-1] != request.host:
        raise web.HTTPForbidden(text="cross-origin websocket refused")
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    hub = request.app[HUB]
    hub.sockets.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        hub.sockets.discard(ws)
    return ws


staff_socket.perm = Perm.INBOX_READ  # type: ignore[attr-defined]


# --- contacts -------------------------------------------------------------------------------

@page(Perm.CONTACTS_READ)
async def contacts(request: web.Request) -> web.Response:
    data = await services.list_contacts(request.query.get("q") or None,
                                        _page(request.query), 50)
    return render(request, "web/contacts.html", data=data, q=request.query.get("q", ""))


@page(Perm.CONTACTS_READ)
async def contact(request: web.Request) -> web.Response:
    return render(request, "web/contact.html",
                  c=await services.contact_detail(path_id(request, "contact_id")))


@page(Perm.CONTACTS_WRITE)
async def contact_save(request: web.Request) -> web.StreamResponse:
    cid, form = path_id(request, "contact_id"), request[FORM]
    attrs = {}
    for line in form_str(form, "attributes").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            attrs[key.strip()] = value.strip()
    await services.update_contact(cid, {
        "name": form_str(form, "name"), "email": form_str(form, "email") or None,
        "phone": form_str(form, "phone") or None, "locale": form_str(form, "locale") or None,
        "tags": sorted({t.strip() for t in form_str(form, "tags").split(",") if t.strip()}),
        "attributes": attrs})
    raise web.HTTPFound(f"/contacts/{cid}")


@page(Perm.CONTACTS_WRITE)
async def contact_merge(request: web.Request) -> web.StreamResponse:
    cid, other = path_id(request, "contact_id"), db_id(form_str(request[FORM], "merge_id"))
    if other is None:
        raise InboxError("give the id of the contact to merge in", "invalid", "merge_id")
    await inbox.merge_contacts(cid, other)
    raise web.HTTPFound(f"/contacts/{cid}")


# --- admin ----------------------------------------------------------------------------------

@page(Perm.USERS)
async def users_page(request: web.Request, created: dict[str, Any] | None = None
                     ) -> web.Response:
    return render(request, "web/users.html", users=await User.all().order_by("id"),
                  roles=[r.value for r in Role], created=created)


@page(Perm.USERS)
async def users_add(request: web.Request) -> web.Response:
    form = request[FORM]
    try:
        role = Role(form_str(form, "role"))
    except ValueError:
        raise InboxError("unknown role", "invalid", "role") from None
    created = await services.add_user(form_str(form, "email"), role, form_str(form, "name"))
    return render(request, "web/users.html", users=await User.all().order_by("id"),
                  roles=[r.value for r in Role], created=created)


@page(Perm.USERS)
async def users_toggle(request: web.Request) -> web.StreamResponse:
    uid = path_id(request, "uid")
    if uid == request[USER].id:
        raise InboxError("you cannot disable yourself", "invalid")
    user = await User.filter(id=uid).first()
    if user is None:
        raise web.HTTPNotFound(text="user not found")
    await services.update_user(uid, {"is_active": not user.is_active})
    raise web.HTTPFound("/admin/users")


@page(Perm.CHANNELS)
async def channels_page(request: web.Request) -> web.Response:
    return await _channels(request)


async def _channels(request: web.Request, created: dict[str, Any] | None = None
                    ) -> web.Response:
    settings = request.app[SETTINGS]
    base = settings.public_url or f"http://{request.host}"
    return render(request, "web/channels.html",
                  accounts=await ChannelAccount.all().order_by("id"),
                  kinds=sorted(list(request.app[ADAPTERS].keys())), created=created, base=base)


def _channel_settings(form: Form, kind: str) -> dict[str, Any]:
    """The fields of the channel forms that belong to ``kind`` (empty ones left out: an
    empty secret field keeps the stored secret)."""
    out: dict[str, Any] = {k: form_str(form, k) for k in CHANNEL_FIELDS.get(kind, ()) if form_str(form, k)}
    if form_str(form, "bot") in ("on", "off"):
        out["bot"] = form_str(form, "bot") == "on"
    return out


_META_FIELDS = ("access_token", "app_secret", "api_base_url")
CHANNEL_FIELDS = {
    "telegram": ("token", "api_base_url", "mode", "staff_chat_id", "staff_notify", "channel"),
    "facebook": ("page_id", *_META_FIELDS),
    "instagram": ("ig_user_id", *_META_FIELDS),
    "email": ("address", "imap_host", "imap_port", "imap_tls", "imap_user", "imap_password",
              "folder", "smtp_host", "smtp_port", "smtp_tls", "smtp_user", "smtp_password"),
}


@page(Perm.CHANNELS)
async def channels_add(request: web.Request) -> web.Response:
    form = request[FORM]
    settings = _channel_settings(form, form_str(form, "kind"))
    created = await services.add_channel(request.app[ADAPTERS], form_str(form, "kind"),
                                         form_str(form, "name") or "Unnamed",
                                         form_str(form, "callback_url"), settings)
    return await _channels(request, created)


@page(Perm.CHANNELS)
async def channels_edit(request: web.Request) -> web.StreamResponse:
    form = request[FORM]
    aid = path_id(request, "aid")
    kind = await ChannelAccount.filter(id=aid).first().values_list("kind", flat=True)
    changes: dict[str, Any] = {"settings": _channel_settings(form, str(kind or "")),
                               "enabled": form_str(form, "enabled") == "on"}
    if form_str(form, "staff_chat_id") == "" and "staff_chat_id" in form:
        changes["settings"]["staff_chat_id"] = None  # cleared: no staff chat
    await services.update_channel(request.app[ADAPTERS], aid, changes)
    raise web.HTTPFound("/admin/channels")


@page(Perm.USERS)
async def users_telegram(request: web.Request) -> web.StreamResponse:
    raw = form_str(request[FORM], "telegram_user_id")
    if raw and db_id(raw) is None:
        raise InboxError("a Telegram user id is a number (the bot tells staff theirs)",
                         "invalid", "telegram_user_id")
    user = await User.filter(id=path_id(request, "uid")).first()
    if user is None:
        raise web.HTTPNotFound(text="user not found")
    if raw:
        await services.update_user(user.id, {"telegram_user_id": int(raw)})
    else:
        user.telegram_user_id = None
        await user.save(update_fields=["telegram_user_id"])
    raise web.HTTPFound("/admin/users")


# --- the bot: FAQ and rules -----------------------------------------------------------------

@page(Perm.BOT_READ)
async def bot_page(request: web.Request) -> web.Response:
    from bot.services.flows import texts
    from bot.services.flows.customer import lookup
    from bot.services.rules import EVENTS

    q, locale = request.query.get("q", ""), request.query.get("locale", "en")
    entries = await FaqEntry.all().order_by("locale", "position", "id")
    tried = (await lookup(q, locale) or False) if q else None
    return render(request, "web/bot.html", faq=entries, locales=texts.LOCALES,
                  rules=await Rule.all().order_by("position", "id"), events=EVENTS,
                  agents=await User.filter(is_active=True, role__in=[Role.ADMIN, Role.AGENT]),
                  q=q, locale=locale, tried=tried,
                  kinds=sorted(request.app[ADAPTERS].keys()))


@page(Perm.BOT_WRITE)
async def faq_add(request: web.Request) -> web.StreamResponse:
    form = request[FORM]
    from bot.services.flows.texts import LOCALES

    if form_str(form, "locale") not in LOCALES:
        raise InboxError(f"locale must be one of {', '.join(LOCALES)}", "invalid", "locale")
    if not form_str(form, "question") or not form_str(form, "answer"):
        raise InboxError("an FAQ entry needs a question and an answer", "invalid")
    await services.save_faq(None, {
        "locale": form_str(form, "locale"), "question": form_str(form, "question"),
        "variants": form_str(form, "variants").splitlines(), "answer": form_str(form, "answer"),
        "in_menu": form_str(form, "in_menu") == "on"})
    raise web.HTTPFound("/admin/bot")


@page(Perm.BOT_WRITE)
async def faq_delete(request: web.Request) -> web.StreamResponse:
    await FaqEntry.filter(id=path_id(request, "fid")).delete()
    raise web.HTTPFound("/admin/bot")


def _words(value: str) -> list[str] | None:
    items = [w.strip() for w in value.split(",") if w.strip()]
    return items or None


@page(Perm.BOT_WRITE)
async def rule_add(request: web.Request) -> web.StreamResponse:
    """The rule form: the common conditions and actions as fields."""
    f = request[FORM]
    conditions: dict[str, Any] = {k: v for k, v in {
        "channels": _words(form_str(f, "channels")), "keywords": _words(form_str(f, "keywords")),
        "languages": _words(form_str(f, "languages")), "labels": _words(form_str(f, "labels")),
        "regex": form_str(f, "regex") or None,
        "public": {"yes": True, "no": False}.get(form_str(f, "public")),
    }.items() if v is not None}
    if form_str(f, "time_from") and form_str(f, "time_to"):
        conditions["time_of_day"] = {"from": form_str(f, "time_from"), "to": form_str(f, "time_to")}
    actions: list[dict[str, Any]] = []
    for kind in ("reply", "reply_private", "notify"):
        if form_str(f, kind):
            actions.append({"type": kind, "template": form_str(f, kind)})
    if form_str(f, "add_label"):
        actions.append({"type": "add_label", "label": form_str(f, "add_label")})
    if form_str(f, "assign"):
        who = form_str(f, "assign")
        user_id = db_id(who)
        actions.append({"type": "assign", "to": who if user_id is None else user_id})
    if form_str(f, "resolve") == "on":
        actions.append({"type": "resolve"})
    await services.save_rule(None, {"name": form_str(f, "name") or "Rule", "event": form_str(f, "event"),
                                    "conditions": conditions, "actions": actions})
    raise web.HTTPFound("/admin/bot#rules")


@page(Perm.BOT_WRITE)
async def rule_toggle(request: web.Request) -> web.StreamResponse:
    rule = await Rule.filter(id=path_id(request, "rid")).first()
    if rule is None:
        raise web.HTTPNotFound(text="rule not found")
    if form_str(request[FORM], "delete") == "1":
        await rule.delete()
    else:
        await Rule.filter(id=rule.id).update(enabled=not rule.enabled)
    forget_all()  # cached rules
    raise web.HTTPFound("/admin/bot#rules")


@page(Perm.CANNED_READ)
async def canned_page(request: web.Request) -> web.Response:
    return render(request, "web/canned.html",
                  canned=await CannedReply.all().order_by("shortcut"))


@page(Perm.CANNED_WRITE)
async def canned_add(request: web.Request) -> web.StreamResponse:
    form = request[FORM]
    await services.add_canned(form_str(form, "shortcut"), form_str(form, "title"), form_str(form, "body"))
    raise web.HTTPFound("/admin/canned")


@page(Perm.CANNED_WRITE)
async def canned_delete(request: web.Request) -> web.StreamResponse:
    await CannedReply.filter(id=path_id(request, "canned_id")).delete()
    raise web.HTTPFound("/admin/canned")


def setup(app: web.Application) -> None:
    from scheduler.posts import web as posts

    posts.setup(app)
    r = app.router
    r.add_get("/", home)
    r.add_get("/login", login_form)
    r.add_post("/login", login_submit)
    r.add_post("/logout", logout)
    r.add_get("/inbox", inbox_list)
    r.add_get("/inbox/{cid}", conversation)
    r.add_post("/inbox/{cid}/reply", conversation_reply)
    r.add_post("/inbox/{cid}/notes", conversation_note)
    r.add_post("/inbox/{cid}/assign", conversation_assign)
    r.add_post("/inbox/{cid}/labels", conversation_labels)
    r.add_post("/inbox/{cid}/status", conversation_status)
    r.add_post("/messages/{mid}/retry", message_retry)
    r.add_post("/messages/{mid}/reply-privately", message_reply_privately)
    r.add_post("/notes/{nid}", note_edit)
    r.add_get("/notes/{nid}", note_history)
    r.add_get("/ws/staff", staff_socket)
    r.add_get("/contacts", contacts)
    r.add_get("/contacts/{contact_id}", contact)
    r.add_post("/contacts/{contact_id}", contact_save)
    r.add_post("/contacts/{contact_id}/merge", contact_merge)
    r.add_get("/admin/users", users_page)
    r.add_post("/admin/users", users_add)
    r.add_post("/admin/users/{uid}/toggle", users_toggle)
    r.add_get("/admin/channels", channels_page)
    r.add_post("/admin/channels", channels_add)
    r.add_post("/admin/channels/{aid}", channels_edit)
    r.add_post("/admin/users/{uid}/telegram", users_telegram)
    r.add_get("/admin/bot", bot_page)
    r.add_post("/admin/bot/faq", faq_add)
    r.add_post("/admin/bot/faq/{fid}/delete", faq_delete)
    r.add_post("/admin/bot/rules", rule_add)
    r.add_post("/admin/bot/rules/{rid}", rule_toggle)
    r.add_get("/admin/canned", canned_page)
    r.add_post("/admin/canned", canned_add)
    r.add_post("/admin/canned/{canned_id}/delete", canned_delete)
