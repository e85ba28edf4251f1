"""The home dashboard, the page after login (``/``): the tiles the user's role may read
(``bot.services.reports.dashboard``), each linking to the page behind it.

Every role lands here, agents too: their tiles are the inbox's own (open conversations and
who waits longest, each a link into the conversation), so the inbox stays one click away
(the tile, the nav), and a link someone followed to the login form (``?next=``) still
wins over the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.core import l10n
from bot.core.auth import USER
from bot.core.i18n import _
from bot.core.keys import SETTINGS
from bot.core.pages import page, render
from bot.services.reports.dashboard import build_dashboard


def duration(seconds: int) -> str:
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:  # the reports' short units, in the reader's language
        return _("%(h)s h %(m)s min", h=hours, m=minutes)
    return _("%(m)s min %(s)s s", m=minutes, s=sec) if minutes else _("%(s)s s", s=sec)


def shown(value: Any, kind: str, tz: ZoneInfo) -> str:
    """A tile's value as people read it, times in the shop's timezone."""
    if value is None:
        return "–"
    if kind == "seconds":
        return duration(int(value))
    if kind == "money":
        return l10n.format_number(float(value), "#,##0.00")
    if kind == "datetime" and isinstance(value, datetime):
        local = value.astimezone(tz)
        today = datetime.now(tz).date()
        return local.strftime("%H:%M") if local.date() == today else \
            local.strftime("%Y-%m-%d %H:%M")
    if kind == "rating":
        return f"{value}★"
    return str(value)


@page(None)
async def dashboard(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    board = await build_dashboard(request[USER], settings, shown=True)
    tz = ZoneInfo(settings.shop_timezone)
    return render(request, "web/dashboard.html", board=board,
                  shown=lambda v, k: shown(v, k, tz))


def setup(app: web.Application) -> None:
    app.router.add_get("/", dashboard)
