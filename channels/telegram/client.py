"""The Bot API calls every part of the Telegram channel shares: making a ``telegram.Bot``
for an account's API base, sending one part of a long text (with the retries that keep a
half-sent reply from being sent twice), inline keyboards, and what an error means.

**The guarded transport.** httpx's own ``AsyncHTTPTransport`` takes no network backend, so
:class:`GuardedTransport` is a small ``httpx.AsyncBaseTransport`` over an ``httpcore`` pool
built with :class:`GuardedBackend` (public APIs of both; their versions are pinned): every
connection goes to an address the outbound policy lets through, checked after resolution.
A proxy (PTB's ``proxy`` argument, else ``HTTP(S)_PROXY``/``ALL_PROXY``, minus ``NO_PROXY``) is
the operator's and is reached as is; the policy then checks the *target* host before the
request goes to the proxy, which resolves the name again (a remaining gap, in
docs/security.md). Only http(s) proxies.
"""

from __future__ import annotations

import asyncio
import logging
import os
import urllib.request
import warnings
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpcore
import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.request import HTTPXRequest
from yarl import URL

from bot.core.channel import (
    Button,
    ChannelError,
    DeliveryError,
    PermanentDeliveryError,
    RecipientUnreachable,
)
from bot.core.i18n import N_
from bot.core.outbound import Refused, check_host, refused
from bot.core.said import Said
from channels.telegram.parse import to_html

# Opt in to python-telegram-bot's coming behaviour (durations as timedelta) so it does not
# warn on every 429; retry_seconds() reads either form.
os.environ.setdefault("PTB_TIMEDELTA", "1")
DEFAULT_API = "https://api.telegram.org"
log = logging.getLogger("switchboard.telegram")


def new_bot(token: str, base: str, request: HTTPXRequest,
            updates_request: HTTPXRequest | None = None) -> Bot:
    return Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot",
               request=request, get_updates_request=updates_request)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the outbound policy lets
    through, checked after resolution (as the server's guarded aiohttp session does), so
    every Bot API call of an account is covered, not only the checks at its start. TLS
    still verifies the URL's host name: httpcore passes it to ``start_tls``."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        error: Exception = httpcore.ConnectError(f"{host}: no address")
        for address in await _checked(host, port):
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address,
                                                    socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("the Bot API is not reached over a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


async def _checked(host: str, port: int) -> list[str]:
    try:
        return await check_host(host, port)
    except OSError as exc:
        raise httpcore.ConnectError(refused(exc) or f"{host}: {exc}") from exc


_ERRORS = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
           httpcore.ProxyError, httpcore.UnsupportedProtocol)


def _httpx_error(exc: Exception, request: httpx.Request) -> Exception:
    """httpcore's exception as httpx's of the same name (PTB catches httpx's)."""
    kind = getattr(httpx, type(exc).__name__, None)
    if not (isinstance(kind, type) and issubclass(kind, httpx.TransportError)):
        kind = httpx.TransportError
    return kind(str(exc), request=request)


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream: Any, request: httpx.Request) -> None:
        self.stream, self.request = stream, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self.stream:
                yield part
        except _ERRORS as exc:
            raise _httpx_error(exc, self.request) from exc

    async def aclose(self) -> None:
        if hasattr(self.stream, "aclose"):
            await self.stream.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """Direct connections through :class:`GuardedBackend`; through a proxy (``proxy``, else
    the environment's, per scheme), the target host checked by the policy first."""

    def __init__(self, pool_size: int, proxy: str | None = None) -> None:
        ssl = httpx.create_ssl_context()
        self.direct = httpcore.AsyncConnectionPool(
            ssl_context=ssl, max_connections=pool_size, network_backend=GuardedBackend())
        env = urllib.request.getproxies()
        wanted = {scheme: proxy or env.get(scheme) or env.get("all")
                  for scheme in ("http", "https")}
        pools: dict[str, httpcore.AsyncHTTPProxy] = {}
        for given in {w for w in wanted.values() if w}:
            url = httpx.URL(given)
            if url.scheme not in ("http", "https"):
                raise ValueError("with the outbound policy on, only http(s) proxies are "
                                 f"supported (got a {url.scheme} proxy)")
            pools[given] = httpcore.AsyncHTTPProxy(
                proxy_url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host,
                                       port=url.port, target=url.raw_path),
                proxy_auth=(url.username, url.password) if url.username else None,
                ssl_context=ssl, max_connections=pool_size)
        self.proxied = {scheme: pools[w] for scheme, w in wanted.items() if w}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        pool: httpcore.AsyncConnectionPool = self.direct
        try:
            if url.scheme in self.proxied and not urllib.request.proxy_bypass(url.host):
                await _checked(url.host, url.port or (443 if url.scheme == "https" else 80))
                pool = self.proxied[url.scheme]
            answer = await pool.handle_async_request(httpcore.Request(
                method=request.method,
                url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                                 target=url.raw_path),
                headers=request.headers.raw, content=request.stream,
                extensions=request.extensions))
        except _ERRORS as exc:
            raise _httpx_error(exc, request) from exc
        return httpx.Response(status_code=answer.status, headers=answer.headers,
                              stream=_Body(answer.stream, request),
                              extensions=answer.extensions)

    async def aclose(self) -> None:
        await self.direct.aclose()
        for proxied in set(self.proxied.values()):
            await proxied.aclose()


