"""End to end in real Chromium: a customer in the web-chat widget and a staff member in the
inbox, two browser contexts against a real server process."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from channels.signing import sign
from tests.conftest import ServerProcess
from tests.fakes.graph_api import FakeGraph

pytestmark = pytest.mark.slow  # Chromium



@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("browser") / "data").start()
    yield srv
    srv.stop()



async def staff_login(browser: Browser, live: ServerProcess) -> Page:
    ctx = await browser.new_context()
    page = await ctx.new_page()
    await page.goto(f"{live.url}/login")
    await page.fill("input[name=email]", live.seed["email"])
    await page.fill("input[name=password]", live.seed["password"])
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{live.url}/")  # the dashboard; the inbox a click away
    await page.click("nav a[href='/inbox']")
    await expect(page).to_have_url(f"{live.url}/inbox")
    await expect(page.locator("#live")).to_have_css("color", "rgb(34, 197, 94)")  # ws open
    return page


async def test_webchat_customer_and_staff_live(browser: Browser, live: ServerProcess) -> None:
    """The demo config: the bot greets with quick-reply buttons, the customer presses
    "Talk to a person", staff see it live, answer, and the customer sees it live."""
    staff = await staff_login(browser, live)

    customer_ctx = await browser.new_context()
    customer = await customer_ctx.new_page()
    await customer.goto(f"{live.url}/chat?account={live.seed['webchat']}")
    await customer.fill("#text", "Hi, do you ship to Da Nang?")
    await customer.press("#text", "Enter")
    await expect(customer.locator(".msg.in:not(.pending)")).to_have_text(
        "Hi, do you ship to Da Nang?")

    # The bot answers with a menu of quick replies; the customer asks for a person.
    await expect(customer.locator(".msg.out").first).to_contain_text("Welcome to",
                                                                    timeout=10_000)
    person = customer.locator(".quick button", has_text="Talk to a person")
    await person.click()
    await expect(customer.locator(".quick")).to_have_count(0)  # pressed buttons go away
    await expect(customer.locator(".msg.out").last).to_contain_text(
        "A person will answer you here", timeout=10_000)

    # Staff sees it appear in the list without a reload, flagged as needing a person.
    row = staff.locator("#conversations tr", has_text="needs a person")
    await expect(row).to_be_visible(timeout=10_000)
    await row.locator("a").first.click()
    await expect(staff.locator("#thread")).to_contain_text("Hi, do you ship to Da Nang?")
    await expect(staff.locator("#needs-human")).to_be_visible()

    # Staff replies; the customer sees it live.
    await staff.fill("#reply-form textarea", "Yes! 2-3 days to Da Nang.")
    await staff.click("#reply-form button[type=submit]")
    await expect(customer.locator(".msg.out").last).to_have_text("Yes! 2-3 days to Da Nang.",
                                                                 timeout=10_000)

    # The customer writes again; the open conversation view updates live; the bot is quiet.
    await customer.fill("#text", "Great, thanks")
    await customer.press("#text", "Enter")
    await expect(staff.locator("#thread")).to_contain_text("Great, thanks", timeout=10_000)

    # The widget asks for an e-mail and it lands on the contact.
    await expect(customer.locator("#email-box")).to_be_visible()
    await customer.fill("#email", "linh@example.vn")
    await customer.click("#email-form button")
    await expect(customer.locator("#log")).to_contain_text("Thanks! We'll reply by e-mail")

    # History survives a reload (signed visitor cookie): question, greeting, button,
    # hand-off, staff reply, thanks.
    await customer.reload()
    await expect(customer.locator(".msg")).to_have_count(6)
    await expect(customer.locator(".msg.out").last).to_have_text("Yes! 2-3 days to Da Nang.")
    await expect(customer.locator("#email-box")).to_be_hidden()
    await staff.reload()
    await expect(staff.locator("#contact-panel")).to_contain_text("linh@example.vn")


async def test_embed_snippet_opens_widget(browser: Browser, live: ServerProcess) -> None:
    ctx = await browser.new_context()
    page = await ctx.new_page()
    host = f"<html><body><h1>My shop</h1><script src='{live.url}/widget.js?account=" \
           f"{live.seed['webchat']}' async></script></body></html>"

    async def serve_shop(route: Any) -> None:
        await route.fulfill(status=200, content_type="text/html", body=host)

    await page.route(f"{live.url}/my-shop", serve_shop)
    await page.goto(f"{live.url}/my-shop")
    await page.click("button[aria-label='Chat with us']")
    frame = page.frame_locator("iframe[title=Chat]")
    await frame.locator("#text").fill("from the shop page")
    await frame.locator("#text").press("Enter")
    await expect(frame.locator(".msg.in:not(.pending)")).to_have_text("from the shop page")


@pytest.mark.parametrize(("locale", "label", "text"), [
    ("vi-VN", "Trò chuyện với chúng tôi", "Trò chuyện"), ("en-US", "Chat with us", "Chat")])
async def test_embed_snippet_speaks_the_visitors_language(
        browser: Browser, live: ServerProcess, locale: str, label: str, text: str) -> None:
    """A shop page's widget button is in the visitor's browser language (the catalogs')."""
    ctx = await browser.new_context(locale=locale)
    page = await ctx.new_page()
    host = f"<html lang='en'><body><h1>My shop</h1><script src='{live.url}/widget.js?" \
           f"account={live.seed['webchat']}' async></script></body></html>"

    async def serve_shop(route: Any) -> None:
        await route.fulfill(status=200, content_type="text/html", body=host)

    await page.route(f"{live.url}/my-shop", serve_shop)
    await page.goto(f"{live.url}/my-shop")
    button = page.get_by_role("button", name=label, exact=True)
    await expect(button).to_have_text(text)
    assert await button.get_attribute("lang") == locale[:2]
    await expect(page.locator("iframe")).to_have_attribute("title", text)
    await ctx.close()


async def test_hostile_text_shows_as_text(browser: Browser, live: ServerProcess) -> None:
    evil = "<img src=x onerror=alert(1)>"
    body = json.dumps({"external_id": "xss-1", "contact": {"external_id": "attacker",
                                                            "name": evil}, "text": evil}).encode()
    req = urllib.request.Request(
        f"{live.url}/api/v1/inbound/{live.seed['api_account']}", data=body, method="POST",
        headers={"X-Switchboard-Signature": sign(live.seed["secret"], body),
                 "Content-Type": "application/json"})
    assert urllib.request.urlopen(req).status == 202
    staff = await staff_login(browser, live)
    dialogs: list[str] = []
    staff.on("dialog", lambda d: dialogs.append(d.message))
    await staff.goto(f"{live.url}/inbox?channel=api")
    row = staff.locator("#conversations tr", has_text=evil)
    await expect(row.locator(".preview")).to_have_text(evil)
    await row.locator("a").click()
    await expect(staff.locator("#thread .msg.in .text")).to_have_text(evil)
    assert await staff.locator("img[src=x]").count() == 0
    await staff.wait_for_timeout(300)
    assert dialogs == []


async def test_marketer_uploads_an_image_and_the_post_reaches_facebook(
        browser: Browser, live: ServerProcess, aiohttp_server: Any) -> None:
    """The compose form uploads the chosen file to /media, puts its URL in the post, and
    the clock publishes it to the Page (a local fake of the Graph API) with that URL."""
    fake = FakeGraph()
    fake.add_page("3003", "page-token")
    base = str((await aiohttp_server(fake.app())).make_url("/v21.0"))
    account = await asyncio.to_thread(live.call, "POST", "/api/v1/channels", {
        "kind": "facebook", "name": "Browser page", "settings": {
            "page_id": "3003", "access_token": "page-token", "app_secret": "s",
            "api_base_url": base}})
    staff = await staff_login(browser, live)
    await staff.goto(f"{live.url}/posts")
    await expect(staff.locator(f"input[name=target_{account['id']}]")).to_have_value("3003")
    for box in await staff.locator("#compose input[type=checkbox]").all():
        if await box.get_attribute("name") != f"use_{account['id']}":
            await box.uncheck()
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae"
                        "426082")
    await staff.set_input_files("#upload", files=[
        {"name": "boots.png", "mimeType": "image/png", "buffer": png}])
    await expect(staff.locator("#upload-status")).to_have_text("Images uploaded: 1")
    url = await staff.locator("#images").input_value()
    assert "/media/" in url and url.endswith(".png")
    await staff.fill("#compose textarea[name=text]", "New boots, uploaded")
    await staff.fill("#compose input[name=when]", "in 2 seconds")
    await staff.click("#compose button[value=schedule]")
    await expect(staff.locator("#post-status")).to_have_text("scheduled")
    for _ in range(100):  # the post's page is not live: look again until it went out
        if fake.accounts["3003"].published:
            break
        await asyncio.sleep(0.2)
    await staff.reload()
    await expect(staff.locator("#post-status")).to_have_text("published")
    page = fake.accounts["3003"].published
    assert [(p["message"], p["photos"]) for p in page] == [("New boots, uploaded", [url])]
    with urllib.request.urlopen(url) as got:  # the URL Meta fetches serves the image
        assert got.read() == png


async def test_segment_count_updates_as_the_marketer_types(
        browser: Browser, live: ServerProcess) -> None:
    staff = await staff_login(browser, live)
    await staff.goto(f"{live.url}/segments")
    total = int(await staff.locator("#seg-count").inner_text())
    row = staff.locator(".seg-row").first
    await row.locator(".seg-kind").select_option("tag")
    await row.locator(".seg-value").fill("no-such-tag")
    await expect(staff.locator("#seg-count")).to_have_text("0")
    await row.locator(".seg-not").check()
    await expect(staff.locator("#seg-count")).to_have_text(str(total))
    await staff.fill("#seg-name", "Everyone")
    await staff.click("#seg-save")
    await expect(staff.locator("#segments")).to_contain_text("Everyone")
