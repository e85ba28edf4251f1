"""Login, logout and the home page's redirect."""

from __future__ import annotations

import secrets

from aiohttp import web

from bot.core.auth import SESSION_COOKIE, USER, Perm, end_session, has_perm, login, start_session
from bot.core.keys import SETTINGS
from bot.core.pages import error_page, form_str, page, render, same_site_path
from bot.models import User

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
    resp = web.HTTPFound(same_site_path(str(form.get("next", "")), "/inbox"))
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


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/", home)
    r.add_get("/login", login_form)
    r.add_post("/login", login_submit)
    r.add_post("/logout", logout)
