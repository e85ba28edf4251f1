"""The reply box's ``/shortcut`` picker in real Chromium: "/" lists the canned replies,
arrows choose, Enter inserts the reply rendered for the contact, Esc closes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import ServerProcess
from tests.web.browser import logged_in, signed

pytestmark = pytest.mark.slow  # Chromium


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("picker") / "data").start()
    yield srv
    srv.stop()


async def test_slash_shortcut_picker_in_the_reply_box(browser: Browser,
                                                      live: ServerProcess) -> None:
    account = live.seed["api_account"]
    conv = await asyncio.to_thread(signed, live, f"/api/v1/inbound/{account}", {
        "external_id": "pick-1", "contact": {"external_id": "pick-cust", "name": "Dee Ash"},
        "text": "Are you open on Sunday?"})
    page = await logged_in(browser, live)
    await page.goto(f"{live.url}/inbox/{conv['conversation_id']}")
    box = page.locator("#reply-form textarea[name=text]")
    picker = page.locator("#canned-picker")
    await expect(picker).to_be_hidden()

    await box.press_sequentially("Hi /")
    options = picker.get_by_role("option")
    await expect(options).to_have_count(2)  # the demo's /hours and /thanks
    await expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    await box.press("ArrowDown")
    await expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    await expect(options.nth(1)).to_contain_text("/thanks")
    await box.press("Enter")
    await expect(picker).to_be_hidden()
    await expect(box).to_have_value("Hi Thanks Dee! We'll get back to you shortly.")

    await box.press_sequentially(" /ho")
    await expect(options).to_have_count(1)
    await expect(options.first).to_contain_text("/hours")
    await box.press("Escape")
    await expect(picker).to_be_hidden()
    await expect(box).to_have_value("Hi Thanks Dee! We'll get back to you shortly. /ho")

    await box.press_sequentially("x")  # no reply starts with /hox
    await expect(picker).to_contain_text("No canned reply matches.")
    await expect(options).to_have_count(0)
