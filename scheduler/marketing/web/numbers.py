"""Reading a number a marketer typed into a form (shared by the broadcast and sequence
pages; a module of its own so that sibling imports stay one-way)."""

from __future__ import annotations

import math


def finite(text: str, kind: type[int] | type[float] = float) -> int | float | None:
    """``text`` as a finite ``kind``, or None when it is not one (``nan``, ``inf``, words)."""
    try:
        value = kind(text)
        return value if math.isfinite(value) else None
    except (ValueError, OverflowError):  # a word; an integer too long for a float
        return None
