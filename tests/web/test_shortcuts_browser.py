"""The inbox's keyboard shortcuts in real Chromium: the "?" help dialog (Esc closes it),
j / k through the list and Enter to open, then in a conversation r / n to the reply and
note boxes (typing there fires nothing), a to assign to me, e to resolve, j to the next
conversation of the list; in the list, a and e act on the chosen conversation; select all
and bulk resolve."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import ServerProcess
from tests.web.browser import logged_in, signed

pytestmark = pytest.mark.slow  # Chromium


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("shortcuts") / "data").start()
    yield srv
    srv.stop()


async def test_shortcuts_and_their_help(browser: Browser, live: ServerProcess) -> None:
    account = live.seed["api_account"]
    for n in range(3):
        await asyncio.to_thread(signed, live, f"/api/v1/inbound/{account}", {
            "external_id": f"keys-{n}", "contact": {"external_id": f"keys-{n}",
                                                    "name": f"Key Person {n}"},
            "text": f"Question number {n}"})
    page = await logged_in(browser, live)
    await page.goto(f"{live.url}/inbox?status=open")
    rows = page.locator("#conversations tr[data-id]")
    ids = [await r.get_attribute("data-id") for r in await rows.all()]
    assert len(ids) >= 3

    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(help_dialog).to_be_hidden()
    await page.keyboard.press("?")
    await expect(help_dialog).to_be_visible()
    await expect(help_dialog).to_contain_text("Assign to me")
    await page.keyboard.press("j")  # the dialog is open: no shortcut fires under it
    await expect(page.locator("#conversations tr.chosen")).to_have_count(0)
    await page.keyboard.press("Escape")
    await expect(help_dialog).to_be_hidden()

    await page.keyboard.press("j")
    await page.keyboard.press("j")
    await expect(rows.nth(1)).to_have_attribute("aria-current", "true")
    await page.keyboard.press("k")
    await expect(rows.nth(0)).to_have_attribute("aria-current", "true")
    await expect(rows.nth(1)).not_to_have_attribute("aria-current", "true")
    search = page.get_by_label("Search")
    await search.press_sequentially("jk")  # typing in a field fires nothing
    await expect(search).to_have_value("jk")
    await expect(rows.nth(0)).to_have_attribute("aria-current", "true")
    await rows.nth(0).locator("a").focus()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{live.url}/inbox/{ids[0]}")

    reply = page.locator("#reply-form textarea[name=text]")
    await page.keyboard.press("r")
    await expect(reply).to_be_focused()
    await page.keyboard.press("e")  # typed into the reply, nothing resolved
    await page.keyboard.press("j")
    await expect(reply).to_have_value("ej")
    await expect(page).to_have_url(f"{live.url}/inbox/{ids[0]}")
    await reply.blur()
    await page.keyboard.press("n")
    await expect(page.locator("#note-form textarea[name=text]")).to_be_focused()
    await page.locator("#note-form textarea[name=text]").blur()

    await page.keyboard.press("a")
    await expect(page.locator("#assign-form + p.meta")).not_to_contain_text("unassigned")
    await page.keyboard.press("e")
    await expect(page.locator("#conv-status")).to_have_text("resolved")
    await page.keyboard.press("?")
    await expect(help_dialog).to_be_visible()
    await help_dialog.get_by_role("button", name="Close").click()
    await expect(help_dialog).to_be_hidden()
    await page.keyboard.press("j")
    await expect(page).to_have_url(f"{live.url}/inbox/{ids[1]}")


async def test_select_all_and_bulk_resolve(browser: Browser, live: ServerProcess) -> None:
    account = live.seed["api_account"]
    for n in range(2):
        await asyncio.to_thread(signed, live, f"/api/v1/inbound/{account}", {
            "external_id": f"bulk-{n}", "contact": {"external_id": f"bulk-{n}",
                                                    "name": f"Bulk Person {n}"},
            "text": f"Bulk question {n}"})
    page = await logged_in(browser, live)
    await page.goto(f"{live.url}/inbox?status=open")
    boxes = page.locator("#conversations input[name=id]")
    count = await boxes.count()
    assert count >= 2
    select_all = page.get_by_label("Select all")
    await select_all.check()
    for i in range(count):
        await expect(boxes.nth(i)).to_be_checked()
    await boxes.nth(0).uncheck()  # one left out: "select all" is only partly true
    assert await select_all.evaluate("b => b.indeterminate")
    await boxes.nth(0).check()
    await expect(select_all).to_be_checked()
    await page.get_by_role("button", name="Resolve selected").click()
    await expect(page.locator("#bulk-notice")).to_have_text(
        f"{count} of {count} conversations changed.")
    await expect(page).to_have_url(re.compile(r"/inbox\?status=open&changed="))
    await expect(page.locator("#inbox-zero")).to_be_visible()


async def test_assign_and_resolve_the_chosen_row_from_the_list(browser: Browser,
                                                               live: ServerProcess) -> None:
    account = live.seed["api_account"]
    for n in range(2):
        await asyncio.to_thread(signed, live, f"/api/v1/inbound/{account}", {
            "external_id": f"row-{n}", "contact": {"external_id": f"row-{n}",
                                                   "name": f"Row Person {n}"},
            "text": f"Row question {n}"})
    page = await logged_in(browser, live)
    await page.goto(f"{live.url}/inbox?status=open&q=Row+question")
    rows = page.locator("#conversations tr[data-id]")
    await expect(rows).to_have_count(2)
    first, second = [await r.get_attribute("data-id") for r in await rows.all()]
    await page.keyboard.press("j")
    await page.keyboard.press("j")  # the second row
    await page.keyboard.press("a")
    await expect(page.locator("#bulk-notice")).to_have_text("1 of 1 conversations changed.")
    await page.goto(f"{live.url}/inbox?status=open&q=Row+question&assignee=me")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-id", str(second))
    await page.goto(f"{live.url}/inbox?status=open&q=Row+question")
    await page.keyboard.press("j")  # the first row
    await page.keyboard.press("e")
    await expect(page.locator("#bulk-notice")).to_have_text("1 of 1 conversations changed.")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-id", str(second))
    assert first != second
