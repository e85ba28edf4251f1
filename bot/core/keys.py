"""Typed application state keys (aiohttp ``web.AppKey``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import jinja2
from aiohttp import web

from config import Settings

if TYPE_CHECKING:
    from bot.core.channel import ChannelAdapter
    from bot.core.events import EventBus
    from bot.core.serve import Inflight
    from bot.services.live import StaffHub
    from bot.services.replies import Outbox
    from listening.runtime import ListeningRuntime
    from scheduler.marketing.drips import DripRunner
    from scheduler.marketing.service import Mailer

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
