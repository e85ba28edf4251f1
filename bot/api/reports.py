"""The reports' REST endpoints: the reports the caller may read, one report built for a
range and filters (the same rows as the page and its CSV), and one table as CSV. Each
report names its own permission (403 without it); the list needs either reports
permission."""

from __future__ import annotations

from aiohttp import web

import bot.services.reports.catalog  # noqa: F401  (fills REPORTS)
from bot.api.schemas import reports as s
from bot.core.auth import Perm, has_perm
from bot.core.http import ApiError, Call, Endpoint, json_out
from bot.core.keys import SETTINGS
from bot.models import User
from bot.services.reports import REPORTS, Filters, Report, ReportSpec, export, query

ANY_REPORT = (Perm.REPORTS_INBOX, Perm.REPORTS_MARKETING)


async def list_reports(call: Call) -> web.Response:
    assert call.user is not None
    return json_out([{"key": r.key, "title": r.title, "group": r.group,
                      "filters": list(r.filters), "extra": list(r.extra)}
                     for r in query.readable(call.user)])


def _spec(call: Call) -> ReportSpec:
    spec = query.spec_of(call.request.match_info["key"])
    user: User | None = call.user
    if user is None or not has_perm(user, spec.perm):
        raise ApiError(403, "forbidden", f"this report needs: {spec.perm.value}")
    return spec


KNOWN = frozenset(f.alias or name for name, f in s.ReportQuery.model_fields.items())
EXTRAS = frozenset(s.EXTRA_FILTERS)


async def _build(call: Call) -> tuple[ReportSpec, Filters, Report]:
    spec = _spec(call)
    for name in sorted(set(call.request.query) - KNOWN):
        raise ApiError(400, "invalid", f"unknown query parameter {name[:40]!r}", name[:40])
    for name in sorted(EXTRAS - set(spec.extra)):
        if call.request.query.get(name, "").strip():
            raise ApiError(400, "invalid", f"the report {spec.key!r} has no {name} filter",
                           name)
    today = query.today_in(call.request.app[SETTINGS].shop_timezone)
    asked = {k: call.request.query.getall(k)[-1] for k in call.request.query}  # as validated
    filters = await query.parse_filters(spec, asked, today)
    return spec, filters, await spec.build(filters)


async def get_report(call: Call) -> web.Response:
    _, _, report = await _build(call)
    return json_out(export.report_dict(report))


async def get_report_csv(call: Call) -> web.Response:
    spec, filters, report = await _build(call)
    try:
        table = report.table(call.request.match_info["table"])
    except KeyError:
        raise ApiError(404, "not_found", "the report has no such table", "table") from None
    name = export.csv_filename(spec.key, table.key, filters)
    return web.Response(body=export.table_csv(table), content_type="text/csv",
                        charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def endpoints() -> list[Endpoint]:
    """The routes; the document names each registered report (the catalog is imported)."""
    E = Endpoint
    key = {"key": {"type": "string", "enum": sorted(REPORTS)}}
    return [
        E("GET", "/api/v1/reports", list_reports, "The reports the caller may read",
          "Reports", ANY_REPORT, response=s.ReportItem, many=True),
        E("GET", "/api/v1/reports/{key}", get_report,
          "A report for a range and filters, with the previous period's figures",
          "Reports", ANY_REPORT, query=s.ReportQuery, response=s.ReportOut, path_schemas=key,
          responses={400: "a bad range (from after to, over 400 days) or a filter value "
                          "that names nothing stored, or one the report does not honour",
                     404: "no such report"}),
        E("GET", "/api/v1/reports/{key}/{table}.csv", get_report_csv,
          "One table of a report as CSV (UTF-8 with a BOM, a header of column titles)",
          "Reports", ANY_REPORT, query=s.ReportQuery, path_schemas=key,
          responses={200: "the table as text/csv",
                     400: "a bad range or filter value (as for the report)",
                     404: "no such report, or no such table in it"}),
    ]
