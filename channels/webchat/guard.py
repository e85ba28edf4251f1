"""Who may use the web chat's public doors, and how often (issue 19).

**Origins.** The visitor is known by a cookie a browser sends with any request to this
server, whichever page makes it. So the socket (history, messages, the e-mail address)
answers only pages of the shop's own origins: ``public_url``'s, ``allowed_origins`` and
the account's own ``origins`` setting (comma-separated), besides this server's own host
(the ``/chat`` page). A browser always sends ``Origin`` on a WebSocket handshake: a
foreign one gets 403; a client without the header is not a browser and holds no
visitor's cookie but its own.

**Limits**, per client address (``bot.core.ratelimit.request_key``: the address
``client_address`` finds, which honours ``trusted_proxies``, with IPv6 taken by its /64),
each counted on its own against ``public_limit_address`` (default 60 a minute and 600 an
hour):

* new visitors: a ``/chat`` load that mints a visitor cookie;
* sockets opened (and at most :data:`MAX_OPEN_SOCKETS` open at once);
* messages: text, button and e-mail frames (over the limit, the frame is refused with
  an ``error`` frame carrying ``retry_after``; the widget sends it again then).

A page load with a visitor cookie, ``/widget.js`` and ``/chat.js`` (cached scripts)
count nothing.
"""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from bot.core.channel import AccountInfo
from bot.core.origins import check_origin, site_origins
from bot.core.ratelimit import Limiter, request_key, too_many
from config import Settings

MAX_OPEN_SOCKETS = 20  # per client address, at once


class Guard:
    """One web chat adapter's (so one app's) origin checks and counters."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        spec = settings.public_limit_address
        self.visitors = Limiter("webchat-visitors", spec)
        self.sockets = Limiter("webchat-sockets", spec)
        self.messages = Limiter("webchat-messages", spec)
        self.open: Counter[str] = Counter()

    def origins(self, account: AccountInfo) -> set[str]:
        return site_origins(self.settings, str(account.settings.get("origins") or ""))

    def check_origin(self, request: web.Request, account: AccountInfo,
                     required: bool) -> None:
        check_origin(request, self.origins(account), required=required)

    def count(self, limiter: Limiter, request: web.Request) -> None:
        """Count one request from this address; raise 429 (Retry-After) past the limit."""
        wait = limiter.hit(request_key(request))
        if wait is not None:
            raise too_many(limiter, request, wait)

    def message_wait(self, address: str) -> float | None:
        """Count one frame from ``address``: None if allowed, else seconds to wait."""
        return self.messages.hit(address)

    def socket_opened(self, request: web.Request) -> str:
        """Count a socket; raise 429 past the rate or the number open. Returns the address
        to hand back to :meth:`socket_closed`."""
        address = request_key(request)
        if self.open[address] >= MAX_OPEN_SOCKETS:
            raise too_many(self.sockets, request, 5.0, open=self.open[address])
        self.count(self.sockets, request)
        self.open[address] += 1
        return address

    def socket_closed(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]
