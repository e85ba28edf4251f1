"""What every ``python run.py`` command shares: a progress bar on stderr, the one-line
error exit, and the database opened (migrated first) for the command's duration.

Here, in the core, so the composition root (``bot.cli``) and the features' commands
(``listening.cli``) both use it without importing each other."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TextIO, TypeVar

from tqdm import tqdm

from config import Settings

T = TypeVar("T")


class Progress:
    """A progress bar on stderr (tqdm): it redraws in place on a terminal; without one (CI)
    it prints its first and last state and at most one line every 10 s, so logs stay short.
    The bar closes itself when ``total`` is reached."""

    def __init__(self, total: int, label: str, stream: TextIO = sys.stderr) -> None:
        self.total, self.label, self.done = max(total, 0), label, 0
        tty = stream.isatty()
        self._bar = tqdm(total=self.total, desc=label, file=stream, ascii=not tty,
                         mininterval=0.1 if tty else 10.0, dynamic_ncols=tty,
                         ncols=None if tty else 80, leave=True)
        if self.total == 0:
            self._bar.close()

    def step(self, n: int = 1) -> None:
        self.done += n
        if not self._bar.disable:
            self._bar.update(n)
            if self.done >= self.total:
                self._bar.close()

    def wrap(self, items: Iterable[T]) -> Iterator[T]:
        for item in items:
            yield item
            self.step()
        self._bar.close()


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
