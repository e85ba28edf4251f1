"""Reports: what every report is made of, and the registry the front ends read.

A report is built by one coroutine from :class:`Filters` and returns a :class:`Report`:
headline :class:`Figure` s (each with the previous period's value, for the comparison) and
:class:`Table` s (the rows behind each chart: the CSV download and the REST API give exactly
these rows). A :class:`Chart` names a table and the columns it draws; the page draws it with
the chart library and always shows the table too (the screen-reader alternative).

The front ends (``bot/web/reports.py``, ``bot/api/reports.py``) list no report: they read
:data:`REPORTS`, which each reports module fills with :func:`register` when it is imported
(``bot.services.reports.catalog`` imports them all). The queries and roll-ups live in the
modules of this package; they read models only (layer 0), never a feature's services.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Literal

from bot.core.auth import Perm

# How a value is shown (page, CSV header note) and typed in the API. ``seconds`` is a
# duration in whole seconds; ``money`` is in the shop's currency, two decimals; ``percent``
# is a share from 0 to 1 (None when there is nothing to divide by).
Kind = Literal["int", "float", "seconds", "money", "percent", "text", "date", "datetime",
               "rating", "link"]
ChartKind = Literal["bar", "stacked", "line", "doughnut", "heatmap", "funnel"]


@dataclass(frozen=True)
class Filters:
    """A report's range and filters. ``start`` and ``end`` are days in the shop's timezone,
    both included. ``None`` means "any"."""

    start: date
    end: date
    channel: str | None = None
    account_id: int | None = None
    agent_id: int | None = None
    label: str | None = None
    extra: tuple[tuple[str, str], ...] = ()  # report-specific filters, e.g. ("source", "api")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before this one (the comparison)."""
        return replace(self, start=self.start - timedelta(days=self.days),
                       end=self.start - timedelta(days=1))


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    kind: Kind = "int"


@dataclass
class Table:
    """Rows behind a chart or a list. ``key`` is the CSV's name (``<report>-<key>.csv``)."""

    key: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Chart:
    """Draw ``table``'s ``series`` columns against its ``x`` column."""

    kind: ChartKind
    table: str
    x: str
    series: tuple[str, ...]
    title: str = ""


@dataclass(frozen=True)
class Figure:
    """One headline number, with the previous period's value (None: not comparable)."""

    key: str
    title: str
    value: Any
    kind: Kind = "int"
    previous: Any = None
    link: str = ""  # the page behind it, e.g. "/inbox?status=open"
    note: str = ""  # e.g. "target 15 min"


@dataclass
class Report:
    key: str
    title: str
    filters: Filters
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)

    def table(self, key: str) -> Table:
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(key)


Builder = Callable[[Filters], Awaitable[Report]]
# The values a report's ``channel`` filter takes, when not only the channel accounts' kinds
# (listening also has ``review``, ``rss``, ``api``): the page's select and the check.
ChannelValues = Callable[[], Awaitable[list[str]]]


@dataclass(frozen=True)
class ReportSpec:
    """A registered report: who may read it, which filters it honours, and its builder."""

    key: str
    title: str
    perm: Perm
    build: Builder
    group: str = "inbox"  # inbox, marketing, listening: the reports menu's sections
    filters: tuple[str, ...] = ("channel", "account", "agent", "label")
    extra: tuple[str, ...] = ()  # names of report-specific filters it reads from Filters.extra
    channels: ChannelValues | None = None  # None: the channel accounts' kinds


REPORTS: dict[str, ReportSpec] = {}


def register(key: str, title: str, perm: Perm, *, group: str = "inbox",
             filters: tuple[str, ...] = ("channel", "account", "agent", "label"),
             extra: tuple[str, ...] = (),
             channels: ChannelValues | None = None) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        if key in REPORTS:
            raise ValueError(f"report {key!r} registered twice")
        REPORTS[key] = ReportSpec(key, title, perm, fn, group, filters, extra, channels)
        return fn
    return deco
