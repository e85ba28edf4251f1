"""The admin REST endpoints: staff users and channel accounts."""

from __future__ import annotations

from aiohttp import web

from bot.api.schemas import admin as s
from bot.core.auth import Perm
from bot.core.http import Call, Endpoint, json_out
from bot.core.keys import ADAPTERS, SETTINGS
from bot.services import accounts, users


async def list_users(call: Call) -> web.Response:
    return json_out([users.user_out(u) for u in await users.list_users()])


async def create_user(call: Call) -> web.Response:
    b: s.UserIn = call.body
    return json_out(await users.add_user(b.email, b.role, b.name, b.password), 201)


async def update_user(call: Call) -> web.Response:
    user_id, changes = call.param("user_id"), call.body.model_dump(exclude_unset=True)
    assert call.user is not None
    await users.check_lockout(user_id, changes, call.user)  # as the users page
    user = await users.update_user(user_id, changes)
    return json_out(users.user_out(user))


async def list_channels(call: Call) -> web.Response:
    adapters = call.request.app[ADAPTERS]
    return json_out([accounts.channel_out(a, adapters) for a in await accounts.list_channels()])


async def create_channel(call: Call) -> web.Response:
    b: s.ChannelIn = call.body
    created = await accounts.add_channel(
        call.request.app[ADAPTERS], b.kind, b.name, b.callback_url, b.settings,
        allow_private=call.request.app[SETTINGS].allow_private_urls)
    return json_out(created, 201)


async def update_channel(call: Call) -> web.Response:
    adapters = call.request.app[ADAPTERS]
    account = await accounts.update_channel(
        adapters, call.param("channel_id"), call.body.model_dump(exclude_unset=True),
        allow_private=call.request.app[SETTINGS].allow_private_urls)
    return json_out(accounts.channel_out(account, adapters))


def endpoints() -> list[Endpoint]:
    P, E = Perm, Endpoint
    return [
        E("GET", "/api/v1/users", list_users, "Staff users", "Admin", P.USERS,
          response=s.UserOut, many=True),
        E("POST", "/api/v1/users", create_user, "Add a staff user (token shown once)",
          "Admin", P.USERS, body=s.UserIn, response=s.UserCreated, status=201),
        E("PATCH", "/api/v1/users/{user_id}", update_user, "Change role, name, or disable",
          "Admin", P.USERS, body=s.UserPatch, response=s.UserOut,
          responses={409: "your own role or active flag, or a Telegram id linked to another"}),
        E("GET", "/api/v1/channels", list_channels, "Channel accounts", "Admin", P.CHANNELS,
          response=s.ChannelOut, many=True),
        E("POST", "/api/v1/channels", create_channel,
          "Add a channel account (secret shown once)", "Admin", P.CHANNELS,
          body=s.ChannelIn, response=s.ChannelCreated, status=201),
        E("PATCH", "/api/v1/channels/{channel_id}", update_channel,
          "Change a channel account (settings are checked again)", "Admin", P.CHANNELS,
          body=s.ChannelPatch, response=s.ChannelOut),
    ]
