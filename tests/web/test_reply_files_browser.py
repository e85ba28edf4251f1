"""Staff attach a picture and a PDF to a reply in real Chromium (issue 22 point 3): the
web chat visitor sees the picture inline and the PDF as a download link in their widget,
live, and again after a reload; staff see both in the thread."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import ServerProcess
from tests.web.browser import logged_in

pytestmark = pytest.mark.slow  # Chromium


def png(width: int, height: int) -> bytes:
    """A real PNG of a plain colour, so the browser decodes it to that size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xd0\x20\x20" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PDF = b"%PDF-1.4\n% size guide\n" * 20


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("replyfiles") / "data")
    srv.start()
    yield srv
    srv.stop()


async def test_staff_attach_files_and_the_visitor_sees_them(browser: Browser,
                                                           live: ServerProcess) -> None:
    visitor = await (await browser.new_context()).new_page()
    await visitor.goto(f"{live.url}/chat?account={live.seed['webchat']}")
    await visitor.fill("#text", "Can I see the red one?")
    await visitor.press("#text", "Enter")
    await expect(visitor.locator(".msg.in:not(.pending)")).to_have_text(
        "Can I see the red one?")

    staff = await logged_in(browser, live)
    await staff.goto(f"{live.url}/inbox?status=all&channel=webchat")  # only this one
    await staff.locator("#conversations tr[data-id] a").first.click()
    await expect(staff.locator("#thread")).to_contain_text("Can I see the red one?")
    await staff.fill("#reply-form textarea", "Here it is, and the size guide.")
    await staff.set_input_files("#reply-form input[type=file]", files=[
        {"name": "red.png", "mimeType": "image/png", "buffer": png(30, 20)},
        {"name": "size guide.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    await staff.click("#reply-form button[type=submit]")
    await expect(staff.locator("#thread img[alt='red.png']")).to_be_visible(timeout=10_000)
    await expect(staff.locator("#thread a[download]")).to_have_text("size guide.pdf")

    reply = visitor.locator(".msg.out", has_text="Here it is, and the size guide.")
    await expect(reply).to_be_visible(timeout=10_000)
    image = reply.locator(".file img[alt='red.png']")
    await expect(image).to_be_visible()
    await visitor.wait_for_function(
        "img => img.complete && img.naturalWidth === 30 && img.naturalHeight === 20",
        arg=await image.element_handle())
    link = reply.locator(".file a[download]")
    await expect(link).to_have_text("📎 size guide.pdf")  # the widget marks a download
    got = await visitor.request.get(live.url + str(await link.get_attribute("href")))
    assert got.status == 200 and await got.body() == PDF

    await visitor.reload()  # from the history, with the visitor's cookie
    again = visitor.locator(".msg.out", has_text="Here it is, and the size guide.")
    await expect(again.locator(".file img[alt='red.png']")).to_be_visible(timeout=10_000)
    await expect(again.locator(".file a[download]")).to_have_text("📎 size guide.pdf")
