"""The home dashboard in the REST API: the same tiles as the page after login."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from bot.api.schemas import dashboard as s
from bot.core.auth import Perm
from bot.core.http import Call, Endpoint, json_out
from bot.core.keys import SETTINGS
from bot.services.reports.dashboard import build_dashboard


async def dashboard(call: Call) -> web.Response:
    assert call.user is not None
    board = await build_dashboard(call.user, call.request.app[SETTINGS])
    return json_out(s.DashboardOut.model_validate(asdict(board)))


def endpoints() -> list[Endpoint]:
    return [Endpoint("GET", "/api/v1/dashboard", dashboard,
                     "The home dashboard: the tiles your role may read", "Reports",
                     Perm.DASHBOARD, response=s.DashboardOut)]
