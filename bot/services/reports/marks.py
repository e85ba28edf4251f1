"""Watermarks over raw rows read in id order, shared by the report roll-ups.

On PostgreSQL a transaction can take an id and commit after a later id was committed,
so "every id up to the largest one read" is not safe. A :class:`Mark` keeps:

* ``done``: every id up to it was read, or is a gap older than :data:`GRACE` (judged by
  the insert time of the row after the gap: a rolled-back insert or a deleted row leaves
  a gap for ever, an open transaction for at most the grace);
* ``seen``: the largest id read. The rows after ``done`` up to ``seen`` (the *window*)
  are read again on every run until ``done`` passes them, and processed again when the
  window's ids changed (``sig``), so a row that commits late in a gap is counted; every
  step that uses this is safe to repeat on the same rows.

On SQLite (one writer: ids commit in order) the grace is 0 and ``done`` is ``seen``.

:func:`swap` compares and sets a mark inside the write transaction: a run that lost its
lease (another process moved the mark meanwhile) raises :class:`Conflict` and its
transaction rolls back, so nothing is counted twice."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.models import Model

from bot.core.time import utcnow

GRACE = timedelta(minutes=10)  # the longest an insert may stay uncommitted and be counted

Row = tuple[int, Any]  # (id, the row's insert time), then whatever the step reads
Read = Callable[[int, int | None, int], Awaitable[Sequence[Any]]]


class Conflict(RuntimeError):
    """Another process moved the watermark since this run read it."""


@dataclass(frozen=True)
class Mark:
    done: int = 0
    seen: int = 0
    sig: str = ""  # the window's ids as last read (hashed)

    @classmethod
    def parse(cls, text: str | None) -> Mark:
        parts = (text or "0").split()
        done = int(parts[0])
        return cls(done, int(parts[1]) if len(parts) > 1 else done,
                   parts[2] if len(parts) > 2 else "")

    def __str__(self) -> str:
        return str(self.done) if self.seen == self.done else \
            f"{self.done} {self.seen} {self.sig or '-'}"


@dataclass(frozen=True)
class Batch:
    rows: list[Any]  # to process now: the new rows, and the window's when it changed
    mark: Mark  # to store with what they produce


def _at(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    at: datetime = value
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _sig(ids: Sequence[int]) -> str:
    if not ids:
        return ""
    return hashlib.blake2b(",".join(map(str, ids)).encode(), digest_size=8).hexdigest()


async def take(mark: Mark, read: Read, size: int, grace: timedelta = GRACE,
               now: datetime | None = None) -> Batch:
    """The rows to process after ``mark`` and the mark to store with them. ``read(after,
    upto, limit)`` returns rows ``(id, inserted_at, ...)`` with ``after < id <= upto``
    (no upper bound when ``upto`` is None) in id order, at most ``limit``."""
    now = now or utcnow()
    window = list(await read(mark.done, mark.seen, size)) if mark.seen > mark.done else []
    fresh = list(await read(mark.seen, None, size))
    full = len(window) >= size
    changed = _sig([int(r[0]) for r in window]) != mark.sig
    both = window + fresh
    covered = int(window[-1][0]) if full else (int(fresh[-1][0]) if fresh else mark.seen)
    done = mark.done
    for row in both:
        row_id = int(row[0])
        if row_id > covered or (row_id != done + 1 and now - _at(row[1]) < grace):
            break  # unread rows, or a gap an open transaction may still fill
        done = row_id
    seen = max(mark.seen, int(fresh[-1][0]) if fresh else 0)
    known = [int(r[0]) for r in both if done < int(r[0]) <= covered]
    sig = _sig(known[:size]) if len(known) >= size or covered == seen else "?"
    return Batch((window if changed else []) + fresh, Mark(done, seen, sig))


async def swap(conn: Any, model: type[Model], key: str, old: dict[str, Any] | None,
               new: dict[str, Any]) -> None:
    """Set the state row ``key`` of ``model`` (its primary key) from ``old`` to ``new``
    in the transaction ``conn``, or raise :class:`Conflict` if it is not ``old`` (None:
    the row must not exist yet). On PostgreSQL the update locks the row until commit:
    call it first in the transaction, then read what the write depends on."""
    pk = model._meta.pk_attr
    if old is None:
        if await model.filter(**{pk: key}).using_db(conn).exists():
            raise Conflict(key)
        await model.create(using_db=conn, **{pk: key}, **new)
        return
    if not await model.filter(**{pk: key}, **old).using_db(conn).update(**new):
        raise Conflict(key)
