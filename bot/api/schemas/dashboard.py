"""The home dashboard's answer (``GET /api/v1/dashboard``): the tiles the caller's role may
read, each with its figures and short lists (``bot.services.reports.dashboard``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel


class FigureOut(BaseModel):
    key: str
    title: str
    value: int | float | str | None
    kind: str  # int, seconds (whole seconds), money (two decimals), ...
    previous: int | float | str | None = None
    link: str = ""
    note: str = ""


class ColumnOut(BaseModel):
    key: str
    title: str
    kind: str


class TableOut(BaseModel):
    key: str
    title: str
    columns: list[ColumnOut]
    rows: list[dict[str, Any]]  # a "link" column's page is in the row's "link"


class TileOut(BaseModel):
    key: str  # conversations, first_response, reviews, spikes, posts, drip, revenue
    title: str
    link: str
    note: str = ""
    figures: list[FigureOut]
    tables: list[TableOut]


class DashboardOut(BaseModel):
    generated_at: datetime
    timezone: str
    today: date
    tiles: list[TileOut]
