"""The shop's own origins, and the checks that keep other sites out of the public doors
that act for a visitor (the web chat's socket, ``/subscribe``) or send them on
(``/subscribe``'s ``next``).

An origin is ``scheme://host[:port]`` as a browser serialises it (lowercase, IDNA, no
default port): yarl's ``URL.origin()`` gives the same form, so ``https://Shop.example:443``
and ``https://shop.example`` are one origin. The shop's origins are ``public_url``'s,
``allowed_origins``' and the host the request itself was addressed to (a page this server
served talks back to it); a web chat account adds its own ``origins`` setting.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from yarl import URL

from bot.core.links import same_site_path
from config import Settings


def origin_of(url: str) -> str | None:
    """The origin of an absolute http(s) URL, or None (not one, or not readable)."""
    try:
        parsed = URL(url.strip())
    except (TypeError, ValueError):
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    try:
        return str(parsed.origin())
    except ValueError:
        return None


def parse_origins(spec: str) -> set[str]:
    """Origins from a comma- or whitespace-separated list (entries that are not are skipped)."""
    found = (origin_of(part) for part in spec.replace(",", " ").split())
    return {o for o in found if o}


def site_origins(settings: Settings, *extra: str) -> set[str]:
    """public_url's origin, allowed_origins, and any further comma-separated lists."""
    origins = parse_origins(settings.allowed_origins)
    for spec in (settings.public_url, *extra):
        origins |= parse_origins(spec)
    return origins


def _own(request: web.Request, candidate: str) -> bool:
    """Whether ``candidate`` (an origin) names the host this request was addressed to.
    A browser's cross-site request carries our Host and the other site's Origin, so this
    lets in only pages served from this very host (the scheme may differ behind a proxy
    that ends TLS)."""
    try:
        return URL(candidate).raw_authority.lower() == request.host.lower()
    except ValueError:
        return False


def origin_allowed(request: web.Request, origins: Iterable[str]) -> bool:
    """Whether the request's ``Origin`` is one of ``origins`` or this server's own.
    A request without ``Origin`` is not allowed here (see :func:`check_origin`)."""
    raw = request.headers.get("Origin", "")
    candidate = origin_of(raw) if raw and raw != "null" else None
    return candidate is not None and (candidate in set(origins) or _own(request, candidate))


def check_origin(request: web.Request, origins: Iterable[str], *, required: bool) -> None:
    """Raise 403 unless the request comes from one of the shop's origins.

    Browsers send ``Origin`` on every WebSocket handshake and every cross-origin or POST
    request, so a foreign page is always caught. Without the header (``required=False``)
    the caller is not a browser, and carries no visitor's cookie but its own: let through.
    ``required=True`` refuses that too (a browser that sends no ``Origin`` on a POST is one
    no supported browser is)."""
    if "Origin" not in request.headers and not required:
        return
    if not origin_allowed(request, origins):
        raise web.HTTPForbidden(text="this request must come from the shop's own site")


def safe_next(request: web.Request, target: str, origins: Iterable[str]) -> str:
    r"""``target`` when it is a path on this site or an absolute URL on one of the shop's
    origins, else "". Parsed as a browser reads it: a backslash, a tab or line break, or
    user info (``https://shop.example\@evil.example``, ``https://shop.example@evil``) is
    refused rather than guessed at."""
    if not target or "\\" in target or target != target.strip() or \
            any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return ""
    if target.startswith("/"):
        return same_site_path(target, "")
    try:
        parsed = URL(target)
    except ValueError:
        return ""
    if parsed.user is not None or parsed.password is not None or "@" in parsed.raw_authority:
        return ""
    found = origin_of(target)
    if found is None or not (found in set(origins) or _own(request, found)):
        return ""
    return str(parsed)
