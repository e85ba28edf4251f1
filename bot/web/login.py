"""Login and logout (the page after login is the dashboard, ``bot.web.dashboard``).

Login tries are limited per client address (every try counts) and per account (each
try counts until one succeeds, which clears the account's count): above either limit the
form answers 429 with ``Retry-After`` before any password is hashed, and the refusal is
logged (the limit, the client address and the user's id, never what was typed).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.core.auth import (
    LOGIN_LIMITS,
    SESSION_COOKIE,
    HashingBusy,
    LoginLimits,
    configure_hashing,
    end_session,
    login,
    same,
    start_session,
)
from bot.core.i18n import _
from bot.core.keys import SETTINGS
from bot.core.links import same_site_path
from bot.core.pages import error_page, form_str, page, render
from bot.core.ratelimit import Limiter, account_key, client_address, request_key, too_many
from bot.models import User

log = logging.getLogger("switchboard.auth")
_busy_logged = [-60.0]
PRE_CSRF = "sb_login_csrf"
TARPIT = 1.0  # seconds a refused login try waits for its answer


async def login_form(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    token = request.cookies.get(PRE_CSRF) or secrets.token_urlsafe(24)
    resp = render(request, "web/login.html", status=status, error=error, login_csrf=token,
                  next=request.query.get("next", "/"))
    resp.set_cookie(PRE_CSRF, token, httponly=True, samesite="Strict",
                    secure=request.app[SETTINGS].cookie_secure)
    return resp


async def refused(request: web.Request, limiter: Limiter, wait: float,
                  email: str = "") -> web.Response:
    """The login form again, as a 429 with ``Retry-After``, after a pause (TARPIT): a
    script that keeps trying on a refusal then costs the server a few cheap answers a
    second, not a flood of them. The refusal is logged."""
    await asyncio.sleep(min(TARPIT, wait))
    extra = {}
    if email:  # the account's id, not the text typed (a password lands there sometimes)
        user = await User.filter(email=email).only("id").first()
        extra["user_id"] = user.id if user else None
    exc = too_many(limiter, request, wait, **extra)
    resp = await login_form(request, f"Too many tries. Wait {exc.headers['Retry-After']} "
                                     "seconds and try again.", 429)
    resp.headers["Retry-After"] = exc.headers["Retry-After"]
    return resp


async def busy(request: web.Request,
               again: Callable[[web.Request, str, int], Awaitable[web.Response]]
               ) -> web.Response:
    """Too many password checks are waiting: a 503 with Retry-After (logged once a
    minute at most), after the same pause as a refusal."""
    await asyncio.sleep(TARPIT)
    if time.monotonic() - _busy_logged[0] >= 60:
        _busy_logged[0] = time.monotonic()
        log.warning("password checks busy; login tries refused",
                    extra={"client": client_address(request)})
    resp = await again(request, _("The server is busy. Try again in a few seconds."), 503)
    resp.headers["Retry-After"] = "5"
    return resp


async def login_submit(request: web.Request) -> web.StreamResponse:
    limits = request.app[LOGIN_LIMITS]
    wait = limits.address.hit(request_key(request))
    if wait is not None:
        return await refused(request, limits.address, wait)
    form = await request.post()
    cookie = request.cookies.get(PRE_CSRF, "")
    if not cookie or not same(form_str(form, "csrf_token"), cookie):
        return error_page(request, 403, _("The form's CSRF token is missing or wrong. "
                                          "Reload the page and try again."))
    email = form_str(form, "email").lower()[:254]
    wait = limits.account.hit(account_key(email))
    if wait is not None:
        return await refused(request, limits.account, wait, email)
    try:
        user = await login(email, str(form.get("password", "")))
    except HashingBusy:
        return await busy(request, login_form)
    if user is None:
        return await login_form(request, _("Wrong e-mail or password."), 401)
    limits.account.clear(account_key(email))
    settings = request.app[SETTINGS]
    token, _expires = await start_session(user, settings.session_hours)
    resp = web.HTTPFound(same_site_path(str(form.get("next", "")), "/"))
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


def setup(app: web.Application) -> None:
    settings = app[SETTINGS]
    configure_hashing(settings.password_hash_threads)
    app[LOGIN_LIMITS] = LoginLimits.of(settings.login_limit_address,
                                       settings.login_limit_account)
    r = app.router
    r.add_get("/login", login_form)
    r.add_post("/login", login_submit)
    r.add_post("/logout", logout)
