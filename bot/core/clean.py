"""Input made safe for the database, at every way in: NUL characters dropped from text
and lone surrogates made U+FFFD (:func:`without_nul`), ids checked to be ids a database
integer holds (:func:`db_id`), and other systems' JSON read without trusting its shape
(:func:`obj`, :func:`seq`, :func:`as_text`).

PostgreSQL stores no NUL character in a text or JSON column: a message, a name or a form
field holding one failed the whole write with a 500 there, while SQLite kept it. NUL has
no meaning in a chat message or a contact's name, so every entry point drops it (the same
on both databases) instead of refusing the customer's message.

A lone surrogate (JSON's ``"\\ud800"``, valid JSON but no character) cannot be encoded as
UTF-8: stored, it failed the write, or, where a driver kept it, every later read of the
row answered 500 (``GET /users`` after one user's name held one). It has no meaning either,
so the same cleaning replaces it with U+FFFD, the replacement character."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

NUL = "\x00"
T = TypeVar("T")


def clean_str(text: str) -> str:
    """``text`` without NUL and with each lone surrogate replaced by U+FFFD; the very same
    object when there was nothing to clean."""
    out = text.replace(NUL, "") if NUL in text else text
    if not out.isascii():
        try:
            out.encode("utf-8")
        except UnicodeEncodeError:  # a surrogate: pairs are joined, lone ones replaced
            out = out.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return out


def without_nul(value: T) -> T:
    """``value`` with every string in it cleaned by :func:`clean_str` (through lists,
    tuples, dicts and dataclasses); the very same object when there was nothing to clean."""
    out: Any = value
    if isinstance(value, str):
        out = clean_str(value)
    elif isinstance(value, dict):
        items = {without_nul(k): without_nul(v) for k, v in value.items()}
        if any(a is not b for a, b in zip(items.values(), value.values(), strict=True)) \
                or any(a is not b for a, b in zip(items, value, strict=True)):
            out = items
    elif isinstance(value, (list, tuple)):
        cleaned = [without_nul(v) for v in value]
        if any(a is not b for a, b in zip(cleaned, value, strict=True)):
            out = tuple(cleaned) if isinstance(value, tuple) else cleaned
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in dataclasses.fields(value):
            old = getattr(value, f.name)
            new = without_nul(old)
            if new is not old:
                changes[f.name] = new
        if changes:
            out = dataclasses.replace(value, **changes)
    return out  # type: ignore[no-any-return]


# The largest number an integer column holds: PostgreSQL's ``integer`` (every id, position
# and count is one; SQLite took 2**63 - 1, PostgreSQL then failed the query with a 500).
MAX_ID = 2**31 - 1
MAX_BIG = 2**63 - 1  # a ``bigint`` column's (a Telegram user id)


def db_id(raw: str, limit: int = MAX_ID) -> int | None:
    """``raw`` (a path segment, a form field, a chat command's argument) as a row id, or
    None when it cannot be one: not plain ASCII digits (``isdigit`` also takes "²" and
    "٣"), or too big for the database, whose driver then raised OverflowError: a 500
    instead of a 404. ``limit``: MAX_BIG for a bigint column (a Telegram user id)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        return None
    value = int(raw)
    return value if value <= limit else None


# Reading JSON that another system sent (a webhook): a field can come missing or typed
# otherwise (a new API version, a test event from a dashboard). These read it as what
# is expected, or as empty, so the odd field is skipped instead of raising.
def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def seq(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_text(value: Any, limit: int) -> str:
    """A string or number as text of at most ``limit`` characters; "" for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value)[:limit]


def from_epoch(seconds: float) -> datetime | None:
    """A Unix time as an aware UTC datetime; None past what a datetime holds (year 9999)."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


MARKER = "…"


@overload
def fit(value: str, max_len: int, marker: str = MARKER) -> str: ...
@overload
def fit(value: None, max_len: int, marker: str = MARKER) -> None: ...
def fit(value: str | None, max_len: int, marker: str = MARKER) -> str | None:
    """``value`` cut to at most ``max_len`` characters, the marker included, so that text
    from outside (a From name, a Message-ID) fits its column instead of failing the write
    on PostgreSQL ("value too long"); None and values that fit come back unchanged."""
    if value is None or len(value) <= max_len:
        return value
    if max_len <= len(marker):
        return value[:max_len]
    return value[:max_len - len(marker)] + marker


def fit_key(value: str, max_len: int) -> str:
    """An id from outside (a Message-ID, a thread's root) made to fit its column while
    staying an id: a value too long keeps its start and ends with the marker and a hash of
    the whole, so two long ids that share a start stay apart, and the same id always
    fits to the same key (redeliveries and threading still match)."""
    if len(value) <= max_len:
        return value
    digest = hashlib.sha256(value.encode("utf-8", errors="surrogatepass")).hexdigest()[:32]
    return fit(value, max_len - len(digest)) + digest


def storable(value: str | bytes) -> str:
    """Text any database keeps: bytes decoded as UTF-8 (undecodable bytes replaced), NUL
    and lone surrogates (which PostgreSQL refuses and UTF-8 cannot encode) replaced."""
    return clean_str(value.decode("utf-8", errors="replace") if isinstance(value, bytes)
                     else value)
