"""A customer's files in the conversation page (issue 22 point 3): images inline, other
files as downloads with name and size, a refused file as a note; the file route only for
staff who may read that conversation, and never serving HTML or SVG as a page."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.core import attachments
from bot.core.channel import ContactInfo, InboundMessage
from bot.core.keys import SETTINGS
from bot.models import MessageAttachment
from bot.services.inbox import INTAKE
from tests.conftest import Shop
from tests.web.test_web import as_admin, login

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 30
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


async def customer_sends(shop: Shop, ext: str, *files: dict[str, Any]) -> int:
    msg = InboundMessage(channel_account_id=shop.seed["api_account_id"], external_id=ext,
                         contact=ContactInfo(f"cust-{ext}"), text="look", attachments=files)
    return (await shop.client.app[INTAKE].ingest(msg)).conversation_id


async def test_files_in_the_thread_and_who_may_open_them(shop_any_db: Shop) -> None:
    shop, settings = shop_any_db, shop_any_db.client.app[SETTINGS]
    photo = attachments.store(settings, PNG, "cat <1>.png", "image/png", "photo")
    svg = attachments.store(settings, SVG, "logo.svg", "image/svg+xml")
    pdf = attachments.store(settings, b"%PDF-1.4 x" * 150, "счёт.pdf", "application/pdf")
    big = attachments.store(replace(settings, attachment_max_bytes=1000), b"z" * 2048,
                            "video.mp4", "video/mp4")
    cid = await customer_sends(shop, "m1", photo, svg, pdf, big)
    other = await customer_sends(shop, "m2")
    ids = {a.file_name: a.id for a in await MessageAttachment.all()}
    assert set(ids) == {"cat <1>.png", "logo.svg", "счёт.pdf"}

    await as_admin(shop)
    page = await (await shop.client.get(f"/inbox/{cid}")).text()
    img = f'<img src="/inbox/{cid}/files/{ids["cat <1>.png"]}" alt="cat &lt;1&gt;.png"'
    assert img in page
    assert (f'<a href="/inbox/{cid}/files/{ids["счёт.pdf"]}" download>счёт.pdf</a> '
            f'<span class="meta">(1.5 kB)</span>') in page
    assert f'<img src="/inbox/{cid}/files/{ids["logo.svg"]}"' not in page  # a download
    assert "video.mp4 was not kept: it is larger than 1.0 kB." in page

    got = await shop.client.get(f"/inbox/{cid}/files/{ids['cat <1>.png']}")
    assert got.status == 200 and await got.read() == PNG
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"].startswith("inline; ")
    for name in ("logo.svg", "счёт.pdf"):  # never rendered by the browser
        got = await shop.client.get(f"/inbox/{cid}/files/{ids[name]}")
        assert got.status == 200 and got.headers["Content-Type"] == "application/octet-stream"
        assert got.headers["Content-Disposition"].startswith("attachment; ")
        assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "filename*=UTF-8''%D1%81%D1%87%D1%91%D1%82.pdf" in got.headers[
        "Content-Disposition"]
    # only through its own conversation, and only a number
    assert (await shop.client.get(f"/inbox/{other}/files/{ids['счёт.pdf']}")).status == 404
    assert (await shop.client.get(f"/inbox/{cid}/files/999999")).status == 404
    assert (await shop.client.get(f"/inbox/{cid}/files/..%2Fsecret.key")).status == 404

    marketer = await shop.add_user("marketer")  # may not read conversations
    shop.client.session.cookie_jar.clear()
    assert (await shop.client.get(f"/inbox/{cid}/files/{ids['cat <1>.png']}",
                                  allow_redirects=False)).status == 302  # to the login
    await login(shop, marketer["email"], marketer["password"])
    assert (await shop.client.get(f"/inbox/{cid}/files/{ids['cat <1>.png']}")).status == 403
