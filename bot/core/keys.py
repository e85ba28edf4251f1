"""Typed application state keys (aiohttp ``web.AppKey``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import aiohttp
import jinja2
from aiohttp import web

from config import Settings

if TYPE_CHECKING:
    from bot.core.channel import ChannelAdapter
    from bot.core.events import EventBus
    from bot.core.http import Endpoint

SETTINGS = web.AppKey("settings", Settings)
BUS: web.AppKey[EventBus] = web.AppKey("bus")
ADAPTERS: web.AppKey[Mapping[str, ChannelAdapter]] = web.AppKey("adapters")
JINJA = web.AppKey("jinja", jinja2.Environment)
# whether demo content is in the database: the staff pages show a banner (bot.services.demo)
DEMO: web.AppKey[dict[str, bool]] = web.AppKey("demo")  # {"present": ...}
HTTP = web.AppKey("http", aiohttp.ClientSession)
ENDPOINTS: web.AppKey[list[Endpoint]] = web.AppKey("endpoints")
