"""Issue 22 point 1: every staff page, walked in real Chromium by a browser that asks for
Vietnamese (``Accept-Language: vi``; the user has no language of their own), shows no English
text of the interface.

"English text of the interface" is checked against the catalogs themselves: a text node, a
submit input's value (a <button>'s value is never shown) or a placeholder, title, alt or
aria-label that is exactly the English of a catalog message whose Vietnamese differs from
it. Customer content (messages, names, a post's text) is no catalog message, and an element
marked ``translate="no"`` (an example of what to type) is skipped. A message with
placeholders (and each plural form) is found filled: its English becomes a pattern in which
each placeholder stands for any text, and a shown text that the whole pattern matches is
English (only for patterns with six letters of their own or more, so "%(a)s · %(b)s" or
"%(max)s max" match nothing). English day and month names are no catalog message (Babel's
locale data says them): a shown text made of nothing but them, numbers and punctuation
("Mon", "December 2026", "Fri, Mar 6") is English too. The pages come from the app's router,
with the walks' data (:mod:`tests.web.browser`)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from babel import dates
from babel.messages.pofile import read_po
from playwright.async_api import Browser

from tests.conftest import ROOT, ServerProcess
from tests.web.browser import check_walked, fake_telegram, live_server, log_in, shop_with_data

pytestmark = pytest.mark.slow  # Chromium

# Every text a person reads: text nodes outside translate="no", and the attributes that speak.
SHOWN = """() => {
  const out = [];
  const skip = n => n.closest('[translate="no"], script, style, template, [hidden]');
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const text = n.textContent.replace(/\\s+/g, ' ').trim();
    if (text && !skip(n.parentElement)) out.push(text);
  }
  for (const e of document.querySelectorAll('[placeholder], [title], [alt], [aria-label], '
      + 'input[type=submit], input[type=button]')) {
    if (skip(e)) continue;
    for (const a of ['placeholder', 'title', 'alt', 'aria-label'])
      if (e.getAttribute(a)) out.push(e.getAttribute(a).replace(/\\s+/g, ' ').trim());
    if (e.tagName === 'INPUT' && (e.type === 'submit' || e.type === 'button'))
      out.push((e.value || '').trim());
  }
  out.push(document.title.trim());
  return out; }"""


PLACEHOLDER = re.compile(r"%\((\w+)\)[sdr]|%[sdr]")


def english_of_the_interface() -> tuple[set[str], list[re.Pattern[str]]]:
    """The English of every catalog message the Vietnamese catalog says differently: the
    plain ones as they are, those with placeholders (and plural forms) as patterns."""
    with (ROOT / "bot" / "locale" / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    found: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for m in catalog:
        if not m.id:
            continue
        ids = [str(i) for i in m.id] if m.pluralizable else [str(m.id)]
        strings = [str(t) for t in m.string] if m.pluralizable else [str(m.string)]
        for english in (" ".join(i.split()) for i in ids):
            if not all(strings) or english in {" ".join(t.split()) for t in strings}:
                continue
            if not any(c.isalpha() for c in english):
                continue
            if not PLACEHOLDER.search(english):
                found.add(english)
            elif sum(c.isalpha() for c in PLACEHOLDER.sub(" ", english)) >= 6:
                patterns.append(re.compile("".join(
                    ".+?" if PLACEHOLDER.fullmatch(part) else re.escape(part)
                    for part in re.split(r"(%\(\w+\)[sdr]|%[sdr])", english) if part)))
    return found, patterns


def english_dates() -> re.Pattern[str]:
    """A text of only English day and month names (each width and context Babel has),
    numbers and punctuation, with at least one name."""
    names = {str(n) for get in (dates.get_day_names, dates.get_month_names)
             for width in ("abbreviated", "wide") for context in ("format", "stand-alone")
             for n in get(width, context, locale="en").values()}
    name = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
    return re.compile(rf"[\d\W]*(?:(?:{name})\b[\d\W]*)+")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from live_server(tmp_path_factory, "vi")


async def test_every_staff_page_in_vietnamese_shows_no_english(
        browser: Browser, live: ServerProcess, tmp_path: Path, aiohttp_server: Any) -> None:
    english, patterns = english_of_the_interface()
    assert len(english) > 500 and len(patterns) > 50  # the catalog is read (~850 messages)
    telegram = await fake_telegram(aiohttp_server)
    urls = await asyncio.to_thread(shop_with_data, live, telegram)
    check_walked(urls, tmp_path / "routes")
    context = await browser.new_context(locale="vi-VN",
                                        extra_http_headers={"Accept-Language": "vi"})
    page = await context.new_page()
    pages = [("/login", await page.goto(f"{live.url}/login"))]
    assert await page.locator("html").get_attribute("lang") == "vi"
    seen: dict[str, list[str]] = {"/login": await page.evaluate(SHOWN)}
    await log_in(page, live)
    for _route, paths in sorted(urls.items()):
        for path in paths:
            resp = await page.goto(f"{live.url}{path}")
            pages.append((path, resp))
            seen[path] = await page.evaluate(SHOWN)
    await context.close()
    assert all(r is not None and r.status == 200 for _p, r in pages), [
        (p, r and r.status) for p, r in pages if r is None or r.status != 200]
    day_or_month = english_dates()
    assert day_or_month.fullmatch("Fri, Mar 6") and not day_or_month.fullmatch("Thứ 6")
    left = {path: sorted({t for t in texts if t in english or day_or_month.fullmatch(t)
                          or any(p.fullmatch(t) for p in patterns)})
            for path, texts in seen.items()}
    found = {p: t for p, t in left.items() if t}
    assert not found, f"English on a Vietnamese page: {found}"
    assert sum(len(t) for t in seen.values()) > 1000  # the walk read the pages' texts
