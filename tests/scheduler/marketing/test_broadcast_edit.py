"""Editing a broadcast on a page until it is sent (issue 22, point 2): its name, segment,
subjects, A/B test, message and time, with the compose form's checks; refused (409) once
a mail of it was recorded, once it is cancelled, and while a runner holds its lease (a
compare-and-set, as cancelling). Roles, CSRF, unknown ids."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest

from bot.models import Broadcast, Contact, MailSend
from scheduler.marketing.clock import now
from tests.conftest import Shop
from tests.scheduler.marketing.test_marketing_pages import (
    as_marketer,
    compose_form,
    login,
    segment,
    text,
)


async def _scheduled(shop: Shop, csrf: str, sid: int) -> int:
    resp = await shop.client.post("/broadcasts/new", allow_redirects=False,
                                  data=compose_form(csrf, sid))
    assert resp.status == 303, await resp.text()
    return int(resp.headers["Location"].rsplit("/", 1)[1])


async def test_edit_a_scheduled_broadcast(shop: Shop) -> None:
    sid = await segment(shop, "Regulars")
    other = await segment(shop, "Newcomers")
    csrf = await as_marketer(shop)
    bid = await _scheduled(shop, csrf, sid)
    results = await (await shop.client.get(f"/broadcasts/{bid}")).text()
    assert f'href="/broadcasts/{bid}/edit"' in results
    page = html.unescape(await (await shop.client.get(f"/broadcasts/{bid}/edit")).text())
    assert f'action="/broadcasts/{bid}/edit"' in page and 'value="December sale"' in page
    assert 'value="2099-01-02"' in page and 'value="09:30"' in page
    assert ">Our sale starts now.</textarea>" in page
    resp = await shop.client.post(f"/broadcasts/{bid}/edit", allow_redirects=False,
                                  data=compose_form(
                                      csrf, other, name="New year sale", subject_a="Hi",
                                      subject_b="Hello", ab="1", split_percent="30",
                                      body="Sale, again.", send_date="2099-02-03",
                                      send_time="10:15"))
    assert resp.status == 303 and resp.headers["Location"] == f"/broadcasts/{bid}"
    b = await Broadcast.get(id=bid)
    assert (b.name, b.segment_id, b.subject_a, b.subject_b, b.split_percent,  # type: ignore[attr-defined]
            b.body, b.state) == ("New year sale", other, "Hi", "Hello", 30, "Sale, again.",
                                 "scheduled")
    assert b.due_at is not None and b.due_at.strftime("%Y-%m-%d %H:%M") == "2099-02-03 10:15"
    assert await Broadcast.all().count() == 1  # changed, not a second one
    # Preview works on the edit form too, and saves nothing
    resp = await shop.client.post(f"/broadcasts/{bid}/edit", data=compose_form(
        csrf, other, name="Not saved", action="preview"))
    assert resp.status == 200 and 'id="previews"' in await resp.text()
    assert (await Broadcast.get(id=bid)).name == "New year sale"


@pytest.mark.parametrize(("over", "status", "message"), [
    ({"body": "{{ contact.first_name "}, 422, "template error"),
    ({"ab": "1", "subject_b": ""}, 422, "A/B test: enter subject B"),
    ({"send_date": "2001-01-01"}, 422, "has passed"),
    ({"segment_id": "999999"}, 422, "no such segment"),
])
async def test_bad_input_shows_the_form_again(shop: Shop, over: dict[str, str],
                                              status: int, message: str) -> None:
    sid = await segment(shop)
    csrf = await as_marketer(shop)
    bid = await _scheduled(shop, csrf, sid)
    resp = await shop.client.post(f"/broadcasts/{bid}/edit", data=compose_form(
        csrf, sid, **{"name": "Typed", **over}))
    body = html.unescape(await resp.text())
    assert resp.status == status and message in body, body[:3000]
    assert f'action="/broadcasts/{bid}/edit"' in body and 'value="Typed"' in body
    assert (await Broadcast.get(id=bid)).name == "December sale"


async def test_refused_once_started_cancelled_or_claimed(shop: Shop) -> None:
    sid = await segment(shop)
    csrf = await as_marketer(shop)
    claimed = await _scheduled(shop, csrf, sid)
    await Broadcast.filter(id=claimed).update(lease_until=now() + timedelta(minutes=5))
    resp = await shop.client.post(f"/broadcasts/{claimed}/edit",
                                  data=compose_form(csrf, sid, name="Late"))
    assert resp.status == 409 and "being sent just now" in text(await resp.text())
    started = await _scheduled(shop, csrf, sid)
    contact = await Contact.filter(email__isnull=False).first()
    assert contact is not None
    await MailSend.create(key=f"bc:{started}:{contact.id}", broadcast_id=started,
                          contact_id=contact.id, to=contact.email, message_id="<x@y>",
                          template="broadcast")
    resp = await shop.client.get(f"/broadcasts/{started}/edit")
    assert resp.status == 409 and "has started" in text(await resp.text())
    resp = await shop.client.post(f"/broadcasts/{started}/edit",
                                  data=compose_form(csrf, sid, name="Late"))
    assert resp.status == 409
    cancelled = await _scheduled(shop, csrf, sid)
    await shop.client.post(f"/broadcasts/{cancelled}/cancel", data={"csrf_token": csrf})
    page = await (await shop.client.get(f"/broadcasts/{cancelled}")).text()
    assert f"/broadcasts/{cancelled}/edit" not in page
    resp = await shop.client.post(f"/broadcasts/{cancelled}/edit",
                                  data=compose_form(csrf, sid, name="Late"))
    assert resp.status == 409
    assert await Broadcast.filter(name="Late").count() == 0


async def test_roles_csrf_and_unknown_ids(shop: Shop) -> None:
    sid = await segment(shop)
    csrf = await as_marketer(shop)
    bid = await _scheduled(shop, csrf, sid)
    resp = await shop.client.post(f"/broadcasts/{bid}/edit",
                                  data=compose_form("forged", sid, name="Forged"))
    assert resp.status == 403
    assert (await shop.client.get("/broadcasts/999999/edit")).status == 404
    assert (await shop.client.post("/broadcasts/999999/edit",
                                   data=compose_form(csrf, sid))).status == 404
    agent = await shop.add_user("agent")
    other = await login(shop, agent["email"], agent["password"])
    assert (await shop.client.get(f"/broadcasts/{bid}/edit")).status == 403
    resp = await shop.client.post(f"/broadcasts/{bid}/edit",
                                  data=compose_form(other, sid, name="Forged"))
    assert resp.status == 403
    assert (await Broadcast.get(id=bid)).name == "December sale"
