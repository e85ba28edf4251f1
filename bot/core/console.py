"""What every ``python run.py`` command shares: a progress bar on stderr, the one-line
error exit, and the database opened (migrated first) for the command's duration.

Here, in the core, so the composition root (``bot.cli``) and the features' commands
(``listening.cli``) both use it without importing each other."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TextIO, TypeVar

from config import Settings

T = TypeVar("T")


class Progress:
    """A plain progress bar on stderr; it redraws in place on a terminal, and prints
    a few milestone lines otherwise (CI logs stay short)."""

    def __init__(self, total: int, label: str, stream: TextIO = sys.stderr) -> None:
        self.total, self.label, self.stream, self.done = max(total, 0), label, stream, 0
        self.tty = stream.isatty()
        self._last_pct = -1

    def step(self, n: int = 1) -> None:
        self.done += n
        pct = 100 if self.total == 0 else int(self.done * 100 / self.total)
        if self.tty or pct // 25 != self._last_pct // 25 or self.done == self.total:
            width = 30
            filled = width if self.total == 0 else int(width * self.done / self.total)
            end = "\r" if self.tty and self.done < self.total else "\n"
            self.stream.write(f"{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                              f"{self.done}/{self.total}{end}")
            self.stream.flush()
        self._last_pct = pct

    def wrap(self, items: Iterable[T]) -> Iterator[T]:
        for item in items:
            yield item
            self.step()
        if self.total == 0:
            self.step(0)


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[None]:
    from bot.core import db

    await db.apply_migrations(settings)
    ctx = await db.open_db(settings)
    try:
        yield
    finally:
        await db.close_db(ctx)


def fail(message: str) -> int:
    """Say what went wrong on stderr; the command's exit status (2)."""
    print(f"error: {message}", file=sys.stderr)
    return 2
