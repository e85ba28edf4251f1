"""The inbound path belongs to its app: two apps built in one process keep their own reopen
window (it was one module-level setting that the last app built overwrote)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.app import create_app
from bot.services.inbox import INTAKE
from tests.conftest import make_settings


async def test_each_app_has_its_own_intake(tmp_path: Path, aiohttp_client: Any) -> None:
    # Both built first, as a test module or a process that builds two apps does; one
    # database context is open at a time, so they run one after the other.
    one = create_app(make_settings(tmp_path / "one", reopen_window_hours=1))
    two = create_app(make_settings(tmp_path / "two", reopen_window_hours=100))
    client = await aiohttp_client(one)
    assert one[INTAKE].reopen_window == timedelta(hours=1)
    await client.close()
    await aiohttp_client(two)
    assert two[INTAKE].reopen_window == timedelta(hours=100)
