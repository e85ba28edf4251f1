"""Issue 19 point 17, the links half: links in mails carry the time they were signed and
expire after signed_link_days, with a clear page; an unsubscribe link never stops
unsubscribing; an old confirmation link never subscribes someone who left."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from bot.core.keys import SETTINGS
from bot.core.time import utcnow
from bot.models import Contact, MailSend
from channels.email.mailer import Mailer
from channels.signing import _link_mac, read_link, sign_link
from tests.conftest import Shop

OLD = timedelta(days=181)  # the default signed_link_days is 180


def _secret(shop: Shop) -> str:
    return str(shop.client.app[SETTINGS].secret_key.get())


def _legacy(secret: str, purpose: str, value: str) -> str:
    """A link as mails carried them before links were dated."""
    return f"{value}.{_link_mac(secret, f'{purpose}:{value}')}"


def test_links_read_back_with_their_time() -> None:
    now = utcnow()
    token = sign_link("k", "confirm", "12", now)
    link = read_link("k", "confirm", token)
    assert link is not None and link.value == "12" and link.fresh(180, now)
    assert link.issued is not None and abs((link.issued - now).total_seconds()) < 1
    assert not link.fresh(180, now + OLD)
    assert read_link("k", "unsubscribe", token) is None  # another purpose
    assert read_link("other", "confirm", token) is None
    head, _, mac = token.rpartition(".")
    value, _, issued = head.rpartition(".")
    later = sign_link("k", "confirm", "12", now + OLD).split(".")[1]
    assert read_link("k", "confirm", f"{value}.{later}.{mac}") is None  # the time is signed
    for bad in ("", ".", "..", "12", "é.é.é", token + "é", "12.zzzzzzzzzzzz.x"):
        assert read_link("k", "confirm", bad) is None
    undated = read_link("k", "open", _legacy("k", "open", "enr:1:step:2"))
    assert undated is not None and undated.value == "enr:1:step:2" and undated.issued is None
    assert not undated.fresh(180)
    # an undated link's MAC cannot be read as a dated link with a time of one's choosing
    forged = _legacy("k", "open", "enr:1:" + issued)
    assert read_link("k", "open", forged.replace(f"enr:1:{issued}.", f"enr:1.{issued}.")) is None


def test_the_mailer_signs_dated_links(shop: Shop) -> None:
    mailer = Mailer({}, shop.client.app[SETTINGS])
    for url, purpose in ((mailer.unsubscribe_url(7), "unsubscribe"),
                         (mailer.open_url("enr:1:step:0").removesuffix(".gif"), "open")):
        link = read_link(_secret(shop), purpose, url.rsplit("/", 1)[1])
        assert link is not None and link.issued is not None


async def _contact(consent: str) -> Contact:
    return await Contact.create(email=f"{consent}-{id(consent)}@mail.test",
                                email_consent=consent, email_consent_at=utcnow())


async def test_an_expired_confirmation_link_asks_to_sign_up_again(shop: Shop) -> None:
    contact = await _contact("pending")
    for token in (sign_link(_secret(shop), "confirm", str(contact.id), utcnow() - OLD),
                  _legacy(_secret(shop), "confirm", str(contact.id))):
        resp = await shop.client.get(f"/confirm/{token}")
        assert resp.status == 410 and 'id="link-expired"' in await resp.text()
        assert (await Contact.get(id=contact.id)).email_consent == "pending"
    fresh = sign_link(_secret(shop), "confirm", str(contact.id))
    assert (await shop.client.get(f"/confirm/{fresh}")).status == 200
    assert (await Contact.get(id=contact.id)).email_consent == "subscribed"
    assert (await shop.client.get("/confirm/" + quote("é.é"))).status == 404


async def test_an_old_confirmation_link_does_not_subscribe_someone_who_left(
        shop: Shop) -> None:
    contact = await _contact("unsubscribed")
    fresh = sign_link(_secret(shop), "confirm", str(contact.id))
    resp = await shop.client.get(f"/confirm/{fresh}")
    assert resp.status == 404
    assert (await Contact.get(id=contact.id)).email_consent == "unsubscribed"


async def test_unsubscribe_links_never_stop_unsubscribing(shop: Shop) -> None:
    for dated in (True, False):  # an expired link, and one from before links had a time
        contact = await _contact("subscribed")
        token = sign_link(_secret(shop), "unsubscribe", str(contact.id), utcnow() - OLD) \
            if dated else _legacy(_secret(shop), "unsubscribe", str(contact.id))
        page = await shop.client.get(f"/u/{token}")
        assert page.status == 200 and f'action="/u/{token}"' in await page.text()
        done = await shop.client.post(f"/u/{token}", data="List-Unsubscribe=One-Click")
        assert done.status == 200 and 'id="unsubscribed"' in await done.text()
        assert (await Contact.get(id=contact.id)).email_consent == "unsubscribed"
    assert (await shop.client.post("/u/" + quote("1.é"))).status == 404


async def _mail() -> MailSend:
    contact = await _contact("subscribed")
    return await MailSend.create(key=f"test:{contact.id}", contact=contact, to=contact.email,
                                 message_id="<m@x>", state="sent", sent_at=utcnow())


async def test_expired_click_and_open_links_are_not_counted(shop: Shop) -> None:
    mail = await _mail()
    url = "https://shop.example.test/cart"

    def click(at: Any) -> str:
        value = f"{mail.key}|{url}"
        mac = sign_link(_secret(shop), "click", value, at).removeprefix(value + ".")
        return f"/c/{quote(mail.key, safe='')}/{mac}?u={quote(url, safe='')}"

    old = await shop.client.get(click(utcnow() - OLD), allow_redirects=False)
    text = await old.text()
    assert old.status == 410 and 'id="link-expired"' in text and f'href="{url}"' in text
    pixel = sign_link(_secret(shop), "open", mail.key, utcnow() - OLD)
    gif = await shop.client.get(f"/o/{pixel}.gif")
    assert gif.status == 200 and gif.content_type == "image/gif"
    row = await MailSend.get(id=mail.id)
    assert row.clicks == 0 and row.opens == 0 and row.opened_at is None
    new = await shop.client.get(click(utcnow()), allow_redirects=False)
    assert new.status == 302 and new.headers["Location"] == url
    await shop.client.get(f"/o/{sign_link(_secret(shop), 'open', mail.key)}.gif")
    row = await MailSend.get(id=mail.id)
    assert row.clicks == 1 and row.opens == 1
    forged = click(utcnow()).replace("/c/", "/c/x")
    assert (await shop.client.get(forged, allow_redirects=False)).status == 404
