"""Admin pages: staff users (with their Telegram link), channel accounts, and removing the
demo content.

A channel's form fields are declared on its adapter (``settings_form``), read here through
the running adapters: this module names no channel.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.core.auth import FORM, USER, Form, Perm
from bot.core.channel import settings_form
from bot.core.clean import MAX_BIG, db_id
from bot.core.errors import InboxError
from bot.core.events import DemoRemoved
from bot.core.i18n import _, lazy
from bot.core.keys import ADAPTERS, BUS, DEMO, SETTINGS
from bot.core.pages import form_str, page, path_id, render
from bot.models import Role
from bot.services import accounts, demo, quarantine, users


async def _users(request: web.Request, created: dict[str, Any] | None = None) -> web.Response:
    return render(request, "web/users.html", users=await users.list_users(),
                  roles=[r.value for r in Role], created=created)


@page(Perm.USERS)
async def users_page(request: web.Request) -> web.Response:
    return await _users(request)


@page(Perm.USERS)
async def users_add(request: web.Request) -> web.Response:
    form = request[FORM]
    try:
        role = Role(form_str(form, "role"))
    except ValueError:
        raise InboxError(lazy("unknown role"), "invalid", "role") from None
    created = await users.add_user(form_str(form, "email"), role, form_str(form, "name"))
    return await _users(request, created)


@page(Perm.USERS)
async def users_toggle(request: web.Request) -> web.StreamResponse:
    await users.toggle_active(path_id(request, "uid"), request[USER])
    raise web.HTTPFound("/admin/users")


@page(Perm.USERS)
async def users_role(request: web.Request) -> web.StreamResponse:
    try:
        role = Role(form_str(request[FORM], "role"))
    except ValueError:
        raise InboxError(_("Unknown role."), "invalid", "role") from None
    await users.change_role(path_id(request, "uid"), role, request[USER])
    raise web.HTTPFound("/admin/users")


@page(Perm.USERS)
async def users_telegram(request: web.Request) -> web.StreamResponse:
    raw = form_str(request[FORM], "telegram_user_id")
    tg = db_id(raw, MAX_BIG)
    if raw and tg is None:
        raise InboxError(lazy("a Telegram user id is a number (the bot tells staff theirs)"),
                         "invalid", "telegram_user_id")
    await users.link_telegram(path_id(request, "uid"), tg)
    raise web.HTTPFound("/admin/users")


@page(Perm.CHANNELS)
async def channels_page(request: web.Request) -> web.Response:
    return await _channels(request)


async def _channels(request: web.Request, created: dict[str, Any] | None = None
                    ) -> web.Response:
    settings = request.app[SETTINGS]
    base = settings.public_url or f"http://{request.host}"
    adapters = request.app[ADAPTERS]
    return render(request, "web/channels.html", accounts=await accounts.list_channels(),
                  kinds=sorted(adapters.keys()), created=created, base=base,
                  not_imported=await quarantine.waiting(),
                  secret_fields={k: settings_form(a).secret for k, a in adapters.items()})


def _channel_settings(request: web.Request, form: Form, kind: str, *, edit: bool = False
                      ) -> dict[str, Any]:
    """The fields of the channel forms that ``kind``'s adapter declares. An empty secret
    field keeps the stored secret; another empty field is left out when adding and, when
    editing, clears the setting (None) if the form has it."""
    declared = settings_form(request.app[ADAPTERS].get(kind))
    out: dict[str, Any] = {}
    for k in dict.fromkeys((*declared.fields, *declared.secret)):
        value = form_str(form, k)
        if value:
            out[k] = value
        elif edit and k in form and k not in declared.secret:
            out[k] = None  # emptied on the page: no longer set
    if form_str(form, "bot") in ("on", "off"):
        out["bot"] = form_str(form, "bot") == "on"
    return out


@page(Perm.CHANNELS)
async def channels_add(request: web.Request) -> web.Response:
    form = request[FORM]
    kind = form_str(form, "kind")
    created = await accounts.add_channel(request.app[ADAPTERS], kind,
                                         form_str(form, "name") or "Unnamed",
                                         form_str(form, "callback_url"),
                                         _channel_settings(request, form, kind),
                                         allow_private=request.app[SETTINGS].allow_private_urls)
    return await _channels(request, created)


@page(Perm.CHANNELS)
async def channels_edit(request: web.Request) -> web.StreamResponse:
    form = request[FORM]
    aid = path_id(request, "aid")
    kind = await accounts.kind_of_account(aid)
    changes: dict[str, Any] = {"settings": _channel_settings(request, form, kind or "",
                                                             edit=True),
                               "enabled": form_str(form, "enabled") == "on"}
    await accounts.update_channel(request.app[ADAPTERS], aid, changes,
                                  allow_private=request.app[SETTINGS].allow_private_urls)
    raise web.HTTPFound("/admin/channels")


@page(Perm.USERS)
async def demo_remove(request: web.Request) -> web.StreamResponse:
    """Remove the demo content (the banner's button); the shop's own rows stay."""
    await demo.remove()
    request.app[DEMO]["present"] = await demo.present()
    request.app[BUS].publish(DemoRemoved(), here=False)  # the other processes' banners
    raise web.HTTPFound("/")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/admin/demo/remove", demo_remove)
    r.add_get("/admin/users", users_page)
    r.add_post("/admin/users", users_add)
    r.add_post("/admin/users/{uid}/toggle", users_toggle)
    r.add_post("/admin/users/{uid}/role", users_role)
    r.add_get("/admin/channels", channels_page)
    r.add_post("/admin/channels", channels_add)
    r.add_post("/admin/channels/{aid}", channels_edit)
    r.add_post("/admin/users/{uid}/telegram", users_telegram)
