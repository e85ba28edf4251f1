"""Issue 22 point 6: axe-core (tests/web/vendor/axe-core, from npm) finds no accessibility
violation, whatever its impact (critical, serious, moderate or minor: a page without an
``<h1>``, content outside a landmark, a column header with no text…), on any staff page, in
each of the six languages, nor on the public pages a shop's customers see (the web chat,
the unsubscribe and confirmation pages, the login page).

The staff pages come from the app's router with the walks' data (:mod:`tests.web.browser`),
so a page added later is audited too. One signed-in browser context per language (asking
for it with Accept-Language: the user has no language of their own; half of them as a
phone) visits each page once;
axe is injected by Playwright into the page as served, under its own Content-Security-Policy.
No rule and no element is left out of the audit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from bot.core.time import utcnow
from channels.signing import sign_link
from tests.conftest import ROOT, ServerProcess
from tests.web.browser import check_walked, fake_telegram, live_server, log_in, shop_with_data

pytestmark = pytest.mark.slow  # Chromium

AXE = ROOT / "tests" / "web" / "vendor" / "axe-core" / "axe.min.js"
# Each language's browser width: half the languages see the phone layout (issue 22 point 5:
# the conversation's side panel folds behind a button there), half the desktop one.
LOCALES = {"en": 1280, "vi": 375, "th": 1280, "pl": 375, "ru": 1280, "km": 375}
# Every violation axe finds, with its impact; the passes only show that axe looked.
RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return {passes: r.passes.length, violations: r.violations.map(v => ({
    id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))}; }"""

# The self-check's faults, one of each impact the audit must report: added to the login page.
PLANT = """() => {
  const form = document.querySelector('form'), table = document.createElement('table');
  table.innerHTML = '<tr><th></th><th>Total</th></tr><tr><td>a</td><td>1</td></tr>';
  const h = document.createElement('h4'); h.textContent = 'Skips from h1 to h4';
  form.append(document.createElement('select'), h, table); }"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from live_server(tmp_path_factory, "axe")


def public_pages(live: ServerProcess, contact: int) -> list[str]:
    """The pages customers see without signing in: the web chat (alone and as the shop
    site's framed widget), an unsubscribe link, a confirmation link (stale and bad)."""
    secret = (live.data_dir / "secret.key").read_text().strip()
    old = utcnow() - timedelta(days=400)  # older than signed_link_days
    return ["/login", f"/chat?account={live.seed['webchat']}",
            f"/chat?account={live.seed['webchat']}&embed=1",
            f"/u/{sign_link(secret, 'unsubscribe', str(contact))}", "/u/not-a-link",
            f"/confirm/{sign_link(secret, 'confirm', str(contact), old)}",
            "/confirm/not-a-link"]


async def audit(page: Page, source: str, found: list[str], where: str) -> int:
    """axe's violations on the page, of any impact, as lines added to ``found``; the
    number of rules that passed."""
    await page.evaluate("() => {" + source + "\n}")  # a function: a page's script, no tag
    result = await page.evaluate(RUN)
    found.extend(f"{where}: {v['id']} ({v['impact']}) at {v['nodes']}"
                 for v in result["violations"])
    return int(result["passes"])


async def audit_language(browser: Browser, live: ServerProcess, source: str, locale: str,
                         public: list[str], staff: list[str], found: list[str]) -> int:
    """Every page, once, in one language: the public ones first, then signed in."""
    context = await browser.new_context(
        locale=locale, extra_http_headers={"Accept-Language": locale},
        viewport={"width": LOCALES[locale], "height": 800})
    page, audited = await context.new_page(), 0
    for path in public:
        await page.goto(f"{live.url}{path}")
        assert await page.locator("html").get_attribute("lang") == locale, (locale, path)
        assert await audit(page, source, found, f"{locale} {path}") > 10
        audited += 1
        if path.startswith("/u/") and path != "/u/not-a-link":
            await page.click("form[action^='/u/'] button")  # the page after unsubscribing
            await expect(page.locator("#unsubscribed")).to_be_visible()
        elif path.startswith("/chat") and "embed" not in path:  # a message, and the
            await page.fill("#text", "Do you ship to Hanoi?")    # e-mail box it brings
            await page.press("#text", "Enter")
            await expect(page.locator("#email-box")).to_be_visible()
        else:
            continue
        assert await audit(page, source, found, f"{locale} {path} (after)") > 10
        audited += 1
    await log_in(page, live)
    for path in staff:
        resp = await page.goto(f"{live.url}{path}")
        assert resp is not None and resp.status == 200, (locale, path, resp and resp.status)
        assert await audit(page, source, found, f"{locale} {path}") > 10
        audited += 1
    await context.close()
    return audited


async def test_no_accessibility_violation_on_any_page_in_any_language(
        browser: Browser, live: ServerProcess, tmp_path: Path, aiohttp_server: Any) -> None:
    telegram = await fake_telegram(aiohttp_server)
    urls = await asyncio.to_thread(shop_with_data, live, telegram)
    check_walked(urls, tmp_path / "routes")
    public = public_pages(live, int(urls["/contacts/{contact_id}"][0].rsplit("/", 1)[1]))
    staff = [path for _route, paths in sorted(urls.items()) for path in paths]
    source, found, audited = AXE.read_text(), [], 0
    page = await browser.new_page()  # the audit sees what is planted, whatever its impact:
    await page.goto(f"{live.url}/login")  # a select nobody can name, a heading that skips
    await page.evaluate(PLANT)            # levels, a column header with no text
    await audit(page, source, found, "check")
    for planted in ("select-name (critical)", "heading-order (moderate)",
                    "empty-table-header (minor)"):
        assert [f for f in found if f.startswith(f"check: {planted}")], (planted, found)
    await page.close()
    found.clear()
    for locale in LOCALES:
        audited += await audit_language(browser, live, source, locale, public, staff, found)
    assert audited == len(LOCALES) * (len(public) + 2 + len(staff))
    assert not found, f"{len(found)} accessibility violations:\n" + "\n".join(found)
