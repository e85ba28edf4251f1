"""An e-mail account's settings, read the same way by the IMAP and the SMTP side."""

from __future__ import annotations

import ssl
from typing import Any

from bot.core.channel import AccountInfo


def cfg(account: AccountInfo, key: str, default: Any = "") -> Any:
    """The account's setting ``key``; ``default`` when it is missing or empty."""
    value = (account.settings or {}).get(key)
    return default if value in (None, "") else value


def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()
