"""The reports API's models: the list of reports, a report's query, a built report."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.services.reports import ChartKind, Kind
from bot.services.reports.query import MAX_EXTRA


class ReportItem(BaseModel):
    key: str
    title: str
    group: str
    filters: list[str] = Field(description="the filters it honours: channel, account, "
                                           "agent, label")
    extra: list[str] = Field(description="its own filters (query parameters of the same "
                                         "name)")


EXTRA_FILTERS = ("source", "lang", "model")  # the reports' own filters, below


class ReportQuery(BaseModel):
    """The range (``from``/``to``, days in the shop's timezone, both included; or a
    ``range`` preset; by default the last 30 days, at most 400 days) and the filters. A
    report's own filters (``extra`` in the list) are query parameters of their name. Any
    other query parameter, or a filter the report does not honour, is refused (400)."""

    from_: date | None = Field(None, alias="from")
    to: date | None = None
    range: Literal["today", "7", "30", "90", "month", "365", "custom"] | None = None
    channel: Annotated[str, Field(max_length=32)] | None = Field(
        None, description="a channel kind some channel account has")
    account: Annotated[int, Field(ge=1)] | None = Field(None, description="a channel "
                                                                          "account's id")
    agent: Annotated[int, Field(ge=1)] | None = Field(None, description="a staff user's id")
    label: Annotated[str, Field(max_length=64)] | None = Field(None, description="a label's "
                                                                                 "name")
    # the reports' own filters (``extra``), each honoured only by the reports naming it
    source: Annotated[str, Field(max_length=MAX_EXTRA)] | None = Field(
        None, description="a store or review source (revenue, funnel, reviews …)")
    lang: Annotated[str, Field(max_length=MAX_EXTRA)] | None = Field(
        None, description="a language, any case (listening-sentiment)")
    model: Literal["last", "first"] | None = Field(
        None, description="the attribution model (attribution; by default last)")


class ColumnOut(BaseModel):
    key: str
    title: str
    kind: Kind = Field(description="seconds: whole seconds; money: two decimals; percent: "
                                   "a share from 0 to 1")


class TableOut(BaseModel):
    key: str
    title: str
    columns: list[ColumnOut]
    rows: list[dict[str, Any]]


class ChartOut(BaseModel):
    kind: ChartKind
    table: str
    x: str
    series: list[str]
    title: str


class FigureOut(BaseModel):
    key: str
    title: str
    kind: Kind
    value: Any
    previous: Any = Field(description="the previous period's value (null: not comparable)")
    link: str
    note: str


class FiltersOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    channel: str | None
    account: int | None
    agent: int | None
    label: str | None
    extra: dict[str, str]


class ReportOut(BaseModel):
    key: str
    title: str
    filters: FiltersOut
    figures: list[FigureOut]
    tables: list[TableOut]
    charts: list[ChartOut]
