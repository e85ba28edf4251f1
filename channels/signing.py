"""HMAC-SHA256 body signatures, shared by every channel that signs with an account secret,
and the signed, dated links of marketing mails (:func:`sign_link`, :func:`read_link`)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.auth import same
from bot.core.time import utcnow

PREFIX = "sha256="
HEADER = "X-Switchboard-Signature"  # Switchboard's own signed requests, in and out


@functools.lru_cache(maxsize=1024)
def _keyed(secret: str) -> hmac.HMAC:
    """An HMAC-SHA256 keyed with ``secret`` and fed nothing, to copy for each body."""
    return hmac.new(secret.encode(), digestmod="sha256")


def sign(secret: str, body: bytes) -> str:
    """The header value for ``body``: ``sha256=<hex HMAC-SHA256>``.

    A copy of the secret's keyed HMAC, not ``hmac.digest``: the one-shot call sets up
    the key every time and lets go of the GIL around even a tiny body, so on a busy
    server each webhook handed the interpreter to the ingest writer thread mid-request
    and waited to get it back (py-spy: 8% of the event loop's samples under load). A
    copy takes 1 µs and keeps the GIL for bodies under 2 KiB."""
    mac = _keyed(secret).copy()
    mac.update(body)
    return PREFIX + mac.hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of a ``sha256=<hex>`` header against ``body`` (any other
    character, non-ASCII included, is just a mismatch)."""
    if not header or not header.startswith(PREFIX):
        return False
    return same(header.strip(), sign(secret, body))


# --- signed links ----------------------------------------------------------------------------
# A link in a mail (unsubscribe, confirm, the open pixel, the click redirect) carries its
# value, the time it was signed and an HMAC of both: ``<value>.<issued, base 36 seconds>.<mac>``.
# Links signed before they carried a time (``<value>.<mac>``) still read, with no time.

@dataclass(frozen=True)
class Link:
    """A link's value, once its signature checked out."""

    value: str
    issued: datetime | None  # None: an undated link, signed before links carried a time

    def fresh(self, days: int, now: datetime | None = None) -> bool:
        """Signed less than ``days`` ago (an undated link never is)."""
        return self.issued is not None and \
            (now or utcnow()) - self.issued < timedelta(days=days)


def _link_mac(secret: str, message: str) -> str:
    mac = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode().rstrip("=")


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def sign_link(secret: str, purpose: str, value: str, now: datetime | None = None) -> str:
    """``value`` signed for ``purpose`` (e.g. "unsubscribe"), stamped with the time."""
    issued = _base36(int((now or utcnow()).timestamp()))
    return f"{value}.{issued}.{_link_mac(secret, f'link|{purpose}|{issued}|{value}')}"


def read_link(secret: str, purpose: str, token: str) -> Link | None:
    """The link's value and issue time, or None unless we signed it for ``purpose``.
    Whether it is still fresh is the caller's question (:meth:`Link.fresh`)."""
    head, _, mac = token.rpartition(".")
    value, _, issued = head.rpartition(".")
    if value and issued.isascii() and issued.isalnum() and len(issued) <= 7 and \
            same(mac, _link_mac(secret, f"link|{purpose}|{issued}|{value}")):
        return Link(value, datetime.fromtimestamp(int(issued, 36), UTC))
    if head and same(mac, _link_mac(secret, f"{purpose}:{head}")):  # an undated link
        return Link(head, None)
    return None
