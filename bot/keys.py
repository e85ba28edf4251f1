"""Typed application state keys (aiohttp ``web.AppKey``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import jinja2
from aiohttp import web

from config import Settings

if TYPE_CHECKING:
    from bot.events import EventBus
    from bot.live import StaffHub
    from bot.marketing import Mailer
    from bot.replies import Outbox
    from bot.serve import Inflight
    from channels.base import ChannelAdapter
    from listening.runtime import ListeningRuntime
    from scheduler.drips import DripRunner

SETTINGS = web.AppKey("settings", Settings)
BUS: web.AppKey[EventBus] = web.AppKey("bus")
OUTBOX: web.AppKey[Outbox] = web.AppKey("outbox")
HUB: web.AppKey[StaffHub] = web.AppKey("hub")
ADAPTERS: web.AppKey[Mapping[str, ChannelAdapter]] = web.AppKey("adapters")
JINJA = web.AppKey("jinja", jinja2.Environment)
HTTP = web.AppKey("http", aiohttp.ClientSession)
ENDPOINTS: web.AppKey[list[Any]] = web.AppKey("endpoints")
INFLIGHT: web.AppKey[Inflight] = web.AppKey("inflight")
DRIPS: web.AppKey[DripRunner] = web.AppKey("drips")
MAILER: web.AppKey[Mailer] = web.AppKey("mailer")
LISTENING: web.AppKey[ListeningRuntime] = web.AppKey("listening")
