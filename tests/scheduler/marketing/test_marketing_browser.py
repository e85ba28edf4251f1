"""The marketing pages in real Chromium, on a phone-sized screen (375 px wide, no
sideways scroll): compose and schedule a broadcast through the form and find it in the
list; edit a sequence (add a wait and a send step), save, reload and find them; create a
sequence with two steps through its form (a wrong wait first: the reason, the form kept)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page, Route, expect

from tests.conftest import ServerProcess

pytestmark = pytest.mark.slow  # Chromium and a server process

PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("marketing") / "data",
                        SWITCHBOARD_SHOP_TIMEZONE="Asia/Bangkok").start()
    yield srv
    srv.stop()


async def phone_login(browser: Browser, live: ServerProcess) -> Page:
    ctx = await browser.new_context(viewport=PHONE)
    page = await ctx.new_page()
    await page.goto(f"{live.url}/login?next=/broadcasts")
    await page.fill("input[name=email]", live.seed["email"])
    await page.fill("input[name=password]", live.seed["password"])
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{live.url}/broadcasts")
    return page


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide"


async def test_compose_and_schedule_a_broadcast(browser: Browser, live: ServerProcess) -> None:
    await asyncio.to_thread(live.call, "POST", "/api/v1/contacts",
                            {"email": "ann@shop.test", "tags": ["vip"]})
    await asyncio.to_thread(live.call, "POST", "/api/v1/segments",
                            {"name": "VIPs", "rules": {"conditions": [{"tag": "vip"}]}})
    page = await phone_login(browser, live)
    await no_sideways_scroll(page)
    await page.click("#new-broadcast")
    await expect(page).to_have_url(f"{live.url}/broadcasts/new")
    await page.fill("input[name=name]", "Year-end sale")
    await page.select_option("select[name=segment_id]", label="VIPs (1 contact)")
    await page.fill("input[name=subject_a]", "Hi {{ contact.first_name }}")
    await page.check("input[name=ab]")
    await page.fill("input[name=subject_b]", "Last days of the sale")
    await page.fill("textarea[name=body]", "Everything is 20 % off.")
    await page.fill("input[name=send_date]", "2099-12-30")
    await page.fill("input[name=send_time]", "18:45")
    await page.click("#preview")  # the previews come back with the form as typed
    await expect(page.locator("section.preview")).to_have_count(6)
    await expect(page.locator("section.preview[lang=vi]")).to_contain_text(
        "Everything is 20 % off.")
    await no_sideways_scroll(page)
    await page.click("#schedule")
    await expect(page.locator("#state")).to_have_text("scheduled")
    await expect(page.locator("body")).to_contain_text("due 2099-12-30 18:45 (Asia/Bangkok)")
    await page.click("text=← Broadcasts")
    row = page.locator("#broadcasts tr", has_text="Year-end sale")
    await expect(row).to_contain_text("VIPs")
    await expect(row).to_contain_text("scheduled")
    await expect(row).to_contain_text("2099-12-30 18:45")
    await expect(row).to_contain_text("A/B")
    await no_sideways_scroll(page)


async def test_edit_a_sequence(browser: Browser, live: ServerProcess) -> None:
    page = await phone_login(browser, live)
    await page.click("nav >> text=Sequences")
    await expect(page).to_have_url(f"{live.url}/sequences")
    await no_sideways_scroll(page)
    await page.click("#sequences >> text=Welcome series")
    form = page.locator("#steps-form")
    steps = form.locator("fieldset.step")
    await expect(steps).to_have_count(3 + 3)  # its three steps, three empty rows
    await no_sideways_scroll(page)
    # the first empty row: wait 2 days; the next: send welcome_2
    wait = steps.nth(3)
    await wait.locator("select.kind").select_option("wait")
    await wait.locator("input[name=s3_amount]").fill("2")
    await wait.locator("select[name=s3_unit]").select_option("days")
    send = steps.nth(4)
    await expect(send.locator("select[name=s4_template]")).to_be_hidden()  # kind first
    await send.locator("select.kind").select_option("send")
    await send.locator("select[name=s4_template]").select_option("welcome_2")
    await page.click("#save-steps")
    await expect(page.locator("#form-error")).to_have_count(0)
    await page.reload()
    steps = page.locator("#steps-form fieldset.step")
    await expect(steps).to_have_count(5 + 3)
    await expect(page.locator("select[name=s3_kind]")).to_have_value("wait")
    await expect(page.locator("input[name=s3_amount]")).to_have_value("2")
    await expect(page.locator("select[name=s3_unit]")).to_have_value("days")
    await expect(page.locator("select[name=s4_kind]")).to_have_value("send")
    await expect(page.locator("select[name=s4_template]")).to_have_value("welcome_2")
    funnel = page.locator("#funnel-table tr.funnel-row")
    await expect(funnel).to_have_count(5)
    await expect(funnel.nth(3)).to_contain_text("wait 2 days")
    await expect(funnel.nth(4)).to_contain_text("send welcome_2")
    await no_sideways_scroll(page)


async def test_create_a_sequence_with_two_steps(browser: Browser, live: ServerProcess) -> None:
    page = await phone_login(browser, live)
    await page.click("nav >> text=Sequences")
    await page.click("#new-sequence")
    await expect(page).to_have_url(f"{live.url}/sequences/new")
    await no_sideways_scroll(page)
    await page.fill("input[name=name]", "Thank-you mails")
    await page.select_option("select[name=trigger]", "order_placed")
    steps = page.locator("#sequence-form fieldset.step")
    await expect(steps).to_have_count(6)
    await steps.nth(0).locator("select.kind").select_option("wait")
    await page.fill("input[name=s0_amount]", "99999")  # past the longest wait first
    await page.select_option("select[name=s0_unit]", "days")
    await steps.nth(1).locator("select.kind").select_option("send")
    await page.select_option("select[name=s1_template]", "review_1")
    await page.click("#create-sequence")
    await expect(page.locator("#form-error")).to_contain_text(
        "Step 1: a wait is at most 3650 days.")
    await expect(page.locator("input[name=name]")).to_have_value("Thank-you mails")
    await expect(page.locator("select[name=s1_template]")).to_have_value("review_1")
    await page.fill("input[name=s0_amount]", "2")
    await page.click("#create-sequence")
    await expect(page.locator("h1")).to_have_text("Thank-you mails")
    await expect(page.locator("body")).to_contain_text("order_placed")
    funnel = page.locator("#funnel-table tr.funnel-row")
    await expect(funnel).to_have_count(2)
    await expect(funnel.nth(0)).to_contain_text("wait 2 days")
    await expect(funnel.nth(1)).to_contain_text("send review_1")
    await page.click("text=← Sequences")
    row = page.locator("#sequences tr", has_text="Thank-you mails")
    await expect(row).to_contain_text("thank_you_mails")
    await expect(row).to_contain_text("order_placed")
    await no_sideways_scroll(page)


async def test_a_second_click_while_the_form_is_sent_sends_nothing(
        browser: Browser, live: ServerProcess) -> None:
    """A POST form's submit button is disabled once the form is sent (app.js), so a double
    click sends it once; back on the page, the button works again."""
    page = await phone_login(browser, live)
    await page.goto(f"{live.url}/sequences/new")
    await page.fill("input[name=name]", "Sent once")
    await page.locator("#sequence-form fieldset.step").nth(0).locator(
        "select.kind").select_option("send")
    await page.select_option("select[name=s0_template]", "review_1")
    posts: list[str] = []
    answer = asyncio.Event()

    async def hold(route: Route) -> None:  # the server is slow to answer the first one
        if route.request.method == "POST":
            posts.append(route.request.url)
            await answer.wait()
        await route.continue_()

    await page.route("**/sequences/new", hold)
    button = page.locator("#create-sequence")
    # a double click: the second click comes after the submit's task (a timer queued after
    # app.js's, so it runs after it) while the first answer is still awaited
    disabled = await (await button.element_handle()).evaluate("""b => {
        b.click();
        return new Promise(done => setTimeout(() => { const d = b.disabled; b.click();
                                                    done(d); }, 0));
    }""")
    assert disabled is True
    answer.set()
    await expect(page.locator("h1")).to_have_text("Sent once")
    assert posts == [f"{live.url}/sequences/new"]
    made = await asyncio.to_thread(live.call, "GET", "/api/v1/sequences")
    assert [s["name"] for s in made].count("Sent once") == 1, made
    await page.go_back()
    await expect(page).to_have_url(f"{live.url}/sequences/new")
    await expect(button).to_be_enabled()
