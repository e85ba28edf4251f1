"""Values read from a source database (SQLite keeps datetimes and JSON as text and
booleans as integers) converted to a PostgreSQL column's type, for ``db copy``
(:mod:`bot.core.db_copy`): :data:`CONVERTERS` maps a PostgreSQL type name to its
converter; a value that does not convert raises ``ValueError``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any


def _to_datetime(v: Any) -> datetime:
    if isinstance(v, datetime):
        d = v
    elif isinstance(v, str):
        d = datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
    else:
        raise ValueError("not a date and time")
    return d if d.tzinfo else d.replace(tzinfo=UTC)  # Tortoise stores UTC (use_tz)


def _to_naive_datetime(v: Any) -> datetime:
    d = v if isinstance(v, datetime) else datetime.fromisoformat(str(v).strip())
    return d.astimezone(UTC).replace(tzinfo=None) if d.tzinfo else d


def _to_date(v: Any) -> date:
    if isinstance(v, datetime):
        return v.date()
    return v if isinstance(v, date) else date.fromisoformat(str(v).strip()[:10])


def _to_time(v: Any) -> time:
    return v if isinstance(v, time) else time.fromisoformat(str(v).strip())


def _to_bool(v: Any) -> bool:
    if isinstance(v, str):
        if v.strip().lower() in ("1", "true", "t", "yes"):
            return True
        if v.strip().lower() in ("0", "false", "f", "no"):
            return False
        raise ValueError("not a boolean")
    return bool(v)


def _to_json(v: Any) -> str:
    # SQLite gives a JSON column NUMERIC affinity: a bare number is stored as a number
    if isinstance(v, str):
        json.loads(v)  # a clear error here rather than a COPY failure
        return v
    if isinstance(v, bytes):
        return v.decode()
    return json.dumps(v)


def _to_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return int(str(v).strip())
    return v


def _to_text(v: Any) -> str:
    return v if isinstance(v, str) else v.decode() if isinstance(v, bytes) else str(v)


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "timestamptz": _to_datetime, "timestamp": _to_naive_datetime, "date": _to_date,
    "time": _to_time, "bool": _to_bool, "json": _to_json, "jsonb": _to_json,
    "int2": _to_int, "int4": _to_int, "int8": _to_int,
    "float4": float, "float8": float, "numeric": lambda v: Decimal(str(v)),
    "uuid": lambda v: v if isinstance(v, uuid.UUID) else uuid.UUID(str(v)),
    "varchar": _to_text, "text": _to_text, "bpchar": _to_text,
    "bytea": lambda v: v if isinstance(v, bytes) else str(v).encode(),
}
