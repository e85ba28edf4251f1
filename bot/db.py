"""Database lifecycle: open, migrate, close. The schema is owned by migrations only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate as tortoise_migrate

from config import Settings
from config.tortoise import tortoise_config

log = logging.getLogger("switchboard.db")


async def open_db(settings: Settings) -> None:
    """Connect Tortoise to the configured database."""
    await Tortoise.init(config=tortoise_config(settings))


async def close_db() -> None:
    await connections.close_all()


async def apply_migrations(
    settings: Settings, progress: Callable[[str, str, str], object] | None = None
) -> list[str]:
    """Apply every pending migration; return the names applied, in order.

    Must be called with the database open (see :func:`open_db`).
    """
    applied: list[str] = []

    def _progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")
            log.info("migration applied", extra={"migration": f"{app_label}.{name}"})
        if progress is not None:
            progress(event, app_label, name)

    await tortoise_migrate(config=tortoise_config(settings), progress=_progress)
    return applied


async def ping() -> None:
    """Raise if the database cannot answer a trivial query."""
    conn: Any = connections.get("default")
    await conn.execute_query("SELECT 1")
