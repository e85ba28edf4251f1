"""An A/B broadcast to a segment smaller than the test sample (one contact, or none) sends
what it can instead of crashing the runner ("Sample larger than population")."""

from __future__ import annotations

from typing import Any

import pytest

from bot.models import Broadcast, Contact
from scheduler.marketing.broadcasts import BroadcastRunner
from tests.conftest import Shop


@pytest.mark.parametrize("members", [0, 1])
async def test_a_split_on_a_tiny_segment(shop: Shop, members: int) -> None:
    for i in range(members):
        status, _ = await shop.api("POST", "/api/v1/contacts", json={
            "email": f"ab{i}@shop.test", "tags": ["tiny"]})
        assert status == 201
    _, seg = await shop.api("POST", "/api/v1/segments", json={
        "name": "Tiny", "rules": {"conditions": [{"tag": "tiny"}]}})
    status, b = await shop.api("POST", "/api/v1/broadcasts", json={
        "name": "AB", "segment_id": seg["id"], "subject_a": "A", "subject_b": "B",
        "body": "Hi", "split_percent": 50, "send_at": "2099-01-01T00:00:00Z"})
    assert status == 201, b
    sent: list[tuple[Contact, str]] = []

    async def record(_: Any, who: list[tuple[Contact, str]]) -> None:
        sent.extend(who)

    runner = BroadcastRunner(mailer=None)  # type: ignore[arg-type]
    runner._send = record  # type: ignore[method-assign]
    await runner.advance(b["id"])  # raised ValueError: Sample larger than population
    assert len(sent) == members
    assert (await Broadcast.get(id=b["id"])).state == "testing"
