"""What the channel loops could not import (bot.services.quarantine), for admins: the
quarantined items, kept raw, to look at and dismiss, or to try again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, Field

from bot.core.auth import Perm
from bot.core.http import Call, Endpoint, json_out
from bot.core.keys import ADAPTERS
from bot.services import quarantine


class ImportsQuery(BaseModel):
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class ImportFailureOut(BaseModel):
    id: int
    source: str = Field(description="Where the item came from: imap, telegram, feed, reviews")
    account_id: int | None = Field(description="The channel account or feed (null: none)")
    key: str = Field(description="The item's id in its source (fitted to 255 characters)")
    body: str = Field(description="The item as it came, raw")
    error: str = Field(description="Why the last try failed")
    tries: int
    created_at: datetime
    updated_at: datetime


async def list_imports(call: Call) -> web.Response:
    q: ImportsQuery = call.query
    return json_out([quarantine.failure_out(f) for f in await quarantine.quarantined(q.limit)])


async def dismiss_import(call: Call) -> web.Response:
    await quarantine.dismiss(call.param("failure_id"))
    return web.Response(status=204)


class RetryOut(BaseModel):
    outcome: str = Field(description="stored (replayed from the kept body and stored now), "
                                     "waiting (stored when its source offers it again), or "
                                     "'failed: <error>' (it stays quarantined)")


async def retry_import(call: Call) -> web.Response:
    outcome = await quarantine.retry(call.param("failure_id"), call.request.app[ADAPTERS])
    return json_out(RetryOut(outcome=outcome))


def endpoints() -> list[Endpoint]:
    P, E, T = Perm, Endpoint, "Admin"
    return [
        E("GET", "/api/v1/imports", list_imports,
          "Items the channel loops could not import (quarantined), the latest first", T,
          P.CHANNELS, query=ImportsQuery, response=ImportFailureOut, many=True),
        E("POST", "/api/v1/imports/{failure_id}/dismiss", dismiss_import,
          "Dismiss a quarantined item: it stays passed over", T, P.CHANNELS, status=204,
          responses={404: "no such item, or dismissed already"}),
        E("POST", "/api/v1/imports/{failure_id}/retry", retry_import,
          "Try a quarantined item again: now, from its kept body, where its channel can "
          "(a Telegram update); else when its source offers it again", T, P.CHANNELS,
          response=RetryOut, responses={404: "no such item"}),
    ]
