"""Editing a scheduled post in real Chromium: change its text and its time (typed in the
shop's timezone) on its edit page, and the post's page shows both; deleting one from its
page, after a confirming second step."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.error import HTTPError
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import ServerProcess
from tests.fakes.graph_api import FakeGraph
from tests.web.browser import logged_in

pytestmark = pytest.mark.slow  # Chromium


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("post-edit") / "data",
                        SWITCHBOARD_SHOP_TIMEZONE="Asia/Bangkok").start()
    yield srv
    srv.stop()


async def test_edit_a_posts_text_and_time_on_its_page(browser: Browser, live: ServerProcess,
                                                      aiohttp_server: Any) -> None:
    fake = FakeGraph()
    fake.add_page("4004", "page-token")
    base = str((await aiohttp_server(fake.app())).make_url("/v21.0"))
    account = await asyncio.to_thread(live.call, "POST", "/api/v1/channels", {
        "kind": "facebook", "name": "Edit page", "settings": {
            "page_id": "4004", "access_token": "page-token", "app_secret": "s",
            "api_base_url": base}})
    due = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    post = await asyncio.to_thread(live.call, "POST", "/api/v1/posts", {
        "text": "Old words", "due_at": due,
        "variants": [{"channel_account_id": account["id"], "target": "4004"}]})
    page = await logged_in(browser, live)
    await page.goto(f"{live.url}/posts/{post['id']}")
    await page.click("#post-edit-link")
    await expect(page.locator("#post-edit textarea[name=text]")).to_have_value("Old words")
    bangkok = ZoneInfo("Asia/Bangkok")
    day = (datetime.now(UTC) + timedelta(days=10)).astimezone(bangkok).date().isoformat()
    await page.fill("#post-edit textarea[name=text]", "New words")
    await page.fill("#post-edit input[name=when]", f"{day} 18:30")
    await page.click("#post-edit button[type=submit]")
    await expect(page).to_have_url(f"{live.url}/posts/{post['id']}")
    await expect(page.locator("pre")).to_have_text("New words")
    await expect(page.locator("#post-status")).to_have_text("scheduled")
    due = page.locator(".card p").first  # Babel's English short time: 6:30 PM
    await expect(due).to_contain_text("6:30")
    await expect(due).to_contain_text("(Asia/Bangkok)")
    out = await asyncio.to_thread(live.call, "GET", f"/api/v1/posts/{post['id']}")
    assert out["text"] == "New words" and out["due_at"].startswith(f"{day}T11:30")


async def test_delete_a_scheduled_post_on_its_page(browser: Browser, live: ServerProcess,
                                                   aiohttp_server: Any) -> None:
    fake = FakeGraph()
    fake.add_page("4005", "page-token")
    base = str((await aiohttp_server(fake.app())).make_url("/v21.0"))
    account = await asyncio.to_thread(live.call, "POST", "/api/v1/channels", {
        "kind": "facebook", "name": "Delete page", "settings": {
            "page_id": "4005", "access_token": "page-token", "app_secret": "s",
            "api_base_url": base}})
    due = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    post = await asyncio.to_thread(live.call, "POST", "/api/v1/posts", {
        "text": "Never mind", "due_at": due,
        "variants": [{"channel_account_id": account["id"], "target": "4005"}]})
    page = await logged_in(browser, live)
    await page.goto(f"{live.url}/posts/{post['id']}")
    confirm = page.locator("#post-delete-confirm")
    await expect(confirm).to_be_hidden()  # a second step: open it first
    await page.click("#post-delete summary")
    await confirm.click()
    await expect(page).to_have_url(f"{live.url}/posts")
    await expect(page.locator(f"a[href='/posts/{post['id']}']")).to_have_count(0)
    with pytest.raises(HTTPError, match="404"):
        await asyncio.to_thread(live.call, "GET", f"/api/v1/posts/{post['id']}")
