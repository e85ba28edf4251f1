"""Queries over the inbox roll-up (:mod:`bot.services.reports.inbox_facts`) shared by the
inbox reports: the filters as SQL, and exact percentiles.

**Percentiles** are nearest-rank: of the n values sorted ascending, the p-th percentile is
the value at rank ceil(p x n / 100) (the median is p = 50, so of 4 values the 2nd; p90 of
10 values the 9th). Always one of the values, never an interpolation; None when n = 0.
Computed in the database with window functions (``ROW_NUMBER``, ``COUNT(*) OVER``) on
SQLite and PostgreSQL alike, over the range's rows only."""

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


def rank(p: int, n: str = "n") -> str:
    """The nearest rank of percentile ``p`` among ``n`` rows, in integer SQL."""
    return f"(({n} * {p} + 99) / 100)"


async def percentiles(f: Filters, column: str, ps: tuple[int, ...] = (50, 90),
                      group: str | None = None) -> dict[Any, dict[int, int | None]]:
    """{group value (None when ungrouped): {p: value}} for ``column`` over ``f``'s rows
    where it is not null."""
    w, params = where(f)
    by = f"PARTITION BY {group} " if group else ""
    g = group or "NULL"
    wanted = " OR ".join(f"rn = {rank(p)}" for p in ps)
    rows = await fetch(
        f"SELECT g, n, rn, v FROM (SELECT {g} AS g, {column} AS v, ROW_NUMBER() OVER "
        f"({by}ORDER BY {column}) AS rn, COUNT(*) OVER ({by.strip()}) AS n FROM "
        f"report_conversations f WHERE {w} AND {column} IS NOT NULL) t WHERE {wanted}",
        params)
    out: dict[Any, dict[int, int | None]] = {}
    for g_value, n, rn, v in rows:
        got = out.setdefault(g_value, {p: None for p in ps})
        for p in ps:
            if int(rn) == (int(n) * p + 99) // 100:
                got[p] = int(v)
    return out


async def percentiles_by(f: Filters, column: str, group: str, ps: tuple[int, ...] = (50, 90)
                         ) -> tuple[dict[int, int | None], dict[Any, dict[int, int | None]]]:
    """As :func:`percentiles`, over all of ``f``'s rows and per ``group`` value, in one
    pass over the rows."""
    w, params = where(f)
    wanted = " OR ".join([*(f"rn = {rank(p)}" for p in ps),
                          *(f"drn = {rank(p, 'dn')}" for p in ps)])
    rows = await fetch(
        f"SELECT g, n, rn, dn, drn, v FROM (SELECT {group} AS g, {column} AS v, ROW_NUMBER() "
        f"OVER (ORDER BY {column}) AS rn, COUNT(*) OVER () AS n, ROW_NUMBER() OVER "
        f"(PARTITION BY {group} ORDER BY {column}) AS drn, COUNT(*) OVER (PARTITION BY "
        f"{group}) AS dn FROM report_conversations f WHERE {w} AND {column} IS NOT NULL) t "
        f"WHERE {wanted}", params)
    overall: dict[int, int | None] = {p: None for p in ps}
    per: dict[Any, dict[int, int | None]] = {}
    for g_value, n, rn, dn, drn, v in rows:
        got = per.setdefault(g_value, {p: None for p in ps})
        for p in ps:
            if int(rn) == (int(n) * p + 99) // 100:
                overall[p] = int(v)
            if int(drn) == (int(dn) * p + 99) // 100:
                got[p] = int(v)
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
