"""The page that edits a post until it goes out (:mod:`scheduler.posts.edit`): its text,
each network's own text, its images, its time (typed in the shop's timezone), its
recurrence and its evergreen interval. Bad input shows the form again with the message
(400); a published post is refused (409) and no form is offered. A post that has not
gone out is deleted from its page (the post's page asks to confirm first)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import ValidationError

from bot.core.auth import FORM, USER, Form, Perm
from bot.core.errors import InboxError
from bot.core.http import api_status
from bot.core.i18n import _
from bot.core.keys import SETTINGS
from bot.core.pages import error_page, form_str, page, path_id, render
from bot.models import Post, PostStatus, PostVariant
from scheduler.posts import edit as editing
from scheduler.posts.recurrence import DAYS, Recurrence
from scheduler.posts.when import WhenError, parse

URL_PREFIXES = ("http://", "https://")


def _tz(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[SETTINGS].shop_timezone)


async def _post(pid: int) -> Post:
    post = await Post.filter(id=pid).first()
    if post is None:
        raise web.HTTPNotFound(text=_("post not found"))
    return post


async def _form(request: web.Request, post: Post, status: int = 200, error: str = "",
                typed: Form | None = None) -> web.Response:
    tz = _tz(request)
    rec = post.recurrence or {}
    values: dict[str, Any] = {
        "text": post.text, "images": "\n".join(str(m.get("url", "")) for m in post.media),
        "when": _shown(post, tz),
        "freq": rec.get("freq", ""), "repeat_time": rec.get("time", ""),
        "repeat_days": rec.get("days") or [], "repeat_day": rec.get("day") or "",
        "evergreen_days": post.evergreen_days or ""}
    variants = await PostVariant.filter(post_id=post.id).order_by("id")
    own = {v.id: v.text or "" for v in variants}
    if typed is not None:  # show what was typed, not what is stored
        values.update({k: form_str(typed, k) for k in (
            "text", "images", "when", "freq", "repeat_time", "repeat_day", "evergreen_days")})
        values["repeat_days"] = typed.getall("repeat_days", [])
        own = {v.id: form_str(typed, f"vtext_{v.id}") for v in variants}
    return render(request, "web/post_edit.html", status=status, post=post, tz=str(tz),
                  variants=variants, own=own, v=values, error=error, days=DAYS)


def _shown(post: Post, tz: ZoneInfo) -> str:
    """The post's time as the form shows it (empty when it has none still to come)."""
    if post.due_at is None or post.due_at <= datetime.now(UTC):
        return ""
    return post.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _refused(request: web.Request, post: Post) -> web.Response | None:
    why = editing.refusal(PostStatus(post.status))
    return None if why is None else error_page(request, api_status(why), str(why))


@page(Perm.POSTS_WRITE)
async def post_edit_form(request: web.Request) -> web.Response:
    post = await _post(path_id(request, "pid"))
    return _refused(request, post) or await _form(request, post)


def _recurrence(form: Form) -> dict[str, Any] | None:
    freq = form_str(form, "freq")
    if not freq:
        return None
    day = form_str(form, "repeat_day")
    try:
        rule = Recurrence.model_validate({
            "freq": freq, "time": form_str(form, "repeat_time"),
            "days": form.getall("repeat_days", []) or None,
            "day": int(day) if day.isdigit() else (day or None)})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "freq"
        raise InboxError(_("Repeat: %(where)s: %(why)s", where=where, why=first["msg"]),
                         "invalid", "recurrence") from None
    return rule.model_dump(exclude_none=True)


def _evergreen(form: Form) -> int | None:
    raw = form_str(form, "evergreen_days")
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 3650:
        raise InboxError(_("Evergreen: give a number of days from 1 to 3650."), "invalid",
                         "evergreen_days")
    return int(raw)


@page(Perm.POSTS_WRITE)
async def post_edit(request: web.Request) -> web.StreamResponse:
    pid, form = path_id(request, "pid"), request[FORM]
    post = await _post(pid)
    if (refused := _refused(request, post)) is not None:
        return refused
    try:
        media = [{"url": u} for u in (ln.strip() for ln in form_str(form, "images")
                                      .splitlines()) if u]
        for m in media:
            if not m["url"].startswith(URL_PREFIXES) or any(c.isspace() for c in m["url"]):
                raise InboxError(_("not an image URL: %(url)s (use http:// or https://)",
                                   url=m["url"][:100]), "invalid", "images")
        when_text = form_str(form, "when")
        try:
            keep = not when_text or when_text == _shown(post, _tz(request))
            when = None if keep else parse(when_text, _tz(request))
        except WhenError as exc:
            raise InboxError(_("When: %(why)s", why=str(exc)), "invalid", "when") from None
        own: dict[int, str | None] = {}
        for v in await PostVariant.filter(post_id=pid).order_by("id"):
            key = f"vtext_{v.id}"
            if key in form:
                own[v.id] = form_str(form, key) or None
        await editing.edit(pid, request[USER], request.app[SETTINGS].posts_require_approval,
                           text=form_str(form, "text"), media=media, variant_texts=own,
                           due_at=when, recurrence=_recurrence(form),
                           evergreen_days=_evergreen(form))
    except InboxError as exc:
        if api_status(exc) != 400:
            raise
        return await _form(request, post, 400, str(exc), form)
    raise web.HTTPFound(f"/posts/{pid}")


@page(Perm.POSTS_WRITE)
async def post_delete(request: web.Request) -> web.StreamResponse:
    """Delete a post that has not gone out (:func:`scheduler.posts.edit.delete`); a
    refusal (published, claimed by the publisher) is the error page with its reason."""
    post = await _post(path_id(request, "pid"))
    await editing.delete(post.id, request[USER])
    raise web.HTTPFound("/posts")


def setup(app: web.Application) -> None:
    app.router.add_get("/posts/{pid}/edit", post_edit_form)
    app.router.add_post("/posts/{pid}/edit", post_edit)
    app.router.add_post("/posts/{pid}/delete", post_delete)