def check_proxies(allow_private: bool) -> None:
    """At start-up: raise ValueError (naming the proxy's scheme) when the environment names
    a proxy the guarded transport cannot use, rather than failing at the first call."""
    if not allow_private:
        GuardedTransport(1)


def http_request(allow_private: bool, pool_size: int = 256, **kwargs: Any) -> HTTPXRequest:
    """python-telegram-bot's request object; unless ``allow_private``, its connections go
    through :class:`GuardedTransport` (with PTB's ``proxy`` argument or the environment's:
    httpx ignores both once it is given a transport)."""
    if allow_private:
        return HTTPXRequest(connection_pool_size=pool_size, **kwargs)
    proxy = kwargs.pop("proxy", None)
    transport = GuardedTransport(pool_size, str(proxy) if proxy else None)
    return HTTPXRequest(connection_pool_size=pool_size,
                        httpx_kwargs={"transport": transport}, **kwargs)


async def check_base(base: str, allow_private: bool) -> None:
    """The outbound policy (``bot.core.outbound``) for an account's API base URL, which
    python-telegram-bot reaches through httpx, not the server's guarded session: raises
    :class:`Refused` when its host is (or resolves only to) an address the policy refuses,
    OSError when it does not resolve."""
    url = URL(base)
    await check_host(url.host or "", url.port or 443, allow_private=allow_private)


async def base_allowed(account_id: int, base: str, allow_private: bool) -> bool:
    """Whether the account's loop may start: False (logged as an error, once) when the
    policy refuses its API base URL; a host that does not resolve yet is tried again."""
    delay = 1.0
    while True:
        try:
            await check_base(base, allow_private)
            return True
        except Refused as exc:
            log.error("telegram account not started: its API base URL is refused",
                      extra={"account": account_id, "error": exc.strerror})
            return False
        except OSError as exc:
            log.warning("telegram API base URL does not resolve; trying again",
                        extra={"account": account_id, "error": str(exc)})
        await asyncio.sleep(delay)
        delay = min(delay * 2, 60.0)


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB warns while it moves retry_after to timedelta
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup:
    """Short labels (a rating scale) share one row; longer ones get a row each."""
    keys = [InlineKeyboardButton(b.label, callback_data=b.payload) for b in buttons]
    if all(len(b.label) <= 4 for b in buttons):
        return InlineKeyboardMarkup([keys])
    return InlineKeyboardMarkup([[k] for k in keys])


def failure(exc: TelegramError) -> ChannelError:
    """What a Bot API error means when nothing has gone out yet (Telegram's own words are
    shown as they are inside our translated frame)."""
    if isinstance(exc, RetryAfter):
        return DeliveryError(Said(N_("Telegram asked to wait (%(detail)s)"), detail=str(exc)),
                             retry_seconds(exc))
    if isinstance(exc, Forbidden):
        return RecipientUnreachable(Said(N_("Telegram refused: %(detail)s"),
                                         detail=exc.message))
    if isinstance(exc, InvalidToken):
        return PermanentDeliveryError(Said(N_("the bot token stopped working: %(detail)s"),
                                           detail=str(exc)))
    if isinstance(exc, BadRequest):
        return PermanentDeliveryError(Said(N_("Telegram rejected it: %(detail)s"),
                                           detail=exc.message))
    return DeliveryError(Said(N_("Telegram unreachable: %(detail)s"), detail=str(exc)))


async def send_piece(bot: Bot, chat_id: str, piece: str, sent: int,
                     extra: dict[str, Any]) -> Any:
    """Send one part of a reply, ``sent`` parts having gone out before it. Before the
    first part goes out, a failure is the outbox's to retry (the whole reply); after it,
    the remaining parts are retried here, since a later retry would resend what arrived."""
    for attempt in range(4):
        try:
            return await bot.send_message(chat_id, to_html(piece), parse_mode="HTML", **extra)
        except TelegramError as exc:
            if isinstance(exc, RetryAfter) and sent and attempt < 3:
                await asyncio.sleep(retry_seconds(exc))
                continue
            if sent == 0 or isinstance(exc, Forbidden | InvalidToken | BadRequest):
                raise failure(exc) from exc
            raise PermanentDeliveryError(f"sent {sent} of the parts, then: {exc}") from exc
    raise AssertionError("unreachable")
