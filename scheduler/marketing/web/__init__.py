"""Public pages of e-mail marketing: double opt-in signup and confirmation, and the
unsubscribe link every marketing mail carries.

``POST /subscribe`` takes the shop site's signup form (form-encoded or JSON: ``email``,
``name``, ``locale``, ``next``), marks the contact *pending* and mails a signed
confirmation link; ``GET /confirm/{token}`` makes the contact *subscribed* and starts the
welcome series (a ``signup`` event). A pending address gets at most one confirmation
mail every ten minutes, so the form cannot be used to flood someone's mailbox.

``GET /u/{token}`` shows one button; ``POST /u/{token}`` unsubscribes at once. The POST
is also what mail clients send for RFC 8058 one-click unsubscribe (the body
``List-Unsubscribe=One-Click``), so it needs no session and no CSRF token: the signed
token in the address is the proof.

Every link is signed with the time it was made (``channels.signing``) and does its job for
``signed_link_days``: after that a confirmation link asks to sign up again, a click link
shows where it led without counting the click, and the open pixel counts nothing. An
unsubscribe link never expires: leaving must always work, and the worst a leaked one can
do is unsubscribe its owner.

Thin: the workflows are the marketing services' (consent, tracking, segments); their
domain errors become this page's answer (a page, or JSON for the shop site's scripts).
The staff pages of broadcasts and sequences are this package's modules of those names.
:func:`setup` is what the composition root calls.
"""

from __future__ import annotations

import json

from aiohttp import web

from bot.core.auth import Perm
from bot.core.clean import clean_str
from bot.core.errors import InboxError
from bot.core.i18n import N_, _
from bot.core.keys import SETTINGS
from bot.core.origins import origin_allowed, safe_next, site_origins
from bot.core.pages import page, render
from bot.core.ratelimit import Limiter, request_key, too_many
from channels.email.mailer import MAILER, unsign
from scheduler.marketing import consent, segments, tracking
from scheduler.marketing.web import broadcasts as broadcast_pages
from scheduler.marketing.web import segment_page as segment_pages
from scheduler.marketing.web import sequence_new
from scheduler.marketing.web import sequences as sequence_pages

# POST /subscribe per client address (public_limit_address); on the app, so each app
# (each test's) counts afresh.
SUBSCRIBE_LIMIT: web.AppKey[Limiter] = web.AppKey("subscribe_limit", Limiter)


