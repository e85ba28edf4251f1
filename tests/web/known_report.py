"""A small known report for the reports front end's tests (registered in
``bot.services.reports.REPORTS`` for a test, removed after): figures, two tables with a bar
chart, a heatmap, every kind of value, a cell a spreadsheet would read as a formula, and its
rows depend on the filters, which it records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from unittest.mock import patch

from bot.core.auth import Perm
from bot.services.reports import REPORTS, Chart, Column, Figure, Filters, Report, ReportSpec, Table

KEY, MARKETING_KEY = "known-test", "known-test-marketing"
SEEN: list[Filters] = []
HOURS = tuple(f"h{h}" for h in range(24))
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


async def build(f: Filters) -> Report:
    SEEN.append(f)
    days = [f.start + timedelta(days=i) for i in range(min(f.days, 40))]
    by_day = Table("by_day", "Conversations per day", [
        Column("day", "Day", "date"), Column("opened", "Opened"),
        Column("first_response", "First response", "seconds"),
        Column("revenue", "Revenue", "money"), Column("share", "Answered", "percent"),
        Column("note", "Note", "text")],
        [{"day": d, "opened": i + 1, "first_response": 90.4 + i,
          "revenue": Decimal("10.005") * (i + 1), "share": 0.25, "note": "plain"}
         for i, d in enumerate(days)])
    if by_day.rows:
        by_day.rows[0]["note"] = "=HYPERLINK(\"http://evil.test\")"
        by_day.rows[-1]["share"] = None
    heat = Table("heat", "Messages by weekday and hour",
                 [Column("weekday", "Weekday", "text"),
                  *(Column(h, f"{h[1:]}:00") for h in HOURS)],
                 [{"weekday": d, **{h: (i * 24 + j) % 7 for j, h in enumerate(HOURS)}}
                  for i, d in enumerate(DAYS)])
    agents = Table("agents", "Per agent", [Column("agent", "Agent", "text"),
                                           Column("replies", "Replies")],
                   [{"agent": f"channel={f.channel or 'any'} label={f.label or 'any'}",
                     "replies": f.days}, {"agent": "@sum(A1)", "replies": 0}])
    return Report(KEY, "Known test report", f, figures=[
        Figure("opened", "Conversations opened", f.days * 3, previous=f.days * 2),
        Figure("frt", "Median first response", 125, "seconds", previous=150),
        Figure("revenue", "Revenue", Decimal("1234.5"), "money", previous=None)],
        tables=[by_day, heat, agents],
        charts=[Chart("bar", "by_day", "day", ("opened",), "Opened per day"),
                Chart("heatmap", "heat", "weekday", HOURS, "Weekday by hour")])


async def build_marketing(f: Filters) -> Report:
    return Report(MARKETING_KEY, "Known marketing report", f,
                  figures=[Figure("orders", "Orders", 7, previous=5)])


@contextmanager
def known_reports(*keys: str) -> Iterator[list[Filters]]:
    """The known reports (``keys``, by default both) registered, and only they, for the
    duration: the inbox one honours every filter and a ``source`` extra, the marketing one
    only the channel. The registry is as it was afterwards."""
    specs = {KEY: ReportSpec(KEY, "Known test report", Perm.REPORTS_INBOX, build,
                             extra=("source",)),
             MARKETING_KEY: ReportSpec(MARKETING_KEY, "Known marketing report",
                                       Perm.REPORTS_MARKETING, build_marketing,
                                       group="marketing", filters=("channel",))}
    SEEN.clear()
    with patch.dict(REPORTS, {k: v for k, v in specs.items() if k in (keys or specs)},
                    clear=True):
        yield SEEN
