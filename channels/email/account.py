"""An e-mail account's settings, read the same way by the IMAP and the SMTP side."""

from __future__ import annotations

import ssl
from typing import Any

from bot.core.channel import AccountInfo, CannotConnect
from bot.core.i18n import lazy
from bot.core.outbound import check_host, refused


def cfg(account: AccountInfo, key: str, default: Any = "") -> Any:
    """The account's setting ``key``; ``default`` when it is missing or empty."""
    value = (account.settings or {}).get(key)
    return default if value in (None, "") else value


def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class HostRefused(CannotConnect):
    """The outbound policy refuses the account's IMAP or SMTP host: nothing connects."""


async def check_server(host: str, port: int, what: str, allow_private: bool) -> None:
    """The outbound policy (``bot.core.outbound``) for a mail server someone typed, before
    connecting: :class:`HostRefused` when the host is (or resolves only to) a loopback,
    private, link-local or metadata address, CannotConnect when it does not resolve."""
    if allow_private:
        return
    try:
        await check_host(host, port)
    except OSError as exc:
        if why := refused(exc):
            raise HostRefused(f"{what} server {host}: {why}") from exc
        raise CannotConnect(lazy("cannot reach the %(what)s server %(host)s:%(port)s: "
                                 "%(reason)s", what=what, host=host, port=port,
                                 reason=exc)) from exc
