"""The page framework every staff page uses: render a template, an error page, and
:func:`page`, which requires a logged-in user with a permission and checks CSRF on POST.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from bot.core import i18n
from bot.core.auth import (
    FORM,
    SESSION,
    USER,
    Form,
    Perm,
    csrf_ok,
    has_perm,
    perm_label,
    role_label,
    session_of,
)
from bot.core.clean import NUL, db_id, without_nul
from bot.core.i18n import _
from bot.core.keys import DEMO, JINJA
from bot.models import User

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def render(request: web.Request, name: str, status: int = 200, **ctx: Any) -> web.Response:
    user: User | None = request.get(USER)
    session = request.get(SESSION)
    html = request.app[JINJA].get_template(name).render(
        user=user, csrf=session.csrf_token if session else "", Perm=Perm,
        can=(lambda p: has_perm(user, p)) if user else (lambda p: False),
        path=request.path, demo=bool(user and request.app.get(DEMO, {}).get("present")), **ctx)
    return web.Response(text=html, status=status, content_type="text/html")


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "web/error.html", status=status, status_code=status,
                  message=message)


def page(perm: Perm | None) -> Callable[[Handler], Handler]:
    """Require a logged-in user with ``perm``; check CSRF on POST."""
    def deco(fn: Handler) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            session = await session_of(request)
            if session is None:
                if request.method == "GET":
                    raise web.HTTPFound(f"/login?next={request.path_qs}")
                return error_page(request, 401, _("Please log in again."))
            request[USER] = session.user
            i18n.current.set(i18n.choose(session.user.language,
                                         request.headers.get("Accept-Language")))
            if perm is not None and not has_perm(session.user, perm):
                return error_page(request, 403, _(
                    "Your role (%(role)s) may not %(perm)s.",
                    role=role_label(session.user.role), perm=perm_label(perm)))
            if request.method == "POST":
                form = await request.post()
                if not csrf_ok(session, form_str(form, "csrf_token")):
                    return error_page(request, 403, _(
                        "The form's CSRF token is missing or wrong. Reload the page and "
                        "try again."))
                if any(isinstance(v, str) and NUL in v for v in form.values()):
                    form = MultiDictProxy(MultiDict(
                        (k, without_nul(v)) for k, v in form.items()))
                request[FORM] = form
            return await fn(request)
        handler.perm = perm  # type: ignore[attr-defined]
        handler.__name__ = fn.__name__
        return handler
    return deco


def form_str(form: Form, key: str) -> str:
    value = form.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def path_id(request: web.Request, key: str) -> int:
    value = db_id(request.match_info[key])
    if value is None:
        raise web.HTTPNotFound(text="not found")
    return value

