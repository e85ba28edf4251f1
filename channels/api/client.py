"""HTTP client for the API channel's callback URL. Raises its own small error tree."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from bot.core.outbound import refused
from channels.signing import HEADER, sign

ANSWER_BYTES = 64 * 1024  # the callback's answer is not used: no more is read


class CallbackError(Exception):
    def __init__(self, reason: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status, self.retry_after = reason, status, retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not '²', which isdigit() takes
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def post_signed(http: aiohttp.ClientSession, url: str, secret: str,
                      payload: dict[str, Any], timeout: float,
                      headers: dict[str, str] | None = None) -> int:
    """POST ``payload`` as JSON signed with ``secret``; return the status or raise."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    hdrs = {"Content-Type": "application/json", HEADER: sign(secret, body),
            **(headers or {})}
    try:
        async with http.post(url, data=body, headers=hdrs,
                             timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            await resp.content.read(ANSWER_BYTES)  # a huge or endless answer is let go
            if resp.status >= 300:
                raise CallbackError(f"callback answered HTTP {resp.status}", resp.status,
                                    parse_retry_after(resp.headers.get("Retry-After")))
            return resp.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        why = refused(exc)  # the outbound URL policy's reason (a private address)
        raise CallbackError(f"callback {why}" if why else
                            f"callback unreachable: {type(exc).__name__}") from exc
