"""Queries over the inbox roll-up (:mod:`bot.services.reports.inbox_facts`) shared by the
inbox reports: the filters as SQL, and exact percentiles.

**Percentiles** are nearest-rank: of the n values sorted ascending, the p-th percentile is
the value at rank ceil(p x n / 100) (the median is p = 50, so of 4 values the 2nd; p90 of
10 values the 9th). Always one of the values, never an interpolation; None when n = 0.
The range's values are read in one query and sorted in Python (see
:func:`percentiles`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.services.reports import Figure, Filters, Kind
from bot.services.reports.inbox_facts import Config, config, day_start, fetch

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
    for the whole range and, with ``group``, the same per group value. One pass: the
    values come in one query (a few integers a conversation) and are sorted here, which
    is several times faster than one window query per column on SQLite."""
    w, params = where(f)
    g = group or "NULL"
    rows = await fetch(f"SELECT {g}, {', '.join(columns)} FROM report_conversations f "
                       f"WHERE {w}", params)
    overall: dict[str, list[int]] = {c: [] for c in columns}
    per: dict[Any, dict[str, list[int]]] = {}
    for row in rows:
        bucket = per.setdefault(row[0], {c: [] for c in columns}) if group else None
        for c, v in zip(columns, row[1:], strict=True):
            if v is not None:
                overall[c].append(int(v))
                if bucket is not None:
                    bucket[c].append(int(v))

    def pick(lists: dict[str, list[int]]) -> dict[str, dict[int, int | None]]:
        return {c: {p: nearest(sorted_, p) for p in ps}
                for c, sorted_ in ((c, sorted(vs)) for c, vs in lists.items())}

    return pick(overall), {k: pick(v) for k, v in per.items()}


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
