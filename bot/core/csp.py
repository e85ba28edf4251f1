"""The Content-Security-Policy every response carries (docs/security.md).

Scripts run only from files this server serves (``/static/…``, ``/widget.js``): no inline
script, no inline event handler and no ``javascript:`` URL runs, so text that slipped
into a page as markup still cannot run. Styles may be inline (the templates use
``style=""`` attributes); no page is framed by another site except the web chat, which
the shop's own sites embed.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.origins import site_origins
from config import Settings

HEADER = "Content-Security-Policy"

_BASE = ("default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'",
         "img-src 'self' data:", "connect-src 'self'", "object-src 'none'",
         "base-uri 'none'", "form-action 'self'")


def embed_origins(settings: Settings, extra: Iterable[str] = ()) -> list[str]:
    """The shop's own sites, allowed to frame the web chat: public_url's origin, the
    ``allowed_origins`` setting and ``extra`` (an account's own list), sorted."""
    return sorted(site_origins(settings, *extra))


def policy(frame_ancestors: str = "'none'") -> str:
    """The policy; ``frame_ancestors`` is who may frame the page (by default nobody)."""
    return "; ".join([*_BASE, f"frame-ancestors {frame_ancestors}"])


def embeddable_policy(settings: Settings, extra: Iterable[str] = ()) -> str:
    """The policy of a page the shop's own sites may frame (the web chat): this site and
    :func:`embed_origins`. A handler that sets this header itself (say with an account's
    own origins as ``extra``) keeps it: the middleware only fills in a missing one."""
    return policy(" ".join(["'self'", *embed_origins(settings, extra)]))


def for_path(path: str, settings: Settings) -> str:
    """The policy the middleware gives a response to ``path``."""
    if path == "/chat" or path.startswith("/chat/"):
        return embeddable_policy(settings)
    return policy()
