"""Structured logging: one JSON object a line, with any ``extra=`` fields kept.

No secret reaches a log line. The HTTP client libraries (httpx, httpcore, the Telegram
library) log request URLs, which hold a bot's token, so they log from WARNING only; and
every record goes through :class:`RedactSecrets` on its way out, which replaces each
secret this process knows (:func:`add_secret`: the settings' ``Secret`` values, every
channel secret the vault seals or opens) and every token-shaped URL or header part
(``/bot<token>/``, ``://user:password@``, ``access_token=…``, ``Bearer …``) with
``[redacted]``: in the message, its arguments, the ``extra=`` fields, the exception text
and the stack.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

from config import Secret

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
REDACTED = "[redacted]"
MIN_SECRET = 6  # shorter values would redact ordinary words; no real secret is this short
# a bot token in a Bot API URL, a URL's password, a token-like query parameter, a
# bearer token
_SHAPES = re.compile(
    r"(?P<bot>/bot)\d+:[A-Za-z0-9_-]+"
    r"|(?P<userinfo>[a-z][a-z0-9+.-]*://[^/@:\s]*:)[^/@\s]+(?=@)"
    r"|(?P<query>[?&;](?:[a-z0-9_.-]*(?:token|secret|password|passwd|api_?key|apikey"
    r"|signature|credential)|key|sig|auth|x-amz-[a-z-]+)=)[^&\s'\"]+"
    r"|(?P<bearer>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
NOISY = ("tortoise", "aiosqlite", "asyncpg", "apscheduler", "httpx", "httpcore", "telegram",
         "hpack", "aiosmtplib", "aioimaplib", "urllib3", "charset_normalizer")

_lock = threading.Lock()
_known: set[str] = set()
_pattern: re.Pattern[str] | None = None


def add_secret(*values: str) -> None:
    """Never show these values (nor their URL-quoted forms) in a log line."""
    global _pattern
    new = set()
    for value in values:
        if isinstance(value, str) and len(value.strip()) >= MIN_SECRET:
            new |= {value, quote(value, safe=""), quote_plus(value)}
    with _lock:
        if not new <= _known:
            _known.update(new)
            _pattern = None


def add_settings_secrets(settings: object) -> None:
    """Every ``Secret`` value of a settings dataclass."""
    if dataclasses.is_dataclass(settings):
        add_secret(*(v.get() for f in dataclasses.fields(settings)
                     if isinstance(v := getattr(settings, f.name), Secret)))


def _known_pattern() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _known:
            _pattern = re.compile("|".join(
                re.escape(s) for s in sorted(_known, key=len, reverse=True)))
        return _pattern


def redact(text: str) -> str:
    """``text`` with every known secret and token-shaped part replaced."""
    # shapes first: a known secret inside a shape's name (a secret "secret" in
    # "client_secret=…") would otherwise break the shape and let its value through
    text = _SHAPES.sub(lambda m: next(g for g in m.groups() if g is not None) + REDACTED,
                       text)
    pattern = _known_pattern()
    return pattern.sub(REDACTED, text) if pattern is not None else text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool, type(None))):
        return value
    return redact(repr(value))


class RedactSecrets(logging.Filter):
    """Rewrites a record so nothing secret is left in it (always lets it through)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        for key, value in list(record.__dict__.items()):
            if key not in _STD and not key.startswith("_"):
                record.__dict__[key] = _clean(value)
        if record.exc_info:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text)
            record.exc_info = None  # only the redacted text is written
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
               "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        for key, value in record.__dict__.items():
            if key not in _STD and not key.startswith("_"):
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) \
                    else repr(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False)


def setup(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in NOISY:  # request URLs hold tokens; their own debug lines are not ours
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
