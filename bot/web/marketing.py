"""Public pages of e-mail marketing: the unsubscribe link every marketing mail carries.

``GET /u/{token}`` shows one button; ``POST /u/{token}`` unsubscribes at once. The POST
is also what mail clients send for RFC 8058 one-click unsubscribe (the body
``List-Unsubscribe=One-Click``), so it needs no session and no CSRF token: the signed
token in the address is the proof.
"""

from __future__ import annotations

from aiohttp import web

from bot.keys import SETTINGS
from bot.marketing import unsign, unsubscribe
from bot.web.pages import render


def _contact(request: web.Request) -> int | None:
    value = unsign(request.app[SETTINGS].secret_key.get(), "unsubscribe",
                   request.match_info["token"])
    return int(value) if value and value.isdigit() else None


async def unsubscribe_page(request: web.Request) -> web.Response:
    if _contact(request) is None:
        return render(request, "web/unsubscribe.html", status=404, bad=True, done=False)
    return render(request, "web/unsubscribe.html", bad=False, done=False,
                  token=request.match_info["token"])


async def unsubscribe_now(request: web.Request) -> web.Response:
    contact_id = _contact(request)
    if contact_id is None:
        return render(request, "web/unsubscribe.html", status=404, bad=True, done=False)
    one_click = "One-Click" in (await request.text())[:200]
    await unsubscribe(contact_id, "one-click unsubscribe (RFC 8058)" if one_click
                      else "unsubscribe link")
    return render(request, "web/unsubscribe.html", bad=False, done=True)


def setup(app: web.Application) -> None:
    app.router.add_get("/u/{token}", unsubscribe_page)
    app.router.add_post("/u/{token}", unsubscribe_now)
