"""Field types and schema helpers of request bodies and queries (re-exported by
:mod:`bot.core.http`): what the server checks, stated so the OpenAPI document says it too."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d")


def _iso_time(value: Any) -> Any:
    if isinstance(value, str) and not _ISO_TIME.match(value):
        raise ValueError("give an ISO 8601 date-time, e.g. 2030-01-31T09:00:00+00:00")
    return value


# A time in a query string: ISO 8601 only (pydantic also read "0.5" as seconds since 1970,
# which the document's date-time format refuses).
Instant = Annotated[datetime, BeforeValidator(_iso_time)]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omissible(**kw: Any) -> Any:
    """The default of a PATCH field that may be left out (it then stays as it is) but is
    never null: ``name: str = omissible()``. Null is refused with 422 (a null name or
    attribute map used to reach the database's NOT NULL: a 500), and the document shows
    the field as optional, not nullable. A field whose column may be empty is written
    ``X | None = None`` instead: there null clears it."""
    return Field(default=None, json_schema_extra=_no_default, **kw)


def exactly_one(*names: str) -> dict[str, Any]:
    """The JSON Schema of "exactly one of these fields is given (not null)", for a model's
    ``json_schema_extra`` beside the validator that checks it, so the document says what
    the server refuses."""
    return {"anyOf": [{"required": [name], "properties": {
        other: {"type": "null"} if other != name else {"not": {"type": "null"}}
        for other in names}} for name in names]}
