"""Queries over the inbox roll-up (:mod:`bot.services.reports.inbox_facts`) shared by the
inbox reports: the filters as SQL, and exact percentiles.

**Percentiles** are nearest-rank: of the n values sorted ascending, the p-th percentile is
the value at rank ceil(p x n / 100) (the median is p = 50, so of 4 values the 2nd; p90 of
10 values the 9th). Always one of the values, never an interpolation; None when n = 0.
All of a range's percentiles come from one query (see :func:`percentiles`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from bot.services.reports import Figure, Filters, Kind
from bot.services.reports.inbox_facts import Config, config, day_start, dialect, fetch

Where = tuple[str, list[Any]]
LINK = "/inbox/{}"  # a conversation's page


def where(f: Filters, alias: str = "f", cfg: Config | None = None) -> Where:
    """The roll-up rows of conversations opened in ``f``'s days that pass its filters."""
    cfg = cfg or config()
    parts = [f"{alias}.opened_at >= ?", f"{alias}.opened_at < ?"]
    params: list[Any] = [day_start(f.start, cfg), day_start(f.end + timedelta(days=1), cfg)]
    if f.channel is not None:
        parts.append(f"{alias}.channel_kind = ?")
        params.append(f.channel)
    if f.account_id is not None:
        parts.append(f"{alias}.account_id = ?")
        params.append(f.account_id)
    if f.agent_id is not None:
        parts.append(f"{alias}.agent_id = ?")
        params.append(f.agent_id)
    if f.label is not None:
        parts.append(f"{alias}.conversation_id IN (SELECT cl.conversations_id FROM "
                     f"conversation_labels cl JOIN labels l ON l.id = cl.label_id "
                     f"WHERE l.name = ?)")
        params.append(f.label)
    return " AND ".join(parts), params


