"""Tortoise ORM configuration, shared by the server and the ``tortoise`` CLI.

``TORTOISE_ORM`` lets a developer run ``tortoise makemigrations`` against the
settings of the current environment (see ``[tool.tortoise]`` in pyproject.toml).
"""

from __future__ import annotations

from typing import Any

from config import Settings, load_settings

APP_LABEL = "models"


def tortoise_config(settings: Settings) -> dict[str, Any]:
    """Return the Tortoise config dict for these settings."""
    url = settings.resolved_database_url
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):]
        if path != ":memory:":
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        connection: Any = {
            "engine": "config.sqlite_backend",  # transactions BEGIN IMMEDIATE
            "credentials": {
                "file_path": path,
                "journal_mode": "WAL",
                "synchronous": settings.sqlite_synchronous,
                "busy_timeout": 10000,
                "foreign_keys": "ON",
            },
        }
    else:
        connection = url.replace("postgresql://", "postgres://", 1).replace(
            "asyncpg://", "postgres://", 1)
    return {
        "connections": {"default": connection},
        "apps": {
            APP_LABEL: {
                "models": ["bot.models"],
                "default_connection": "default",
                "migrations": "bot.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


TORTOISE_ORM = tortoise_config(load_settings())
