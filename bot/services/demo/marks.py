"""How demo rows are marked (see the package docstring)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.time import utcnow
from bot.models import ChannelAccount

SUFFIX = " (demo)"  # accounts, contacts, segments, broadcasts, sequences, rules
LABEL = "demo"  # every demo conversation
SOURCE = "demo"  # reviews and shop events
MODEL = "demo"  # sentiment scores' model_version
REF = "demo:"  # mentions' source_ref
SEQUENCE_KEY = "demo-welcome"


async def present() -> bool:
    """Whether demo content is in the database (what the staff pages' banner shows)."""
    return await ChannelAccount.filter(name__endswith=SUFFIX).exists()


def ago(*, days: float = 0, hours: float = 0, minutes: float = 0,
        now: datetime | None = None) -> datetime:
    """A time relative to now (negative: in the future), so the demo always looks current."""
    return (now or utcnow()) - timedelta(days=days, hours=hours, minutes=minutes)
