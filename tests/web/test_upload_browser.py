"""Issue 22 point 3 in real Chromium: a customer attaches a picture in the web chat widget
(its attach button, the browser's file chooser); it shows in their chat, survives a
reload, and shows inline on the staff's conversation page. A file of a type the shop does
not take is refused with the server's message, shown in the widget."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.channels.test_webchat_upload import PNG
from tests.conftest import ServerProcess
from tests.web.test_browser import staff_login

pytestmark = pytest.mark.slow  # Chromium


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("upload") / "data").start()
    yield srv
    srv.stop()


async def attach(page: Page, name: str, mime: str, data: bytes) -> None:
    async with page.expect_file_chooser() as chooser:
        await page.get_by_role("button", name="Attach a file").click()
    await (await chooser.value).set_files({"name": name, "mimeType": mime, "buffer": data})


async def loaded(page: Page, selector: str) -> None:
    """The picture was fetched and decoded (not a broken image)."""
    await page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete && "
        "i.naturalWidth === 1; }", arg=selector, timeout=10_000)


async def test_customer_sends_a_picture_staff_see_it_inline(
        browser: Browser, live: ServerProcess) -> None:
    customer_ctx = await browser.new_context()
    customer = await customer_ctx.new_page()
    await customer.goto(f"{live.url}/chat?account={live.seed['webchat']}")
    await attach(customer, "shoe.png", "image/png", PNG)
    mine = customer.locator(".msg.in:not(.pending) img[alt='shoe.png']")
    await expect(mine).to_be_visible()
    await loaded(customer, ".msg.in img[alt='shoe.png']")
    message_id = await customer.locator(".msg.in:has(img)").get_attribute("data-id")
    assert message_id

    # A type the shop does not take: the server's refusal, in the widget.
    await attach(customer, "setup.exe", "image/png", b"MZ\x90\x00\x03\x00\x00\x00")
    await expect(customer.locator(".msg.in.failed")).to_have_text("📎 setup.exe")
    await expect(customer.locator("#status")).to_contain_text("PDF")

    # After a reload the picture is in the history, fetched with the visitor's cookie.
    await customer.reload()
    await expect(customer.locator(".msg.in img[alt='shoe.png']")).to_have_count(1)
    await loaded(customer, ".msg.in img[alt='shoe.png']")

    found = await asyncio.to_thread(live.call, "GET",
                                    "/api/v1/conversations?channel=webchat&status=all")
    [cid] = [c["id"] for c in found["items"]]
    staff = await staff_login(browser, live)
    await staff.goto(f"{live.url}/inbox/{cid}")
    picture = staff.locator(f"[data-message='{message_id}'] .attachment img")
    await expect(picture).to_have_attribute("alt", "shoe.png")
    await loaded(staff, f"[data-message='{message_id}'] .attachment img")
    await customer_ctx.close()
