"""The inbox's REST API under ``/api/v1``, one module per feature; each declares its
handlers once in its ``endpoints()``. A feature folder's own endpoints (posts, marketing,
listening) are collected by the composition root (``bot.app``), not from here."""

from __future__ import annotations

from aiohttp import web

from bot.api import admin, automation, contacts, dashboard, imports, inbox, reports
from bot.core.http import Call, Endpoint, json_out
from bot.core.keys import ENDPOINTS
from bot.core.openapi import openapi


async def openapi_json(call: Call) -> web.Response:
    return json_out(openapi(call.request.app[ENDPOINTS], "1"))


def endpoints() -> list[Endpoint]:
    """The inbox's endpoints, with the OpenAPI document (of every endpoint mounted) last."""
    return [*inbox.endpoints(), *contacts.endpoints(), *admin.endpoints(),
            *automation.endpoints(), *imports.endpoints(), *reports.endpoints(),
            *dashboard.endpoints(),
            Endpoint("GET", "/api/v1/openapi.json", openapi_json, "This document", "Meta",
                     None, security="none")]
