"""Saved views of the inbox: a staff member's named filters of the list, their own (nobody
else sees or removes them). A view keeps the list's query string, only its filter keys."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from bot.core.errors import InboxError, NotFound
from bot.core.i18n import _
from bot.models import SavedView, User

FILTER_KEYS = ("status", "channel", "assignee", "label", "q", "sort")
NAME_MAX = 80  # SavedView.name's column
QUERY_MAX = 1000  # SavedView.query's column
PER_USER = 50


def filters_of(query: str) -> str:
    """The list's filters in a query string, re-encoded; anything else left out."""
    return urlencode([(k, v) for k, v in parse_qsl(query) if k in FILTER_KEYS and v])


async def list_views(user: User) -> list[SavedView]:
    return await SavedView.filter(user_id=user.id).order_by("name")


def _name(name: str) -> str:
    name = name.strip()
    if not 0 < len(name) <= NAME_MAX:
        raise InboxError(_("A view needs a name of at most %(n)s characters.", n=NAME_MAX),
                         "invalid", "name")
    return name


async def save_view(user: User, name: str, query: str) -> SavedView:
    """Save the filters under ``name``; the same name again replaces its filters."""
    name, query = _name(name), filters_of(query)
    if len(query) > QUERY_MAX:
        raise InboxError(_("These filters are too long to save."), "invalid", "query")
    view = await SavedView.filter(user_id=user.id, name=name).first()
    if view is not None:
        view.query = query
        await view.save(update_fields=["query"])
        return view
    if await SavedView.filter(user_id=user.id).count() >= PER_USER:
        raise InboxError(_("At most %(n)s saved views each.", n=PER_USER), "invalid", "name")
    return await SavedView.create(user_id=user.id, name=name, query=query)


async def delete_view(user: User, view_id: int) -> None:
    if not await SavedView.filter(id=view_id, user_id=user.id).delete():
        raise NotFound("saved view", "view_id")


async def rename_view(user: User, view_id: int, name: str) -> SavedView:
    """Give one of the user's views another name; a name another of their views has is
    refused (saving under it would replace that view's filters, renaming must not)."""
    name = _name(name)
    view = await SavedView.filter(id=view_id, user_id=user.id).first()
    if view is None:
        raise NotFound("saved view", "view_id")
    if await SavedView.filter(user_id=user.id, name=name).exclude(id=view_id).exists():
        raise InboxError(_("You already have a view named %(name)s.", name=name),
                         "exists", "name")
    view.name = name
    await view.save(update_fields=["name"])
    return view
