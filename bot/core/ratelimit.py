"""Rate limits for the doors anyone can knock on (login, web chat, /subscribe).

The counting is the ``limits`` library's (sliding-window counters, ``"5/minute;30/hour"``
notation); this module only names the client and turns a refusal into a 429 with
``Retry-After``. Counters live in the process: with several processes each counts its own
share, so a limit holds per process (docs/security.md says so).

Memory stays bounded: every limiter counts in one shared ``MemoryStorage`` (one expiry
timer, not one each), and the sliding-window counters expire with their windows (the
moving-window strategy kept every key it ever saw as an empty list, re-scanned every 10 ms).
Keys are short: an address, its IPv6 /64 (:func:`address_key`) or a hash (:func:`account_key`).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import itertools
import logging
import math
import time

from aiohttp import web
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

log = logging.getLogger("switchboard.ratelimit")
# settings.trusted_proxies, set by the app at start-up (not read through bot.core.keys, which
# would close an import cycle: keys -> http -> auth -> ratelimit)
TRUSTED_PROXIES = web.AppKey("trusted_proxies", str)

STORAGE = MemoryStorage()  # every limiter's counters; expired windows are dropped
_STRATEGY = SlidingWindowCounterRateLimiter(STORAGE)
_serial = itertools.count(1)  # each Limiter counts apart (two apps in one process: tests)


class Limiter:
    """One named limit (e.g. ``login-address``) over any number of keys."""

    def __init__(self, name: str, spec: str) -> None:
        self.name = name
        self.items: list[RateLimitItem] = parse_many(spec) if spec.strip() else []
        self._scope = f"{name}#{next(_serial)}"

    def hit(self, key: str) -> float | None:
        """Count one try for ``key``; return None if allowed, else seconds to wait."""
        for item in self.items:
            if not _STRATEGY.hit(item, self._scope, key):
                return self.retry_after(item, key)
        return None

    def clear(self, key: str) -> None:
        for item in self.items:
            _STRATEGY.clear(item, self._scope, key)

    def retry_after(self, item: RateLimitItem, key: str) -> float:
        reset = _STRATEGY.get_window_stats(item, self._scope, key).reset_time
        return max(1.0, reset - time.time())


def address_key(address: str) -> str:
    """The limit key for a client address: an IPv4 address as is (also when IPv4-mapped
    in IPv6), an IPv6 address as its /64, since one subscriber usually holds a whole /64
    and could otherwise take a fresh counter per request. Anything else as given."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def request_key(request: web.Request) -> str:
    """The limit key for the client of ``request`` (:func:`client_address`, bucketed)."""
    return address_key(client_address(request))


def account_key(email: str) -> str:
    """The limit key for a login account: a short hash (16 hex digits) of the lower-cased
    e-mail, whatever was typed, so a long or odd value costs no more than any other."""
    data = email.lower().encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=8).hexdigest()


LOG_EVERY = 60.0  # seconds between two log lines for one limit and client
_logged: dict[tuple[str, str], tuple[float, int]] = {}  # (limit, client): (logged at, since)


def _log_now(name: str, client: str) -> int | None:
    """None if this refusal is one of a run already logged (counted); else how many
    were refused since the last line. A flood of refusals writes one line a minute per
    client, not one per request."""
    now = time.monotonic()
    logged, since = _logged.get((name, client), (-LOG_EVERY, 0))
    if now - logged < LOG_EVERY:
        _logged[(name, client)] = (logged, since + 1)
        return None
    if len(_logged) > 10_000:  # forget clients not refused for a while
        for key in [k for k, (at, _) in _logged.items() if now - at >= LOG_EVERY]:
            del _logged[key]
    _logged[(name, client)] = (now, 0)
    return since


def too_many(limiter: Limiter, request: web.Request, wait: float, **extra: object
             ) -> web.HTTPTooManyRequests:
    """The 429 to raise, with ``Retry-After`` in whole seconds; the refusal is logged
    (the first of a run, then a line a minute per limit and client, with how many more)."""
    client = client_address(request)
    since = _log_now(limiter.name, client)
    if since is not None:
        log.warning("rate limited", extra={"limit": limiter.name, "client": client,
                                           "path": request.path, "refused_since": since,
                                           **extra})
    return web.HTTPTooManyRequests(
        text="Too many tries; wait a moment and try again.",
        headers={"Retry-After": str(math.ceil(wait))})


def client_address(request: web.Request, trusted_proxies: str = "") -> str:
    """The client's address: the socket's peer, or, when that peer is a trusted proxy,
    the right-most address in ``X-Forwarded-For`` that is not itself a trusted proxy."""
    peer = request.remote or ""
    if not trusted_proxies:
        trusted_proxies = request.config_dict.get(TRUSTED_PROXIES, "")
    trusted = _networks(trusted_proxies)
    if not trusted and not _warned and "X-Forwarded-For" in request.headers:
        _warn_unnamed_proxy(peer)
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _within(hop, trusted):
            return hop
    return peer


_warned: list[bool] = []  # the warning below went out (once a process)


def _warn_unnamed_proxy(peer: str) -> None:
    """A loopback peer forwarding for someone while ``trusted_proxies`` is empty: a proxy
    on this host that is not named, so every client shares the proxy's address (and one
    limit). Said once, as a warning."""
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return
    if loopback:
        _warned.append(True)
        log.warning("a loopback peer sends X-Forwarded-For but trusted_proxies is empty: "
                    "behind a proxy every client shares one address and one limit; set "
                    "SWITCHBOARD_TRUSTED_PROXIES to the proxy's address",
                    extra={"peer": peer})


@functools.lru_cache(maxsize=8)
def _networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks in a setting (checked at load by config.checks; parsed once here)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in spec.split(",") if part.strip())


def _within(address: str,
            nets: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in nets)


def address_allowed(address: str, spec: str) -> bool:
    """Whether ``address`` is loopback or inside one of the networks in ``spec``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or _within(address, _networks(spec))