async def _fields(request: web.Request) -> dict[str, str]:
    if request.content_type == "application/json":
        try:
            data = json.loads(await request.read() or b"{}")
        except ValueError:
            raise web.HTTPBadRequest(text="the body is not valid JSON") from None
        fields = {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    else:
        fields = {k: str(v) for k, v in (await request.post()).items()}
    # cleaned like every other way in (NUL dropped, a lone surrogate made U+FFFD)
    return {clean_str(k): clean_str(v) for k, v in fields.items()}


def _answer(request: web.Request, wants_json: bool, status: int, code: str, message: str,
            nxt: str = "") -> web.StreamResponse:
    if wants_json:
        return web.json_response({"status": code, "message": message} if status < 400
                                 else {"error": {"code": code, "message": message}},
                                 status=status)
    if nxt and status < 400:
        raise web.HTTPSeeOther(nxt)
    return render(request, "web/subscribe.html", status=status, ok=status < 400,
                  message=_(message))  # the page in the visitor's language, JSON in English


async def subscribe(request: web.Request) -> web.StreamResponse:
    """The shop site's signup form. A browser on another site's page is refused (403: its
    ``Origin`` is not one of the shop's; a server relaying the form sends none); each
    address has ``public_limit_address`` tries (429); ``next`` leads only to this site or
    the shop's own origins (else the answer page)."""
    wants_json = request.content_type == "application/json"
    origins = site_origins(request.app[SETTINGS])
    if "Origin" in request.headers and not origin_allowed(request, origins):
        return _answer(request, wants_json, 403, "foreign_origin",
                       N_("Sign up on the shop's own site."))
    limiter = request.app[SUBSCRIBE_LIMIT]
    wait = limiter.hit(request_key(request))
    if wait is not None:
        refusal = too_many(limiter, request, wait)
        if not wants_json:
            raise refusal
        return web.json_response(
            {"error": {"code": "too_many", "message": refusal.text}}, status=429,
            headers={"Retry-After": refusal.headers["Retry-After"]})
    form = await _fields(request)
    nxt = safe_next(request, form.get("next", ""), origins)
    try:
        await consent.sign_up(form.get("email", ""), form.get("name", ""),
                              form.get("locale"), request.app[MAILER].send_confirmation)
    except InboxError as exc:
        return _answer(request, wants_json, exc.status, exc.code, str(exc))
    return _answer(request, wants_json, 202, "confirmation_sent",
                   N_("Check your inbox: we sent you a link to confirm."), nxt)


def _days(request: web.Request) -> int:
    return request.app[SETTINGS].signed_link_days


async def confirm(request: web.Request) -> web.Response:
    link = unsign(request.app[SETTINGS].secret_key.get(), "confirm",
                  request.match_info["token"])
    if link is not None and link.value.isdigit() and not link.fresh(_days(request)):
        return render(request, "web/link_expired.html", status=410, url="",
                      message=_("Confirmation links work for a while only. Sign up again "
                                "and we will mail you a new one."))
    if not (link and link.value.isdigit() and await consent.confirm(int(link.value))):
        return render(request, "web/subscribe.html", status=404, ok=False,
                      message=_("This confirmation link is not valid."))
    return render(request, "web/subscribe.html", ok=True,
                  message=_("You are subscribed. Welcome!"))


def _contact(request: web.Request) -> int | None:
    link = unsign(request.app[SETTINGS].secret_key.get(), "unsubscribe",
                  request.match_info["token"])  # never too old: leaving always works
    return int(link.value) if link and link.value.isdigit() else None


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
    await consent.unsubscribe(contact_id, "one-click unsubscribe (RFC 8058)" if one_click
                      else "unsubscribe link")
    return render(request, "web/unsubscribe.html", bad=False, done=True)


GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c000000000100"
                    "01000002024401003b")


async def open_pixel(request: web.Request) -> web.Response:
    """The 1x1 image in a marketing mail: its first load is the mail's open."""
    link = unsign(request.app[SETTINGS].secret_key.get(), "open", request.match_info["token"])
    if link is not None and link.fresh(_days(request)):
        await tracking.track(link.value, "open")
    return web.Response(body=GIF, content_type="image/gif",
                        headers={"Cache-Control": "no-store"})


async def click(request: web.Request) -> web.StreamResponse:
    """A link in a marketing mail: recorded, then on to the shop. Only links we signed
    redirect (never an open redirect)."""
    key, url = request.match_info["key"], request.query.get("u", "")
    token = f"{key}|{url}.{request.match_info['mac']}"
    link = unsign(request.app[SETTINGS].secret_key.get(), "click", token)
    if not url.startswith(("https://", "http://")) or link is None:
        return render(request, "web/subscribe.html", status=404, ok=False,
                      message=_("This link is not valid."))
    if not link.fresh(_days(request)):  # ours, so shown; not counted as a click
        return render(request, "web/link_expired.html", status=410, url=url,
                      message=_("Links in our e-mails are counted for a while only."))
    await tracking.track(key, "click")
    raise web.HTTPFound(url)


@page(Perm.MARKETING_READ)
async def segments_page(request: web.Request) -> web.Response:
    rows = [{"id": s.id, "name": s.name, "count": s.count}
            for s in await segments.all_counted()]
    total = await segments.count(segments.Rules())
    return render(request, "web/segments.html", segments=rows, total=total)


def setup(app: web.Application) -> None:
    """Mount the public marketing pages and the staff pages (segments, broadcasts,
    sequences)."""
    app[SUBSCRIBE_LIMIT] = Limiter("subscribe", app[SETTINGS].public_limit_address)
    app.router.add_get("/segments", segments_page)
    broadcast_pages.setup(app)
    sequence_pages.setup(app)
    sequence_new.setup(app)
    segment_pages.setup(app)
    app.router.add_get("/o/{token}.gif", open_pixel)
    app.router.add_get("/c/{key}/{mac}", click)
    app.router.add_post("/subscribe", subscribe)
    app.router.add_get("/confirm/{token}", confirm)
    app.router.add_get("/u/{token}", unsubscribe_page)
    app.router.add_post("/u/{token}", unsubscribe_now)
