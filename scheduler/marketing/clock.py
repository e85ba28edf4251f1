"""Marketing's clock: the real time, or a test's. Sequences, segments, broadcasts and
tracking read it, so a test moves marketing time by hand instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.core.time import utcnow

_clock: list[Callable[[], datetime]] = [utcnow]


def now() -> datetime:
    """Marketing's time: the real time, or a test's (see :func:`set_clock`)."""
    return _clock[0]()


def set_clock(clock: Callable[[], datetime]) -> Callable[[], datetime]:
    """Move marketing time by hand (tests); returns the previous clock to put back."""
    previous, _clock[0] = _clock[0], clock
    return previous
