"""Staff pages: login, the unified inbox, contacts, and admin screens, one module each.

Server-rendered with autoescaped jinja2 (the page framework is :mod:`bot.core.pages`).
Every page declares the permission it needs with :func:`~bot.core.pages.page`; every POST
form carries the session's CSRF token. Live updates come over ``/ws/staff`` and pages
re-fetch their server-rendered fragments. A feature's own pages (posts, marketing,
listening) are mounted by the composition root, not from here.
"""

from __future__ import annotations

from aiohttp import web

from bot.web import (
    account,
    admin,
    contacts,
    dashboard,
    imports,
    inbox,
    labels,
    login,
    reports,
    settings,
)


def setup(app: web.Application) -> None:
    for module in (login, dashboard, inbox, contacts, admin, imports, settings, account, labels,
                   reports):
        module.setup(app)
