"""Why something Switchboard did went wrong (a reply not delivered, a post missed or
failed), kept in two forms: the English text a row keeps in ``error`` (what the REST API
and the logs show, unchanged for the API's clients) and the same reason as data, in the
row's ``error_i18n`` (JSON), that a staff page shows in the reader's language
(:func:`shown`).

A :class:`Said` is a message of the catalogs (marked with ``N_()``: its English text is
its key, as for every ``_()`` text) with named values, each one of:

* a number, or a text shown as it is: what a remote service said (Meta's or Telegram's
  own error message) is its own words, never translated; the translated frame around it
  may quote it;
* another :class:`Said` (a reason inside a reason: "gave up after 5 attempts: …");
* a :class:`Joined` list of values ("facebook: …; telegram: …");
* a :class:`Code`: a raw code shown through a label table (``i18n.labels``), e.g. a
  network's name, and written raw in the English text.

Why data beside the text rather than one text parsed back: what the remote said may hold
any character (a ``;``, a ``:``, a word of ours), so a text cannot be split back into its
parts reliably; the data keeps them apart, and the English text stays exactly what it
was. A row written before this (no ``error_i18n``), or whose data cannot be read, shows
its ``error`` text as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from bot.core import i18n

TEXT_LIMIT = 500  # characters kept of one text value (as of the ``error`` column)


@dataclass(frozen=True)
class Code:
    """A raw code (``"facebook"``) shown through the label table ``kind``."""

    kind: str
    code: str


@dataclass(frozen=True)
class Joined:
    """Values shown one after another, ``sep`` between them."""

    sep: str
    items: tuple[Value, ...]


class Said:
    """A reason: the message ``message`` (an ``N_()`` text with ``%(name)s``
    placeholders) and its values. ``str()`` is the English text."""

    __slots__ = ("message", "values")

    def __init__(self, message: str, /, **values: Value) -> None:
        self.message, self.values = message, values

    def __str__(self) -> str:
        return english(self)

    def __repr__(self) -> str:
        return f"Said({self.message!r}, {self.values!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Said):
            return NotImplemented
        return (self.message, self.values) == (other.message, other.values)

    def __hash__(self) -> int:
        return hash(self.message)


Value = str | int | float | Said | Code | Joined


def _render(value: Value, translate: bool) -> str:
    if isinstance(value, Said):
        values = {k: _render(v, translate) for k, v in value.values.items()}
        if translate:
            return i18n._(value.message, **values)
        return value.message % values if values else value.message
    if isinstance(value, Joined):
        return value.sep.join(_render(v, translate) for v in value.items)
    if isinstance(value, Code):
        return i18n.label(i18n.LABELS.get(value.kind, {}), value.code) if translate \
            else value.code
    return str(value)


def english(value: Value) -> str:
    """``value`` as the English text kept in ``error`` (and sent by the API)."""
    return _render(value, False)


def translated(value: Value) -> str:
    """``value`` in the current locale (the page's)."""
    return _render(value, True)


def data(value: Value | None) -> Any:
    """``value`` as JSON data for ``error_i18n`` (None for a plain text or nothing: the
    ``error`` text says it all)."""
    if value is None or isinstance(value, str | int | float):
        return None
    return _encode(value)


def _encode(value: Value) -> Any:
    if isinstance(value, Said):
        return {"m": value.message, "v": {k: _encode(v) for k, v in value.values.items()}}
    if isinstance(value, Joined):
        return {"sep": value.sep, "all": [_encode(v) for v in value.items]}
    if isinstance(value, Code):
        return {"label": value.kind, "code": value.code}
    return value[:TEXT_LIMIT] if isinstance(value, str) else value


def read(stored: Any) -> Value | None:
    """The value ``error_i18n`` holds, or None if it holds nothing readable."""
    try:
        return _decode(stored) if isinstance(stored, Mapping) else None
    except (TypeError, ValueError, KeyError):
        return None


def _decode(item: Any) -> Value:
    if isinstance(item, str | int | float) and not isinstance(item, bool):
        return item
    if isinstance(item, Mapping):
        if isinstance(item.get("m"), str) and isinstance(item.get("v"), Mapping):
            return Said(item["m"], **{str(k): _decode(v) for k, v in item["v"].items()})
        if isinstance(item.get("sep"), str) and isinstance(item.get("all"), list):
            return Joined(item["sep"], tuple(_decode(v) for v in item["all"]))
        if isinstance(item.get("label"), str) and isinstance(item.get("code"), str):
            return Code(item["label"], item["code"])
    raise ValueError("not a stored reason")


def shown(text: str, stored: Any = None) -> str:
    """What a page shows for a row's ``error`` text and its ``error_i18n`` data: the
    data in the page's language, else the text as it is (an older row)."""
    value = read(stored)
    if value is None:
        return text
    try:
        return translated(value)
    except (KeyError, ValueError, TypeError):  # a translation whose placeholders differ
        return text


def install(env: jinja2.Environment) -> None:
    """Give ``env``'s templates ``{{ said(row.error, row.error_i18n) }}`` (:func:`shown`)."""
    env.globals["said"] = shown
