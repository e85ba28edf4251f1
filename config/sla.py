"""Service-level targets per channel: how soon a conversation gets its first answer and how
soon it is resolved. ``SWITCHBOARD_SLA_TARGETS`` is e.g.
``*=1h/24h, webchat=15m/8h, email=4h/2d``: a channel kind (``*`` for every other channel),
then the first-response and the resolution target, each a number with ``m``, ``h`` or ``d``.
Targets are counted in business hours when office hours are set (see the reports)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([mhd])")
_UNIT = {"m": 60, "h": 3600, "d": 86400}
DEFAULT = "*=1h/24h"


class SlaError(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    first_response: timedelta
    resolution: timedelta


@dataclass(frozen=True)
class Targets:
    default: Target
    per_channel: dict[str, Target]

    def for_channel(self, kind: str) -> Target:
        return self.per_channel.get(kind, self.default)


def _duration(text: str, entry: str) -> timedelta:
    m = _DURATION.fullmatch(text.strip())
    if not m or float(m.group(1)) <= 0:
        raise SlaError(f"{entry!r}: {text.strip()!r} is not a duration like 15m, 4h or 2d")
    return timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])


def parse(spec: str) -> Targets:
    """Parse a targets spec; raise SlaError with a clear message. Empty means the default."""
    found: dict[str, Target] = {}
    for entry in (e.strip() for e in (spec.strip() or DEFAULT).split(",")):
        if not entry:
            continue
        kind, sep, pair = entry.partition("=")
        first, slash, resolution = pair.partition("/")
        if not sep or not slash or not kind.strip():
            raise SlaError(f"{entry!r} is not like 'webchat=15m/8h'")
        kind = kind.strip().lower()
        if kind in found:
            raise SlaError(f"{kind!r} is given twice")
        found[kind] = Target(_duration(first, entry), _duration(resolution, entry))
    default = found.pop("*", None) or parse(DEFAULT).default
    return Targets(default, found)
