"""The home dashboard in real Chromium: log in, land on it, follow each tile's link to the
page behind it; on a 375-pixel-wide phone the tiles stack and nothing scrolls sideways."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import ServerProcess
from tests.web.browser import logged_in, signed

pytestmark = pytest.mark.slow  # Chromium


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("dashboard") / "data").start()
    yield srv
    srv.stop()


async def test_land_on_the_dashboard_and_follow_each_tile(browser: Browser,
                                                         live: ServerProcess) -> None:
    account = live.seed["api_account"]
    conv = await asyncio.to_thread(signed, live, f"/api/v1/inbound/{account}", {
        "external_id": "dash-1", "contact": {"external_id": "dash-cust", "name": "Dee Ash"},
        "text": "Where is my order?"})
    cid = conv["conversation_id"]
    created = (datetime.now(UTC) - timedelta(hours=21)).isoformat()
    review = await asyncio.to_thread(signed, live, f"/api/v1/reviews/inbound/{account}", {
        "id": "dash-r1", "rating": 2, "author": "Rae", "text": "Late again",
        "created_at": created})

    page = await logged_in(browser, live)
    tiles = page.locator("section.tile")
    await expect(tiles).to_have_count(7)
    waiting = page.locator("#tile-conversations table[data-key=waiting] a",
                           has_text=f"#{cid}")
    await expect(waiting).to_be_visible()
    await expect(page.locator("#tile-conversations table[data-key=waiting]")).to_contain_text(
        "Dee Ash")

    # Each tile's heading, and the rows' own links, open the page behind them.
    targets = [("#tile-conversations .tile-link", "/inbox?status=open", "#conversations"),
               ("#tile-first_response .tile-link", "/reports/response-times",
                "#report-filters"),
               ("#tile-reviews .tile-link", "/reviews", "main"),
               ("#tile-spikes .tile-link", "/listening", "#mentions"),
               ("#tile-posts .tile-link", "/calendar", "main"),
               ("#tile-posts .fig[data-key=failed] a", "/posts", "#compose"),
               ("#tile-drip .tile-link", "/sequences", "#sequences"),
               ("#tile-revenue .tile-link", "/reports/attribution", "#report-filters")]
    for selector, path, landmark in targets:
        await page.goto(f"{live.url}/")
        await page.click(selector)
        await expect(page).to_have_url(f"{live.url}{path}")
        await expect(page.locator(landmark).first).to_be_visible()

    await page.goto(f"{live.url}/")
    await waiting.click()
    await expect(page).to_have_url(f"{live.url}/inbox/{cid}")
    await expect(page.locator("#thread")).to_contain_text("Where is my order?")

    await page.goto(f"{live.url}/")
    await page.locator("#tile-reviews table[data-key=due] a", has_text=f"#{review['id']}"
                       ).click()
    await expect(page).to_have_url(f"{live.url}/reviews/{review['id']}")
    await expect(page.locator("main")).to_contain_text("Late again")


async def test_tiles_stack_on_a_phone(browser: Browser, live: ServerProcess) -> None:
    page = await logged_in(browser, live, viewport={"width": 375, "height": 740})
    await expect(page.locator("section.tile")).to_have_count(7)
    assert await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    boxes = [await t.bounding_box() for t in await page.locator("section.tile").all()]
    assert all(b is not None and b["x"] >= 0 and b["x"] + b["width"] <= 375 for b in boxes)
    xs = {round(b["x"]) for b in boxes if b is not None}
    assert len(xs) == 1  # one column
