"""Issue 22 point 5, a phone works: every staff page in real Chromium at 375 and 1280 px wide,
with data on it, scrolls nothing sideways (wide tables scroll in their own labelled,
focusable region) and is screenshot; on a phone the conversation's side panel folds away
behind a button. The pages come from the app's router, so a page added later is walked too
(or the walk fails until it is listed in :mod:`tests.web.browser`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import ServerProcess
from tests.web.browser import (
    check_walked,
    fake_telegram,
    live_server,
    logged_in,
    shop_with_data,
    signed,
)

pytestmark = pytest.mark.slow  # Chromium

WIDTHS = (375, 1280)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from live_server(tmp_path_factory, "mobile")


async def log_in(browser: Browser, live: ServerProcess, width: int) -> Page:
    return await logged_in(browser, live, viewport={"width": width, "height": 800})


WIDEST = """() => [document.documentElement.scrollWidth, window.innerWidth,
  [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right
    > window.innerWidth + 1 && !e.closest('.wide')).slice(0, 5)
    .map(e => e.tagName + '.' + e.className + '#' + e.id)]"""
TABLES = """() => {
  const boxes = [...document.querySelectorAll('main table')].map(t => t.parentNode);
  const scrolling = boxes.filter(b => b.scrollWidth > b.clientWidth + 1);
  return [boxes.filter(b => !b.classList.contains('wide')).length, scrolling.length,
    scrolling.filter(b => b.getAttribute('role') !== 'region' || b.tabIndex !== 0
      || !(b.getAttribute('aria-label') || '').trim()).length]; }"""


async def test_every_staff_page_fits_a_phone_and_a_desktop(
        browser: Browser, live: ServerProcess, tmp_path: Path, aiohttp_server: Any) -> None:
    telegram = await fake_telegram(aiohttp_server)
    urls = await asyncio.to_thread(shop_with_data, live, telegram)
    check_walked(urls, tmp_path / "routes")
    scrollers = dict.fromkeys(WIDTHS, 0)  # tables that scroll in their own region
    for width in WIDTHS:
        page = await log_in(browser, live, width)
        for _route, paths in sorted(urls.items()):
            for path in paths:
                resp = await page.goto(f"{live.url}{path}")
                assert resp is not None and resp.status == 200, (path, resp and resp.status)
                await expect(page.locator("nav a[href='/account']")).to_be_visible()
                name = path.strip("/").replace("/", "_").replace("?", "_").replace("=", "-")
                await page.screenshot(path=str(tmp_path / f"{width}-{name or 'home'}.png"),
                                      full_page=True)
                wide, inner, culprits = await page.evaluate(WIDEST)
                assert wide <= inner, (width, path, wide, culprits)
                loose, scrolling, unlabelled = await page.evaluate(TABLES)
                assert loose == 0 and unlabelled == 0, (width, path, loose, unlabelled)
                scrollers[width] += scrolling
        await page.context.close()
    assert scrollers[375] > 0  # the phone has wide tables, each in a labelled region
    shots = list(tmp_path.glob("*.png"))
    assert len(shots) == len(WIDTHS) * sum(len(p) for p in urls.values())


async def test_the_side_panel_folds_away_on_a_phone(browser: Browser,
                                                    live: ServerProcess) -> None:
    account = live.seed["api_account"]
    conv = await asyncio.to_thread(signed, live, f"/api/v1/inbound/{account}", {
        "external_id": "fold-1", "contact": {"external_id": "fold-cust", "name": "Fold"},
        "text": "Do you have size 38?"})
    phone = await log_in(browser, live, 375)
    await phone.goto(f"{live.url}/inbox/{conv['conversation_id']}")
    toggle, side = phone.locator("button.side-toggle"), phone.locator("#side")
    await expect(phone.locator("#thread")).to_contain_text("size 38")
    await expect(toggle).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(side).to_be_hidden()
    await toggle.click()
    await expect(side).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    box, thread = await side.bounding_box(), await phone.locator("#thread").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    assert thread is not None and box["y"] < thread["y"]  # opens right under its button
    await toggle.focus()
    await phone.keyboard.press("Enter")  # the keyboard folds it again
    await expect(side).to_be_hidden()
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await phone.keyboard.press("Space")
    await expect(side).to_be_visible()

    desk = await log_in(browser, live, 1280)
    await desk.goto(f"{live.url}/inbox/{conv['conversation_id']}")
    await expect(desk.locator("#side")).to_be_visible()
    await expect(desk.locator("button.side-toggle")).to_be_hidden()
    side_box = await desk.locator("#side").bounding_box()
    assert side_box is not None and round(side_box["width"]) == 330  # the desktop layout
