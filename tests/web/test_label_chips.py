"""Label colours in the inbox list (issue 22, point 2): each conversation's labels are
chips in the label's colour, with the name as text in black or white, whichever reads
better on it (WCAG 2 contrast); the labels page shows them the same way."""

from __future__ import annotations

import re

import pytest

from bot.models import Label
from bot.services.labels import chip
from tests.conftest import Shop
from tests.web.test_edit_labels import _labelled
from tests.web.test_web import as_admin


def _ratio(a: str, b: str) -> float:
    def lum(color: str) -> float:
        def lin(i: int) -> float:
            c = int(color[i:i + 2], 16) / 255
            return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
        return 0.2126 * lin(1) + 0.7152 * lin(3) + 0.0722 * lin(5)
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("color", ["#ffff00", "#1e3a8a", "#64748b", "#ff0000", "#00ff00",
                                   "#777777", "#7a7a7a", "#ffffff", "#000000", "#e11d48"])
def test_the_text_colour_meets_aa_on_every_background(color: str) -> None:
    bg, ink = chip(color)
    assert bg == color and ink in ("#000000", "#ffffff")
    assert _ratio(bg, ink) >= 4.5, (color, ink)


def test_a_colour_that_is_not_rrggbb_gets_the_default() -> None:
    assert chip("red") == ("#64748b", "#ffffff") and chip("") == ("#64748b", "#ffffff")


async def test_inbox_list_shows_labels_in_their_colours(shop: Shop) -> None:
    csrf = await as_admin(shop)
    await _labelled(shop, csrf, "c1", "vip, late")
    for name, color in (("vip", "#ffff00"), ("late", "#1e3a8a")):
        lb = await Label.get(name=name)
        resp = await shop.client.post(f"/admin/labels/{lb.id}", allow_redirects=False,
                                      data={"csrf_token": csrf, "name": name, "color": color})
        assert resp.status == 302
    for path in ("/inbox?status=all", "/inbox?status=all&fragment=1"):
        page = await (await shop.client.get(path)).text()
        table = page[page.index('id="conversations"'):]
        assert re.search(r'style="background:#ffff00;color:#000000">vip</span>', table), path
        assert re.search(r'style="background:#1e3a8a;color:#ffffff">late</span>', table), path
    page = await (await shop.client.get("/admin/labels")).text()
    assert 'style="background:#ffff00;color:#000000">vip</span>' in page
