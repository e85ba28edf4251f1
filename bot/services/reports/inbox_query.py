"""Queries over the inbox roll-up (:mod:`bot.services.reports.inbox_facts`) shared by the
inbox reports: the filters as SQL, and exact percentiles.

**Percentiles** are nearest-rank: of the n values sorted ascending, the p-th percentile is
the value at rank ceil(p x n / 100) (the median is p = 50, so of 4 values the 2nd; p90 of
10 values the 9th). Always one of the values, never an interpolation; None when n = 0.
All of a range's percentiles come from one query (see :func:`percentiles`)."""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass
class Spread:
    """Nearest-rank percentiles of some columns over a range's rows, and per group.

    ``overall``: ``{column: {p: value}}``; ``per``: the same for each group that has rows;
    ``counts``: for each such group its ``rows`` and each column's non-null count."""

    overall: dict[str, dict[int, int | None]]
    per: dict[Any, dict[str, dict[int, int | None]]] = field(default_factory=dict)
    counts: dict[Any, dict[str, int]] = field(default_factory=dict)


async def percentiles(f: Filters, columns: tuple[str, ...], group: str | None = None,
                      ps: tuple[int, ...] = (50, 90)) -> Spread:
    """The percentiles ``ps`` of each of ``columns`` (where not null) over ``f``'s rows, for
    the whole range and, with ``group`` (``"day"``: the local day opened, or a column), per
    group. One query either way: on PostgreSQL ``percentile_disc`` computes them all (the
    range's and every group's, with grouping sets); on SQLite each column's values come
    back as one ``group_concat`` string from the covering index ``rep_conv_cover`` (a few
    integers a conversation), which numpy parses and sorts: one sort a column for the range
    and one for all its groups. (A row a value costs Python an object per value: three
    times slower over a year of a busy shop.)"""
    if dialect() == "postgres":
        return await _percentiles_pg(f, columns, group, ps)
    cfg = config()
    w, params = where(f, cfg=cfg)
    key = ["f.opened_at" if group == "day" else f"COALESCE(f.{group}, {_NULL})"] if group \
        else []
    exprs = [*key, *(f"COALESCE(f.{c}, {_NULL})" for c in columns)]
    concat = ", ".join(f"group_concat({e}, ',')" for e in exprs)
    n, *texts = (await fetch(f"SELECT COUNT(*), {concat} FROM report_conversations f "
                             f"WHERE {w}", params))[0]
    if not n:
        return Spread({c: dict.fromkeys(ps) for c in columns})
    table = [np.fromstring(t, dtype=np.int64, sep=",") for t in texts]
    if any(len(a) != n for a in table):  # a value that is not an integer
        raise ValueError("report_conversations holds a value that is not an integer")
    if not group:
        table.insert(0, np.zeros(n, dtype=np.int64))
    if group == "day":  # the local day each was opened: the day whose start precedes it
        starts = np.array([day_start(f.start + timedelta(days=i), cfg)
                           for i in range(f.days + 1)], dtype=np.int64)
        table[0] = np.searchsorted(starts, table[0], side="right") - 1
    keys, codes = np.unique(table[0], return_inverse=True)
    names = [_name(int(k), group, f) for k in keys]
    out = Spread({}, {k: {} for k in names} if group else {})
    if group:
        rows = np.bincount(codes, minlength=len(keys))
        out.counts = {k: {"rows": int(rows[i])} for i, k in enumerate(names)}
    for c, values in zip(columns, table[1:], strict=True):
        present = values != _NULL
        ints = values[present]
        out.overall[c] = _ranks(np.sort(ints), ps)
        if group:
            _grouped(ints, codes[present], len(keys), ps, c, [out.per[k] for k in names])
            have = np.bincount(codes[present], minlength=len(keys))
            for i, k in enumerate(names):
                out.counts[k][c] = int(have[i])
    return out


_NULL = 1 << 40  # stands for NULL in the integer columns (int32: never a value)


def _name(key: int, group: str | None, f: Filters) -> Any:
    """A group's value back from its integer form (a day: its index in ``f``'s days)."""
    if group == "day":
        return (f.start + timedelta(days=key)).isoformat()
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
                          ps: tuple[int, ...]) -> Spread:
    # percentile_disc(x) is the value at rank ceil(x * n): nearest rank. Each fraction is
    # a hair below p/100 so that a product x * n rounded just above a whole rank in
    # floating point (in Python 0.9 * 70 is 63.00000000000001) never takes the next rank;
    # the hair is far less than the 1/(100 n) between two ranks, up to a billion rows
    fractions = ", ".join(f"{p / 100 - 1e-9!r}" for p in ps)
    aggs = ", ".join(f"percentile_disc(ARRAY[{fractions}]::float8[]) WITHIN GROUP "
                     f"(ORDER BY f.{c}), COUNT(f.{c})" for c in columns)
    w, params = where(f)
    head = f"GROUPING({group}), {group}" if group else "0, NULL"
    tail = f" GROUP BY GROUPING SETS (({group}), ())" if group else ""
    rows = await fetch(f"SELECT {head}, COUNT(*), {aggs} FROM report_conversations f "
                       f"WHERE {w}{tail}", params)
    out = Spread({c: dict.fromkeys(ps) for c in columns})
    for total, key, n, *values in rows:
        got = {c: {p: None if v is None or v[i] is None else int(v[i])
                   for i, p in enumerate(ps)} for c, v in zip(columns, values[::2], strict=True)}
        if total or not group:
            out.overall = got
        else:
            name = key.isoformat() if hasattr(key, "isoformat") else key
            out.per[name] = got
            out.counts[name] = {"rows": int(n), **{c: int(k) for c, k in zip(
                columns, values[1::2], strict=True)}}
    return out


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
