"""The reports page in real Chromium (issue 21): log in, open a report from the nav, change
the period and apply it, see the chart drawn by Chart.js (served by the server itself,
under the CSP) with its table, hover a bar for its exact value, download a table's CSV, and
read the page at 375 px without sideways scrolling. The app runs in this process, so the
test's own known report is in its registry."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.conftest import make_settings
from tests.web.known_report import KEY, known_reports

pytestmark = pytest.mark.slow  # Chromium

WATCH = """window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});"""
CHART = "Chart.getChart(document.getElementById('chart-0'))"


@pytest.fixture
async def live(aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    from bot.app import create_app

    seed: dict[str, Any] = {}
    with known_reports():
        server = await aiohttp_server(create_app(make_settings(tmp_path), on_seed=seed.update))
        yield str(server.make_url("")).rstrip("/"), seed


async def staff(browser: Browser, url: str, seed: dict[str, Any],
                **context: Any) -> tuple[BrowserContext, Page]:
    ctx = await browser.new_context(accept_downloads=True, **context)
    await ctx.add_init_script(WATCH)
    page = await ctx.new_page()
    await page.goto(f"{url}/login")
    await page.fill("input[name=email]", seed["email"])
    await page.fill("input[name=password]", seed["password"])
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{url}/")  # login lands on the dashboard
    return ctx, page


async def test_a_report_with_filters_chart_tooltip_and_csv(
        browser: Browser, live: tuple[str, dict[str, Any]]) -> None:
    url, seed = live
    _, page = await staff(browser, url, seed)
    await page.click("nav >> text=Reports")
    await expect(page).to_have_url(f"{url}/reports")
    await page.click("text=Known test report")
    await expect(page).to_have_url(f"{url}/reports/{KEY}")
    # by default the last 30 days: 30 rows in the chart's table, the chart drawn
    rows = page.locator("#table-by_day tbody tr")
    await expect(rows).to_have_count(30)
    await page.wait_for_function(f"() => window.Chart && {CHART} && {CHART}.data.labels"
                                 ".length === 30")
    size = await page.evaluate("() => { var c = document.getElementById('chart-0');"
                               " return [c.width, c.height]; }")
    assert size[0] > 0 and size[1] > 0, size
    await expect(page.locator("#chart-0")).to_have_attribute("role", "img")
    await expect(page.locator("#table-by_day caption")).to_have_text(
        "Opened per day: the values")
    await expect(page.locator("#table-heat tbody tr")).to_have_count(7)

    # a preset, applied
    await page.select_option("#f-range", "7")
    await page.click("#report-filters button[type=submit]")
    await expect(rows).to_have_count(7)
    assert "range=7" in page.url
    # dates typed: the period becomes "Custom dates"
    await page.fill("#f-from", "2026-03-01")
    await page.fill("#f-to", "2026-03-04")
    await expect(page.locator("#f-range")).to_have_value("custom")
    await page.click("#report-filters button[type=submit]")
    await expect(rows).to_have_count(4)
    await expect(rows.first.locator("td").first).to_have_text("2026-03-01")
    await page.wait_for_function(f"() => {CHART} && {CHART}.data.labels.length === 4")

    # hovering the first bar shows its exact value in the tooltip
    box = await page.locator("#chart-0").bounding_box()
    assert box is not None
    point = await page.evaluate(f"() => {{ var b = {CHART}.getDatasetMeta(0).data[0];"
                                " return [b.x, b.y + 2]; }")
    await page.mouse.move(box["x"] + point[0], box["y"] + point[1])
    await page.wait_for_function(f"() => {CHART}.tooltip.opacity > 0")
    lines = await page.evaluate(f"() => {CHART}.tooltip.body.map(b => b.lines.join(' '))")
    assert lines == ["Opened: 1"], lines
    await expect(page.locator("#chart-0-card")).to_contain_text("Opened")

    # the CSV of the table, with the period applied
    async with page.expect_download() as info:
        await page.click("#csv-by_day")
    download = await info.value
    assert download.suggested_filename == f"{KEY}-by_day-2026-03-01-2026-03-04.csv"
    path = await download.path()
    text = Path(path).read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    got = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    assert got[0] == ["Day", "Opened", "First response", "Revenue", "Answered", "Note"]
    assert [r[:2] for r in got[1:]] == [["2026-03-01", "1"], ["2026-03-02", "2"],
                                        ["2026-03-03", "3"], ["2026-03-04", "4"]]
    assert got[1][5].startswith("'=")

    # a bad range: a clear message on the page, the form to correct it
    await page.fill("#f-from", "2026-03-09")
    await page.click("#report-filters button[type=submit]")
    await expect(page.locator("#report-error")).to_contain_text("is after to")
    assert await page.evaluate("window.__csp") == []


async def test_the_report_fits_a_phone(browser: Browser,
                                       live: tuple[str, dict[str, Any]]) -> None:
    url, seed = live
    _, page = await staff(browser, url, seed, viewport={"width": 375, "height": 740})
    await page.goto(f"{url}/reports/{KEY}?range=90")
    await page.wait_for_function(f"() => window.Chart && {CHART}")
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    wide = await page.evaluate("() => Array.from(document.querySelectorAll('body *'))"
                               ".filter(e => e.getBoundingClientRect().right > 376)"
                               ".slice(0, 5).map(e => e.tagName + '#' + e.id + '.' +"
                               " e.className + ' ' + e.getBoundingClientRect().right)")
    assert width <= 375, (width, wide)
    # the wide heatmap scrolls inside its own box
    inner = await page.evaluate("() => { var t = document.getElementById('table-heat');"
                                " var box = t.parentElement;"
                                " return [t.scrollWidth, box.clientWidth,"
                                " getComputedStyle(box).overflowX]; }")
    assert inner[0] > inner[1] and inner[2] == "auto", inner
    assert await page.evaluate("window.__csp") == []
