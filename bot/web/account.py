"""The staff member's own account: change the password (the current one first; every other
session ends), rotate the API token (the new one is shown once) and see the sessions, with
"sign out everywhere else", and choose the pages' language. Any logged-in user, for
themselves only.

The current password is checked against the login's per-account limit, so a borrowed
session cannot be used to guess it faster than the login form allows.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.core import i18n
from bot.core.auth import FORM, LOGIN_LIMITS, SESSION, USER, HashingBusy, end_sessions, sessions_of
from bot.core.errors import InboxError
from bot.core.i18n import _, ngettext
from bot.core.pages import form_str, page, render
from bot.core.ratelimit import account_key, too_many
from bot.models import Session, User
from bot.services import users


async def _page(request: web.Request, status: int = 200, **ctx: Any) -> web.Response:
    user: User = request[USER]
    current: Session = request[SESSION]  # type: ignore[assignment]
    sessions = [{"created_at": s.created_at, "expires_at": s.expires_at,
                 "current": s.id == current.id} for s in await sessions_of(user)]
    resp = render(request, "web/account.html", status=status, sessions=sessions,
                  min_password=users.MIN_PASSWORD, languages=i18n.names(),
                  **{"error": "", "message": "", "new_token": "", **ctx})
    resp.headers["Cache-Control"] = "no-store"  # a new API token is on it once
    return resp


@page(None)
async def account_page(request: web.Request) -> web.Response:
    return await _page(request)


@page(None)
async def change_password(request: web.Request) -> web.Response:
    user: User = request[USER]
    form = request[FORM]
    limiter = request.app[LOGIN_LIMITS].account
    wait = limiter.hit(account_key(user.email))
    if wait is not None:
        exc = too_many(limiter, request, wait, user_id=user.id)
        resp = await _page(request, 429, error=_(
            "Too many tries. Wait %(seconds)s seconds and try again.",
            seconds=exc.headers["Retry-After"]))
        resp.headers["Retry-After"] = exc.headers["Retry-After"]
        return resp
    current: Session = request[SESSION]  # type: ignore[assignment]
    try:
        ended = await users.change_password(
            user, str(form.get("current", "")), str(form.get("new", "")),
            str(form.get("confirm", "")), keep_session=current.id)
    except InboxError as exc:
        said = str(exc)  # a lazy message: in the page's language
        return await _page(request, exc.status, error=said[:1].upper() + said[1:] + ".")
    except HashingBusy:
        resp = await _page(request, 503, error=_(
            "The server is busy. Try again in a few seconds."))
        resp.headers["Retry-After"] = "5"
        return resp
    limiter.clear(account_key(user.email))
    return await _page(request, message=ngettext(
        "Your password is changed. %(num)d other session ended.",
        "Your password is changed. %(num)d other sessions ended.", ended))


@page(None)
async def rotate_token(request: web.Request) -> web.Response:
    token = await users.rotate_api_token(request[USER])
    return await _page(request, new_token=token)


@page(None)
async def end_other_sessions(request: web.Request) -> web.Response:
    current: Session = request[SESSION]  # type: ignore[assignment]
    if form_str(request[FORM], "confirm") != "yes":
        return await _page(request, 400, error=_("Nothing was ended."))
    ended = await end_sessions(request[USER], keep=current.id)
    return await _page(request, message=ngettext(
        "Signed out everywhere else: %(num)d session ended.",
        "Signed out everywhere else: %(num)d sessions ended.", ended))


@page(None)
async def change_language(request: web.Request) -> web.Response:
    user: User = request[USER]
    try:
        await users.set_language(user, form_str(request[FORM], "language"))
    except InboxError:
        return await _page(request, 400, error=_("Choose one of the listed languages."))
    i18n.current.set(i18n.choose(user.language, request.headers.get("Accept-Language")))
    return await _page(request, message=_("Your language is saved."))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/account", account_page)
    r.add_post("/account/password", change_password)
    r.add_post("/account/token", rotate_token)
    r.add_post("/account/sessions/end", end_other_sessions)
    r.add_post("/account/language", change_language)
