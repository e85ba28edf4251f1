"""A built report as the front ends hand it out: plain JSON values (the REST API, and the
chart data of the page) and CSV (each table's rows, for a spreadsheet).

Values are raw, typed by their column's kind: ``seconds`` whole seconds, ``money`` two
decimals, ``percent`` a share from 0 to 1, dates in ISO 8601, nothing as null (an empty
cell in CSV). A CSV cell that a spreadsheet would read as a formula (it starts with
``= + - @``, a tab or a carriage return) is written with a leading ``'``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bot.services.reports import Filters, Report, Table

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def raw(value: Any, kind: str) -> Any:
    """``value`` as JSON holds it, for a column of ``kind``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (int, float, Decimal)):
        if kind == "seconds":
            return int(Decimal(str(value)).to_integral_value(ROUND_HALF_UP))
        if kind == "money":
            return float(Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP))
        if kind == "int" and float(value).is_integer():
            return int(value)
        return float(value) if isinstance(value, Decimal) else value
    return str(value)


def csv_cell(value: Any, kind: str) -> str:
    """One CSV cell: money with two decimals, a text that could be a formula defused."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        if kind == "money":
            return str(Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP))
        return str(raw(value, kind))
    text = str(raw(value, kind))
    return "'" + text if text.startswith(FORMULA_START) else text


def table_csv(table: Table) -> bytes:
    """The table as CSV: a header of column titles, then its rows; UTF-8 with a BOM (so a
    spreadsheet reads it as UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(c.title, "text") for c in table.columns])
    for row in table.rows:
        writer.writerow([csv_cell(row.get(c.key), c.kind) for c in table.columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def csv_filename(report_key: str, table_key: str, filters: Filters) -> str:
    name = f"{report_key}-{table_key}-{filters.start}-{filters.end}.csv"
    return _UNSAFE_NAME.sub("_", name)


def filters_dict(filters: Filters) -> dict[str, Any]:
    return {"from": filters.start.isoformat(), "to": filters.end.isoformat(),
            "channel": filters.channel, "account": filters.account_id,
            "agent": filters.agent_id, "label": filters.label,
            "extra": dict(filters.extra)}


def table_dict(table: Table) -> dict[str, Any]:
    return {"key": table.key, "title": table.title,
            "columns": [asdict(c) for c in table.columns],
            "rows": [{c.key: raw(row.get(c.key), c.kind) for c in table.columns}
                     for row in table.rows]}


def report_dict(report: Report) -> dict[str, Any]:
    """The whole report as JSON values (the API's answer)."""
    return {"key": report.key, "title": report.title, "filters": filters_dict(report.filters),
            "figures": [{"key": f.key, "title": f.title, "kind": f.kind,
                         "value": raw(f.value, f.kind), "previous": raw(f.previous, f.kind),
                         "link": f.link, "note": f.note} for f in report.figures],
            "tables": [table_dict(t) for t in report.tables],
            "charts": [{"kind": c.kind, "table": c.table, "x": c.x, "series": list(c.series),
                        "title": c.title} for c in report.charts]}
