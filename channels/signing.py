"""HMAC-SHA256 body signatures, shared by every channel that signs with an account secret."""

from __future__ import annotations

import hmac

PREFIX = "sha256="
HEADER = "X-Switchboard-Signature"  # Switchboard's own signed requests, in and out


def sign(secret: str, body: bytes) -> str:
    """The header value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return PREFIX + hmac.digest(secret.encode(), body, "sha256").hex()  # one-shot, in C


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of a ``sha256=<hex>`` header against ``body``."""
    if not header or not header.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())
