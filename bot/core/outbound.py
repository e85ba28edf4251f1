"""The outbound policy: what a URL someone typed may reach.

Feeds, the API channel's callback URLs, an account's ``settings.api_base_url``, review
callbacks: anything the server fetches at an address a person typed goes through the one
HTTP session :func:`client_session` builds (``bot.core.keys.HTTP``). Unless
``settings.allow_private_urls``, that session never connects to a loopback, private,
unique-local, link-local (cloud metadata: 169.254.169.254, fd00:ec2::254), shared (CGNAT,
100.100.100.200), multicast, unspecified (0.0.0.0, ::) or reserved address, nor to an
IPv4 one of those wrapped in IPv6 (``::ffff:127.0.0.1``, 6to4, NAT64):

- A host name is checked *after* resolution, by :class:`GuardedResolver` wrapping the
  connector's resolver: forbidden addresses are dropped from the answer, so the connection
  is made to an address that was checked (no gap for a name that resolves to a public
  address at the check and to 127.0.0.1 at the connect). Decimal, octal and hex forms of
  an address (``2130706433``, ``0177.0.0.1``) are names to aiohttp, and resolve to the
  address they stand for, which is then checked.
- An IP literal never reaches a resolver, so :class:`Guard`, a client middleware, checks
  it; aiohttp runs the middleware for every request of a redirect chain, and every new
  host of the chain is resolved through the guarded resolver: a public URL that answers
  302 to ``http://127.0.0.1/`` is refused at that hop.

A refusal is a :class:`aiohttp.ClientConnectorError` (nothing was sent) whose text says
which address was refused and why, so every caller's existing "could not connect" path
stores and shows it. :func:`check_url` refuses the plainly wrong early, when a URL is typed
(a form or an API answers 422).

The operator's own base URLs (``SWITCHBOARD_GRAPH_API_URL``) are trusted by host and port:
the operator, not a user, chose them.

Clients that are not aiohttp call :func:`check_host`: Telegram's (httpx, through
``channels.telegram.client.GuardedBackend``, at every connection) and the e-mail channel's
IMAP and SMTP hosts (``channels.email.account.check_server``, before each connection).
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_middlewares import ClientHandlerType
from aiohttp.client_reqrep import ClientRequest, ClientResponse
from yarl import URL

from bot.core.errors import InboxError
from bot.core.i18n import Lazy, lazy
from config import Settings

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
            ipaddress.ip_address("100.100.100.200")}
HINT = "SWITCHBOARD_ALLOW_PRIVATE_URLS=true allows it on a private network"
_LEGACY_V4 = re.compile(r"[0-9a-fx.]+")


class BadUrl(InboxError):
    """A typed URL the server will not fetch."""

    status = 422

    def __init__(self, message: str | Lazy, field: str = "url") -> None:
        super().__init__(message, "bad_url", field)


class Refused(OSError):
    """A connection the policy refused (carried as a ClientConnectorError's os_error)."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EACCES, message)


def forbidden(ip: IP) -> str | None:
    """What kind of non-public address ``ip`` is, or None for a public one."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else None)
        if inner is not None:
            kind = forbidden(inner)
            return f"{kind} (inside IPv6)" if kind else None
    checks = (("cloud metadata", ip in METADATA), ("unspecified", ip.is_unspecified),
              ("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
              ("multicast", ip.is_multicast), ("private", ip.is_private),
              ("reserved", ip.is_reserved),
              ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
              ("non-public", not ip.is_global))
    return next((kind for kind, hit in checks if hit), None)


def literal(host: str) -> IP | None:
    """``host`` as an IP address when it is one: the usual forms, and the decimal, octal
    and hex ones (``2130706433``, ``0x7f.1``) the C library also reads as addresses."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_V4.fullmatch(host.lower()):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def refusal(address: str) -> str | None:
    """Why ``address`` (an IP as text) may not be reached, or None when it may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    kind = forbidden(ip)
    return f"refused: {ip} is a {kind} address; {HINT}" if kind else None


def check_url(url: str, *, allow_private: bool = False, field: str = "url") -> str:
    """``url`` (stripped) if it may be saved as an address to fetch, else :class:`BadUrl`:
    http or https, a host, no spaces or control characters, and (unless ``allow_private``)
    not an IP literal or ``localhost`` that the outbound policy refuses anyway."""
    url = url.strip()
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise BadUrl(lazy("the URL holds a space or a control character"), field)
    try:
        parts = URL(url)
        host = parts.host
    except (ValueError, TypeError):
        raise BadUrl(lazy("this is not a URL"), field) from None
    if parts.scheme not in ("http", "https"):
        raise BadUrl(lazy("the URL must start with http:// or https://"), field)
    if not host:
        raise BadUrl(lazy("the URL has no host"), field)
    if not allow_private:
        name = host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            raise BadUrl(f"refused: {name} is this server; {HINT}", field)
        ip = literal(host)
        if ip is not None and (why := refusal(str(ip))):
            raise BadUrl(why, field)
    return url


def _origin(url: str) -> tuple[str, int] | None:
    try:
        parts = URL(url.strip())
    except (ValueError, TypeError):
        return None
    if not parts.host or parts.port is None:
        return None
    return parts.host.lower().strip("[]"), parts.port


class GuardedResolver(AbstractResolver):
    """The connector's resolver, less every address the policy refuses."""

    def __init__(self, inner: AbstractResolver | None = None,
                 trusted: frozenset[tuple[str, int]] = frozenset()) -> None:
        self.inner = inner or aiohttp.DefaultResolver()
        self.trusted = trusted

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self.inner.resolve(host, port, family)
        if (host.lower().rstrip("."), port) in self.trusted:
            return answers
        kept = [a for a in answers if refusal(a["host"]) is None]
        if not kept:
            why = refusal(answers[0]["host"]) if answers else None
            raise Refused(f"{why or 'refused: no address'} (resolved from {host})")
        return kept

    async def close(self) -> None:
        await self.inner.close()


class Guard:
    """A client middleware: an IP-literal host (which skips the resolver) is checked on
    every request, each hop of a redirect chain included."""

    def __init__(self, trusted: frozenset[tuple[str, int]] = frozenset()) -> None:
        self.trusted = trusted

    async def __call__(self, req: ClientRequest, handler: ClientHandlerType,
                       ) -> ClientResponse:
        host = req.url.raw_host or ""
        if (host.lower().strip("[]"), req.port) not in self.trusted:
            ip = literal(host)
            if ip is not None and (why := refusal(str(ip))):
                raise aiohttp.ClientConnectorError(req.connection_key, Refused(why))
        return await handler(req)


def client_session(settings: Settings, *, resolver: AbstractResolver | None = None,
                   trusted: Iterable[str] = (), **kwargs: Any) -> aiohttp.ClientSession:
    """The server's one HTTP session for addresses people typed (and the operator's).

    Unless ``settings.allow_private_urls`` it refuses non-public addresses; ``trusted``
    (URLs) and the operator's Graph API URL are let through by host and port."""
    if settings.allow_private_urls:
        connector = aiohttp.TCPConnector(resolver=resolver) if resolver else None
        return aiohttp.ClientSession(connector=connector, **kwargs)
    origins = frozenset(o for u in (settings.graph_api_url, *trusted)
                        if u and (o := _origin(u)))
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=GuardedResolver(resolver, origins)),
        middlewares=(Guard(origins),), **kwargs)


