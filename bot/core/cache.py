"""A few-seconds cache for settings-like rows read on every message (rules, staff-chat
targets). Changes made through this process clear it at once; another process's changes
show within ``seconds``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")
_all: list[Ttl[object]] = []


class Ttl(Generic[T]):
    def __init__(self, seconds: float = 2.0) -> None:
        self.seconds = seconds
        self._data: dict[Hashable, tuple[float, T]] = {}
        _all.append(self)  # type: ignore[arg-type]

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        now = time.monotonic()
        hit = self._data.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load()
        self._data[key] = (now + self.seconds, value)
        return value

    def peek(self, key: Hashable, default: T) -> T:
        """The cached value if it is still fresh, else ``default`` (no loading)."""
        hit = self._data.get(key)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else default

    def clear(self) -> None:
        self._data.clear()


def forget_all() -> None:
    """Drop every cached value (something changed, or the database switched)."""
    for cache in _all:
        cache.clear()