def nearest(ordered: list[int], p: int) -> int | None:
    """The nearest-rank ``p``-th percentile of ascending ``ordered`` (None when empty)."""
    return ordered[(len(ordered) * p + 99) // 100 - 1] if ordered else None


async def percentiles(f: Filters, columns: tuple[str, ...], group: str | None = None,
                      ps: tuple[int, ...] = (50, 90)
                      ) -> tuple[dict[str, dict[int, int | None]],
                                 dict[Any, dict[str, dict[int, int | None]]]]:
    """For each of ``columns`` (where not null) over ``f``'s rows: ``{column: {p: value}}``
    for the whole range and, with ``group``, the same per group value. One query either
    way: on PostgreSQL ``percentile_disc`` computes them all (the range's and every
    group's, with grouping sets); on SQLite the values come from the covering index
    ``rep_conv_cover`` (a few integers a conversation) and numpy sorts them: one sort a
    column for the range and one for all its groups."""
    if dialect() == "postgres":
        return await _percentiles_pg(f, columns, group, ps)
    w, params = where(f)
    key = ("CAST(REPLACE(f.day, '-', '') AS INTEGER)" if group == "day"  # 20260131
           else f"COALESCE({group}, {_NULL})" if group else "0")
    rows = await fetch(f"SELECT {key}, {', '.join(f'COALESCE({c}, {_NULL})' for c in columns)}"
                       f" FROM report_conversations f WHERE {w}", params)
    if not rows:
        return {c: dict.fromkeys(ps) for c in columns}, {}
    table = np.array(rows, dtype=np.int64)  # integers only: one conversion, in C
    keys, codes = np.unique(table[:, 0], return_inverse=True)
    names = [_name(int(k), group) for k in keys]
    overall: dict[str, dict[int, int | None]] = {}
    per: dict[Any, dict[str, dict[int, int | None]]] = {k: {} for k in names} if group else {}
    for i, c in enumerate(columns, 1):
        present = table[:, i] != _NULL
        ints = table[present, i]
        overall[c] = _ranks(np.sort(ints), ps)
        if group:
            _grouped(ints, codes[present], len(keys), ps, c, [per[k] for k in names])
    return overall, per


_NULL = 1 << 40  # stands for NULL in the integer columns (int32: never a value)


def _name(key: int, group: str | None) -> Any:
    """A group's value back from its integer form."""
    if group == "day":
        return f"{key // 10000:04d}-{key // 100 % 100:02d}-{key % 100:02d}"
    return None if key == _NULL else key


def _ranks(ordered: Any, ps: tuple[int, ...]) -> dict[int, int | None]:
    n = len(ordered)
    return {p: int(ordered[(n * p + 99) // 100 - 1]) if n else None for p in ps}


def _grouped(ints: Any, codes: Any, groups: int, ps: tuple[int, ...], column: str,
             out: list[dict[str, dict[int, int | None]]]) -> None:
    """Each group's nearest-rank percentiles of ``ints`` (``codes``: each value's group),
    with one sort: of group code x span + value, so each group's values come out
    together and ascending."""
    counts = np.bincount(codes, minlength=groups)
    if not len(ints):
        for o in out:
            o[column] = dict.fromkeys(ps)
        return
    low = int(ints.min())
    span = int(ints.max()) - low + 1
    ordered = np.sort(codes * span + (ints - low)) % span + low
    starts = np.cumsum(counts) - counts
    picks = {p: ordered[np.clip(starts + (counts * p + 99) // 100 - 1, 0, len(ints) - 1)]
             for p in ps}
    for i, o in enumerate(out):
        o[column] = {p: int(picks[p][i]) if counts[i] else None for p in ps}


async def _percentiles_pg(f: Filters, columns: tuple[str, ...], group: str | None,
                          ps: tuple[int, ...]
                          ) -> tuple[dict[str, dict[int, int | None]],
                                     dict[Any, dict[str, dict[int, int | None]]]]:
    # percentile_disc(x) is the value at rank ceil(x * n): nearest rank. Each fraction is
    # a hair below p/100 so that a product x * n rounded just above a whole rank in
    # floating point (in Python 0.9 * 70 is 63.00000000000001) never takes the next rank;
    # the hair is far less than the 1/(100 n) between two ranks, up to a billion rows
    fractions = ", ".join(f"{p / 100 - 1e-9!r}" for p in ps)
    aggs = ", ".join(f"percentile_disc(ARRAY[{fractions}]::float8[]) WITHIN GROUP "
                     f"(ORDER BY f.{c})" for c in columns)
    w, params = where(f)
    head = f"GROUPING({group}), {group}" if group else "0, NULL"
    tail = f" GROUP BY GROUPING SETS (({group}), ())" if group else ""
    rows = await fetch(f"SELECT {head}, {aggs} FROM report_conversations f WHERE {w}{tail}",
                       params)
    overall = {c: dict.fromkeys(ps) for c in columns}
    per: dict[Any, dict[str, dict[int, int | None]]] = {}
    for total, key, *values in rows:
        got = {c: {p: None if v is None or v[i] is None else int(v[i])
                   for i, p in enumerate(ps)} for c, v in zip(columns, values, strict=True)}
        if total or not group:
            overall = got
        else:
            per[key] = got
    return overall, per


def share(part: int | None, whole: int | None) -> float | None:
    return None if not whole else (part or 0) / whole


def figures(now: dict[str, Any], before: dict[str, Any],
            specs: list[tuple[str, str, Kind]], link: str = "") -> list[Figure]:
    """Figures ``(key, title, kind)`` with this period's and the previous one's values."""
    return [Figure(key, title, now.get(key), kind, before.get(key), link)
            for key, title, kind in specs]


async def totals(f: Filters, select: str) -> dict[str, Any]:
    """One row of integer aggregates (``select`` names its columns with AS; NULL, a sum of
    no rows, is 0) over ``f``'s rows."""
    w, params = where(f)
    cursor = await fetch(f"SELECT {select} FROM report_conversations f WHERE {w}", params)
    names = [part.rsplit(" AS ", 1)[1].strip() for part in _split(select)]
    row = cursor[0] if cursor else (None,) * len(names)
    return {k: int(v or 0) for k, v in zip(names, row, strict=True)}  # counts and sums


def _split(select: str) -> list[str]:
    """The top-level comma-separated parts of a SELECT list."""
    parts, depth, cur = [], 0, ""
    for ch in select:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += (ch == "(") - (ch == ")")
        cur += ch
    return [*parts, cur]
