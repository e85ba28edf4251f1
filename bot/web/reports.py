"""The reports pages: ``/reports`` lists the reports the user may read (by group), and
``/reports/<key>`` shows one: a filter form, the headline figures against the previous
period, each chart (drawn by Chart.js from ``/static/vendor``, its table always beside it
for screen readers) and each table with its CSV at ``/reports/<key>/<table>.csv``.

The reports themselves are :data:`bot.services.reports.REPORTS` (filled by the catalog);
this module lists none. Each report names its own permission, checked here (403).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

import bot.services.reports.catalog  # noqa: F401  (fills REPORTS)
from bot.core import i18n, l10n
from bot.core.auth import USER, has_perm, perm_label, role_label
from bot.core.errors import InboxError
from bot.core.i18n import _, lazy
from bot.core.keys import JINJA, SETTINGS
from bot.core.pages import error_page, page, render
from bot.models import User
from bot.services.reports import REPORTS, Chart, Figure, Report, ReportSpec, Table, export, query

GROUPS = {"inbox": lazy("Inbox"), "marketing": lazy("Marketing"),
          "listening": lazy("Listening and reviews")}
FILTER_TITLES = {"channel": lazy("Channel"), "account": lazy("Account"),
                 "agent": lazy("Agent"), "label": lazy("Label")}
CHART_WORDS = {"bar": lazy("bar chart"), "stacked": lazy("stacked bar chart"),
               "line": lazy("line chart"), "doughnut": lazy("doughnut chart"),
               "funnel": lazy("funnel chart")}


def show(value: Any, kind: str) -> str:
    """A value as a person reads it on the page."""
    if value is None:
        return "—"
    if isinstance(value, i18n.Lazy):  # a label with a context (the funnel's "Order")
        return str(value)
    if kind == "text" and isinstance(value, str):  # a label the code marked with N_ (a
        return i18n.gettext(value)  # funnel stage) in the reader's language; others as kept
    if kind == "seconds" and isinstance(value, (int, float, Decimal)):
        s = int(export.raw(value, "seconds"))
        sign, s = ("-" if s < 0 else ""), abs(s)
        h, rest = divmod(s, 3600)
        m, sec = divmod(rest, 60)
        if h:
            return sign + _("%(h)s h %(m)s min", h=h, m=str(m).zfill(2))
        return sign + (_("%(m)s min %(s)s s", m=m, s=str(sec).zfill(2)) if m
                       else _("%(s)s s", s=sec))
    if kind == "money" and isinstance(value, (int, float, Decimal)):  # the locale's separators
        return l10n.format_number(Decimal(str(value)), "#,##0.00")
    if kind == "percent" and isinstance(value, (int, float, Decimal)):
        return l10n.format_percent(float(value), "#,##0.0%")
    if kind == "float" and isinstance(value, (float, Decimal)):
        return l10n.format_number(value, "#,##0.00")
    if kind == "rating" and isinstance(value, (float, Decimal)):
        return l10n.format_number(value, "0.00")
    if isinstance(value, int) and not isinstance(value, bool):
        return l10n.format_number(value)
    return str(export.raw(value, kind))


def change(f: Figure) -> dict[str, str] | None:
    """The change from the previous period: an arrow, a percent and the words for it."""
    if not all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)
               for v in (f.value, f.previous)):
        return None
    now, before = float(f.value), float(f.previous)
    was = show(f.previous, f.kind)
    if now == before:
        return {"arrow": "=", "text": _("no change"), "cls": "same",
                "words": _("unchanged from %(was)s in the previous period", was=was)}
    arrow, word = ("▲", "up") if now > before else ("▼", "down")
    if before == 0:
        return {"arrow": arrow, "text": _("new"), "cls": word, "words": (
            _("up from %(was)s in the previous period", was=was) if word == "up" else
            _("down from %(was)s in the previous period", was=was))}
    pct = f"{abs(now - before) / abs(before) * 100:.0f}%"
    return {"arrow": arrow, "text": pct, "cls": word, "words": (
        _("up %(pct)s from %(was)s in the previous period", pct=pct, was=was)
        if word == "up" else
        _("down %(pct)s from %(was)s in the previous period", pct=pct, was=was))}


def _heatmap(chart: Chart, table: Table) -> dict[str, Any]:
    titles = {c.key: c for c in table.columns}
    values = [row.get(s) for row in table.rows for s in chart.series]
    top = max((float(v) for v in values if isinstance(v, (int, float, Decimal))), default=0)
    rows = []
    for row in table.rows:
        cells = []
        for s in chart.series:
            v = row.get(s)
            share = float(v) / top if top and isinstance(v, (int, float, Decimal)) else 0
            cells.append({"text": show(v, titles[s].kind if s in titles else "int"),
                          "alpha": round(0.08 + 0.85 * share, 3), "dark": share > 0.55})
        x_kind = titles[chart.x].kind if chart.x in titles else "text"
        rows.append({"label": show(row.get(chart.x), x_kind), "cells": cells})
    return {"title": _(chart.title or table.title), "table": table,
            "head": [_(titles[s].title) if s in titles else s for s in chart.series],
            "x": _(titles[chart.x].title) if chart.x in titles else chart.x, "rows": rows}


def _charts(report: Report) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[str]]:
    """Chart.js charts (their data for the page's script), heatmaps (HTML tables), and the
    keys of the tables a chart shows (shown once, with the chart)."""
    drawn, heat, shown = [], [], set()
    for i, chart in enumerate(report.charts):
        try:
            table = report.table(chart.table)
        except KeyError:
            continue
        shown.add(table.key)
        if chart.kind == "heatmap":
            heat.append(_heatmap(chart, table))
            continue
        cols = {c.key: c for c in table.columns}
        x_kind = cols[chart.x].kind if chart.x in cols else "text"
        names = [_(cols[s].title) if s in cols else s for s in chart.series]
        series = [{"label": _(cols[s].title) if s in cols else s,
                   "kind": cols[s].kind if s in cols else "int",
                   "data": [export.raw(r.get(s), cols[s].kind if s in cols else "int")
                            for r in table.rows]} for s in chart.series]
        title = _(chart.title or table.title)
        drawn.append({"id": f"chart-{i}", "kind": chart.kind, "title": title,
                      "labels": [show(r.get(chart.x), x_kind) for r in table.rows],
                      "series": series, "table": table, "aria": _(
                          "%(title)s: %(chart)s of %(names)s by %(x)s. The table below "
                          "gives every value.", title=title,
                          chart=CHART_WORDS.get(chart.kind) or _("chart"),
                          names=", ".join(names),
                          x=_(cols[chart.x].title) if chart.x in cols else chart.x)})
    return drawn, heat, shown


def _spec(request: web.Request) -> ReportSpec | web.Response:
    user: User = request[USER]
    spec = REPORTS.get(request.match_info["key"])
    if spec is None:
        return error_page(request, 404, _("There is no such report."))
    if not has_perm(user, spec.perm):
        return error_page(request, 403, _("Your role (%(role)s) may not %(perm)s.",
                                          role=role_label(user.role),
                                          perm=perm_label(spec.perm)))
    return spec


@page(None)
async def reports_index(request: web.Request) -> web.Response:
    specs = query.readable(request[USER])
    if not specs and REPORTS:
        return error_page(request, 403, _("Your role (%(role)s) may not read any report.",
                                          role=request[USER].role.value))
    groups: dict[str, list[ReportSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.group, []).append(spec)
    return render(request, "web/reports.html", groups=[
        (GROUPS.get(g, g.capitalize()), items) for g, items in groups.items()])


@page(None)
async def report_page(request: web.Request) -> web.Response:
    spec = _spec(request)
    if isinstance(spec, web.Response):
        return spec
    today = query.today_in(request.app[SETTINGS].shop_timezone)
    options = await query.choices(spec)
    form = {k: request.query.get(k, "") for k in (*FILTER_TITLES, *spec.extra)}
    try:
        preset, start, end = query.resolve_range(request.query, today)
        filters = await query.parse_filters(spec, request.query, today)
        report = await spec.build(filters)
    except InboxError as exc:
        return render(request, "web/report.html", status=exc.status, spec=spec,
                      error=str(exc), field=exc.field or "", options=options, form=form,
                      presets=query.PRESETS, preset=request.query.get("range", "custom"),
                      start=request.query.get("from", ""), end=request.query.get("to", ""),
                      titles=FILTER_TITLES, report=None)
    drawn, heat, shown = _charts(report)
    data = [{k: v for k, v in c.items() if k != "table"} for c in drawn]
    qs = request.query_string
    return render(request, "web/report.html", spec=spec, report=report, error="", field="",
                  options=options, form=form, presets=query.PRESETS, preset=preset,
                  start=start.isoformat(), end=end.isoformat(), titles=FILTER_TITLES,
                  figures=[(f, show(f.value, f.kind), change(f)) for f in report.figures],
                  drawn=drawn, heat=heat, shown=shown, show=show,
                  chart_json=json.dumps(data, ensure_ascii=True).replace("<", "\\u003c"),
                  csv_query=("?" + qs) if qs else "")


@page(None)
async def report_csv(request: web.Request) -> web.StreamResponse:
    spec = _spec(request)
    if isinstance(spec, web.Response):
        return spec
    today = query.today_in(request.app[SETTINGS].shop_timezone)
    try:
        filters = await query.parse_filters(spec, request.query, today)
        report = await spec.build(filters)
        table = report.table(request.match_info["table"])
    except InboxError as exc:
        return error_page(request, exc.status, str(exc))
    except KeyError:
        return error_page(request, 404, _("The report has no such table."))
    name = export.csv_filename(spec.key, table.key, filters)
    return web.Response(body=export.table_csv(table), content_type="text/csv",
                        charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def may_read_reports(user: User | None) -> bool:
    """Whether the nav shows Reports: the user may read at least one report."""
    return user is not None and bool(query.readable(user))


def setup(app: web.Application) -> None:
    app[JINJA].globals["may_read_reports"] = may_read_reports
    app.router.add_get("/reports", reports_index)
    app.router.add_get("/reports/{key}", report_page)
    app.router.add_get("/reports/{key}/{table}.csv", report_csv)
