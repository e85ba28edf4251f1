"""Database lifecycle: open, migrate, close. The schema is owned by migrations only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tortoise import connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext
from tortoise.migrations.api.migrate import migrate as tortoise_migrate

from bot.core import vault
from config import Settings
from config.tortoise import tortoise_config

log = logging.getLogger("switchboard.db")


async def open_db(settings: Settings) -> TortoiseContext:
    """Connect Tortoise to the configured database for this process.

    The context is the process-wide fallback, so every task (request handlers, the clock,
    event consumers, aiohttp's cleanup) sees it, whatever context it was started from.
    """
    vault.use_settings(settings)  # the channel secrets it holds are sealed under this key
    ctx = TortoiseContext()
    with ctx:  # current while models bind to it; the global fallback outlives the block
        await ctx.init(config=tortoise_config(settings), _enable_global_fallback=True)
    return ctx


async def close_db(ctx: TortoiseContext) -> None:
    await ctx.close_connections()
    # Tortoise caches prepared INSERT/DELETE SQL per connection *name*, not per dialect;
    # drop it so a later open of another database (tests switch SQLite <-> PostgreSQL in
    # one process) does not reuse the other dialect's SQL.
    EXECUTOR_CACHE.clear()


async def apply_migrations(
    settings: Settings, progress: Callable[[str, str, str], object] | None = None
) -> list[str]:
    """Apply every pending migration; return the names applied, in order.

    Runs in a context of its own, closed before returning, so it never shares
    connections with the process-wide one opened by :func:`open_db`.
    """
    applied: list[str] = []

    def _progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")
            log.info("migration applied", extra={"migration": f"{app_label}.{name}"})
        if progress is not None:
            progress(event, app_label, name)

    config = tortoise_config(settings)
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        await tortoise_migrate(config=config, progress=_progress)
    return applied


async def ping() -> None:
    """Raise if the database cannot answer a trivial query."""
    conn: Any = connections.get("default")
    await conn.execute_query("SELECT 1")