async def check_host(host: str, port: int, *, allow_private: bool = False,
                     resolver: AbstractResolver | None = None) -> list[str]:
    """The addresses ``host`` resolves to that the policy lets a connection reach, for a
    client that is not aiohttp (SMTP, IMAP, httpx): connect to one of them (with ``host``
    as the TLS server name) to leave no gap for a name that changes meanwhile. Raises
    :class:`Refused` when none is left."""
    ip = literal(host)
    if ip is not None:
        if not allow_private and (why := refusal(str(ip))):
            raise Refused(why)
        return [str(ip)]
    inner = resolver or aiohttp.ThreadedResolver()
    try:
        answers = await (inner if allow_private else GuardedResolver(inner)).resolve(
            host, port, socket.AF_UNSPEC)
    finally:
        if resolver is None:
            await inner.close()
    return [a["host"] for a in answers]


class TooLarge(ValueError):
    """An answer over the size its reader takes."""


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body of ``resp``, or :class:`TooLarge` once it passes ``limit`` bytes
    (a huge or endless answer is never held in memory)."""
    if (resp.content_length or 0) > limit:
        raise TooLarge(f"the answer is larger than {limit} bytes")
    body = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"the answer is larger than {limit} bytes")
    return bytes(body)


def url_path(node: str) -> str:
    """``node`` ("a/b/c": ids from settings, webhooks or stored rows) as a path to put
    under a base URL: each segment percent-encoded, so an id holding "?", "#", "%" or "@"
    stays in its segment instead of adding a query or leaving the base's path. An empty,
    "." or ".." segment (one that would climb) is a ValueError."""
    segments = node.strip("/").split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        raise ValueError(f"not a path under the base URL: {node[:100]!r}")
    return "/".join(quote(seg, safe="") for seg in segments)


def refused(exc: BaseException) -> str | None:
    """The policy's reason when ``exc`` is (or wraps) a refusal, else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, aiohttp.ClientConnectorError) and isinstance(seen.os_error,
                                                                         Refused):
            return str(seen.os_error.strerror)
        if isinstance(seen, Refused):
            return str(seen.strerror)
        seen = seen.__cause__
    return None
