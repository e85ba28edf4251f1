"""Small helpers the staff page modules share."""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.clean import db_id
from bot.core.http import MAX_PAGE


def page_number(query: Mapping[str, str]) -> int:
    """The ``page`` asked for: 1 unless a number, and at most MAX_PAGE."""
    return min(db_id(query.get("page", "1")) or 1, MAX_PAGE)
