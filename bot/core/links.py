"""Links from outside (feeds, mentions, reviews, contacts, e-mails): which may become an
``href``. Only http, https and mailto do, and paths on this site; ``javascript:``,
``data:``, ``vbscript:`` and every other scheme are shown as text, never as a link.

A URL is read as a browser reads it: leading and trailing spaces and control characters
are dropped, a tab or a line break anywhere is removed (so ``java\\tscript:`` is
``javascript:``), and the scheme is case-insensitive (``JAVASCRIPT:``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

LINK_SCHEMES = frozenset({"http", "https", "mailto"})
WEB_SCHEMES = frozenset({"http", "https"})
_EDGES = "".join(chr(c) for c in range(0x21))  # C0 controls and the space
_TAB_OR_BREAK = re.compile("[\t\n\r]")
# A scheme as browsers read one: a letter, then letters, digits, + - . up to a colon.
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")


def _as_browser_reads(value: str) -> str | None:
    cleaned = _TAB_OR_BREAK.sub("", value.strip(_EDGES))
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in cleaned):
        return None
    return cleaned


def _scheme(url: str) -> str:
    found = _SCHEME.match(url)
    return found.group(1).lower() if found else ""


def safe_href(value: object, schemes: frozenset[str] = LINK_SCHEMES) -> str | None:
    """``value`` as an href a browser will follow to a page, or None (render text only).

    Kept: absolute http(s) and mailto URLs, and references without a scheme (paths on this
    site, such as an alert's ``/reviews/5``). The URL returned is the one the browser
    would read, so what was checked is what is followed.
    """
    if not isinstance(value, str) or not value:
        return None
    url = _as_browser_reads(value)
    if not url:
        return None
    scheme = _scheme(url)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced [ in the host
        return None
    if scheme != parts.scheme.lower():  # the two readings disagree: not a link
        return None
    if scheme:
        return url if scheme in schemes else None
    if parts.netloc or url.startswith(("/", "\\")):  # //other.site is not on this site
        return same_site_path(url, "") or None
    return url


def same_site_path(target: str, default: str) -> str:
    r"""``target`` if it is a path on this site, else ``default`` (for ``?next=``, hrefs
    without a scheme and the like).

    Parsed as a browser would read it, not prefix-checked: browsers drop tabs and line breaks
    anywhere in a URL and read a backslash as a slash, so ``/\t/evil.example`` and
    ``/\evil.example`` are the other site's ``//evil.example``.
    """
    if "\\" in target or target != target.strip() or \
            any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return default
    try:
        parts = urlsplit(target)
    except ValueError:
        return default
    if parts.scheme or parts.netloc or not parts.path.startswith("/") \
            or parts.path.startswith("//"):
        return default
    return target


def web_url(value: str) -> str:
    """``value`` if it is an absolute http(s) URL, else "" (what is stored from a feed)."""
    url = safe_href(value, WEB_SCHEMES)
    return url if url and _scheme(url) else ""


def check_web_url(value: str) -> str:
    """A pydantic validator: "" or an absolute http(s) URL, else a ValueError."""
    if value and not web_url(value):
        raise ValueError("must be an http:// or https:// URL")
    return value
