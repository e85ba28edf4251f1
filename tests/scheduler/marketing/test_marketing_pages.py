"""The marketing pages in-process: broadcasts (list, compose with an A/B test, preview in
each language, schedule in the shop's timezone, cancel, results with rates) and sequences
(the step editor, enable and pause, the per-step funnel); roles, CSRF and bad input."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.models import Broadcast, Contact, Enrollment, MailSend, Sequence
from bot.services.flows.texts import LOCALES
from channels.email.mailer import MAILS
from scheduler.marketing import tracking
from tests.conftest import Shop, make_settings, start_shop

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def login(shop: Shop, email: str, password: str) -> str:
    page = await shop.client.get("/login")
    token = CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]
    resp = await shop.client.post("/login", data={"email": email, "password": password,
                                                  "csrf_token": token, "next": "/segments"},
                                  allow_redirects=False)
    assert resp.status == 302, await resp.text()
    return await csrf_of(shop, "/account")


async def csrf_of(shop: Shop, path: str) -> str:
    page = await shop.client.get(path)
    return CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]


async def as_marketer(shop: Shop) -> str:
    user = await shop.add_user("marketer")
    return await login(shop, user["email"], user["password"])


async def segment(shop: Shop, name: str = "VIP", members: int = 2) -> int:
    tag = uuid.uuid4().hex[:8]
    for i in range(members):
        status, _ = await shop.api("POST", "/api/v1/contacts", json={
            "email": f"{tag}{i}@shop.test", "tags": [tag]})
        assert status == 201
    status, seg = await shop.api("POST", "/api/v1/segments", json={
        "name": name, "rules": {"conditions": [{"tag": tag}]}})
    assert status == 201, seg
    return int(seg["id"])


def text(body: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))).strip()


def compose_form(csrf: str, seg: int, **over: str) -> dict[str, str]:
    return {"csrf_token": csrf, "name": "December sale", "segment_id": str(seg),
            "subject_a": "Hello {{ contact.first_name }}", "body": "Our sale starts now.",
            "send_date": "2099-01-02", "send_time": "09:30", "action": "schedule", **over}


async def tz_shop(aiohttp_client: Any, tmp_path: Path) -> Shop:
    return await start_shop(aiohttp_client, make_settings(
        tmp_path, shop_timezone="Asia/Ho_Chi_Minh"))


# --- broadcasts ---------------------------------------------------------------------------------

async def test_compose_and_schedule_in_the_shops_timezone(aiohttp_client: Any,
                                                          tmp_path: Path) -> None:
    shop = await tz_shop(aiohttp_client, tmp_path)
    csrf = await as_marketer(shop)
    seg = await segment(shop, "VIP")
    form = await shop.client.get("/broadcasts/new")
    assert form.status == 200 and "Asia/Ho_Chi_Minh" in await form.text()
    resp = await shop.client.post("/broadcasts/new", data=compose_form(csrf, seg),
                                  allow_redirects=False)
    assert resp.status == 303, await resp.text()
    b = await Broadcast.get(name="December sale")
    assert resp.headers["Location"] == f"/broadcasts/{b.id}"
    # 09:30 in Ho Chi Minh City (UTC+7) is 02:30 UTC
    assert b.due_at == datetime(2099, 1, 2, 2, 30, tzinfo=UTC)
    assert (b.state, b.split_percent, b.subject_b, b.segment_id) == ("scheduled", 0, "", seg)
    listing = text(await (await shop.client.get("/broadcasts")).text())
    assert "December sale VIP scheduled 2099-01-02 09:30 0" in listing
    page = text(await (await shop.client.get(f"/broadcasts/{b.id}")).text())
    assert "due 2099-01-02 09:30 (Asia/Ho_Chi_Minh)" in page


async def test_compose_with_an_ab_subject_test(shop: Shop) -> None:
    csrf = await as_marketer(shop)
    seg = await segment(shop)
    resp = await shop.client.post("/broadcasts/new", data=compose_form(
        csrf, seg, ab="1", subject_b="Last chance", split_percent="30", metric="clicks",
        decide_after_hours="2.5"), allow_redirects=False)
    assert resp.status == 303, await resp.text()
    b = await Broadcast.get(name="December sale")
    assert (b.subject_b, b.split_percent, b.metric, b.decide_after_hours) == \
        ("Last chance", 30, "clicks", 2.5)
    # Without subject B the test is refused, the form comes back as typed
    resp = await shop.client.post("/broadcasts/new", data=compose_form(
        csrf, seg, name="No B", ab="1", subject_b="", split_percent="30"))
    body = await resp.text()
    assert resp.status == 422 and "enter subject B" in body and 'value="No B"' in body
    # Subject B typed but the box unticked: no test
    resp = await shop.client.post("/broadcasts/new", data=compose_form(
        csrf, seg, name="Plain", subject_b="ignored", split_percent="30"),
        allow_redirects=False)
    assert resp.status == 303
    plain = await Broadcast.get(name="Plain")
    assert (plain.split_percent, plain.subject_b) == (0, "")


async def test_preview_in_each_language(shop: Shop) -> None:
    csrf = await as_marketer(shop)
    seg = await segment(shop)
    resp = await shop.client.post("/broadcasts/new", data=compose_form(
        csrf, seg, action="preview", ab="1", subject_b="B for {{ contact.first_name }}",
        split_percent="20", body="Dear {{ contact.first_name }}, the sale is on."))
    assert resp.status == 200
    body = await resp.text()
    sections = re.findall(r'<section class="preview" lang="(\w+)".*?</section>', body, re.S)
    assert sections == list(LOCALES) == ["en", "vi", "th", "pl", "ru", "km"]
    for lang in LOCALES:
        part = text(re.search(rf'lang="{lang}".*?</section>', body, re.S).group(0))  # type: ignore[union-attr]
        first = {"en": "Ann", "vi": "Lan", "th": "Somchai", "pl": "Anna", "ru": "Анна",
                 "km": "Sokha"}[lang]
        assert f"Subject: Hello {first}" in part and f"Subject B: B for {first}" in part
        assert f"Dear {first}, the sale is on." in part
        # the footer in the contact's language
        assert text(MAILS.text(lang, "unsubscribe")) in part, lang
    assert await Broadcast.all().count() == 0  # a preview creates nothing
    bad = await shop.client.post("/broadcasts/new", data=compose_form(
        csrf, seg, action="preview", body="{{ contact.first_name"))
    assert bad.status == 422 and "template error" in await bad.text()


async def test_bad_input_shows_the_form_again(shop: Shop) -> None:
    csrf = await as_marketer(shop)
    seg = await segment(shop)
    cases = [({"send_date": "2099-13-45"}, 400, "is not a date"),
             ({"send_time": "25:99"}, 400, "is not a date"),
             ({"send_time": ""}, 400, "enter both a date and a time"),
             ({"send_date": "2001-01-01"}, 422, "has passed"),
             ({"segment_id": "99999"}, 422, "no such segment"),
             ({"segment_id": "x"}, 400, "Segment: choose one"),
             ({"segment_id": "\u00b2"}, 400, "Segment: choose one"),
             ({"segment_id": "99999999999999999999999"}, 400, "Segment: choose one"),
             ({"subject_a": "s" * 301}, 422, "Subject: String should have at most 300"),
             ({"name": ""}, 422, "Name: String should have at least 1"),
             ({"ab": "1", "subject_b": "B", "split_percent": "many"}, 400, "not a number"),
             ({"decide_after_hours": "nan"}, 400, "not a number"),
             # an integer no float holds: OverflowError in isfinite was a 500
             ({"ab": "1", "subject_b": "B", "split_percent": "9" * 400}, 400, "not a number"),
             ({"metric": "likes"}, 422, "Winner by"),
             ({"body": "{% if %}"}, 422, "template error")]
    for over, status, message in cases:
        resp = await shop.client.post("/broadcasts/new", data=compose_form(csrf, seg, **over))
        body = await resp.text()
        assert resp.status == status, (over, body)
        assert message in html.unescape(body) and 'id="broadcast-form"' in body, over
    assert await Broadcast.all().count() == 0
    for bad_id in ("99999", "99999999999999999999999", "\u0663"):
        assert (await shop.client.get(f"/broadcasts/{bad_id}")).status == 404


async def test_cancel_before_sending(shop: Shop) -> None:
    csrf = await as_marketer(shop)
    seg = await segment(shop)
    await shop.client.post("/broadcasts/new", data=compose_form(csrf, seg))
    b = await Broadcast.get(name="December sale")
    page = await (await shop.client.get(f"/broadcasts/{b.id}")).text()
    assert 'id="cancel-form"' in page
    resp = await shop.client.post(f"/broadcasts/{b.id}/cancel", data={"csrf_token": csrf},
                                  allow_redirects=False)
    assert resp.status == 303
    b = await Broadcast.get(id=b.id)
    assert (b.state, b.due_at) == ("cancelled", None)
    again = await shop.client.post(f"/broadcasts/{b.id}/cancel", data={"csrf_token": csrf})
    assert again.status == 409 and "only one not yet started" in await again.text()
    # one whose first mails went (an A/B sample) can no longer be cancelled
    await shop.client.post("/broadcasts/new", data=compose_form(csrf, seg, name="Started"))
    started = await Broadcast.get(name="Started")
    contact = await Contact.filter(email__endswith="@shop.test").first()
    assert contact is not None
    await MailSend.create(key=f"bc:{started.id}:{contact.id}", broadcast_id=started.id,
                          contact_id=contact.id, to=contact.email, message_id="<m@x>",
                          state="sent", variant="a")
    resp = await shop.client.post(f"/broadcasts/{started.id}/cancel",
                                  data={"csrf_token": csrf})
    assert resp.status == 409
    assert (await Broadcast.get(id=started.id)).state == "scheduled"
    # nor one a process is sending now (it holds the lease)
    await shop.client.post("/broadcasts/new", data=compose_form(csrf, seg, name="Claimed"))
    claimed = await Broadcast.get(name="Claimed")
    await Broadcast.filter(id=claimed.id).update(
        lease_until=datetime.now(UTC) + timedelta(minutes=5))
    resp = await shop.client.post(f"/broadcasts/{claimed.id}/cancel",
                                  data={"csrf_token": csrf})
    assert resp.status == 409 and "being sent" in await resp.text()
    assert (await Broadcast.get(id=claimed.id)).state == "scheduled"


async def test_results_rates_from_known_mails(shop_any_db: Shop) -> None:
    shop = shop_any_db
    await as_marketer(shop)
    seg = await segment(shop, members=0)
    b = await Broadcast.create(name="Known", segment_id=seg, subject_a="A subject",
                               subject_b="B subject", body="x", split_percent=50,
                               state="sent", winner="b", due_at=None)
    sent_at = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    later = sent_at + timedelta(hours=1)
    # (variant, consent, opened, clicked, converted revenue)
    mails = [("a", "subscribed", True, False, 0.0), ("a", "subscribed", False, False, 0.0),
             ("a", "bounced", False, False, 0.0), ("a", "subscribed", False, False, 0.0),
             ("b", "subscribed", True, True, 50.5), ("b", "unsubscribed", True, False, 0.0),
             ("b", "subscribed", True, True, 0.0), ("b", "subscribed", False, False, 0.0)]
    for i, (variant, consent, opened, clicked, revenue) in enumerate(mails):
        c = await Contact.create(email=f"known{i}@shop.test", email_consent=consent,
                                 email_consent_at=later)
        await MailSend.create(key=f"bc:{b.id}:{c.id}", broadcast_id=b.id, variant=variant,
                              contact_id=c.id, to=c.email, message_id=f"<{i}@x>",
                              state="sent", sent_at=sent_at,
                              opened_at=later if opened else None,
                              clicked_at=later if clicked else None,
                              converted_at=later if revenue else None, revenue=revenue)
    # a failed mail is not sent: not counted
    await MailSend.create(key=f"bc:{b.id}:failed", broadcast_id=b.id, variant="a",
                          contact_id=c.id, to=c.email, message_id="<f@x>", state="failed")
    page = await shop.client.get(f"/broadcasts/{b.id}")
    body = await page.text()
    assert page.status == 200

    def row(row_id: str) -> str:
        return text(re.search(rf'<tr[^>]*id="{row_id}".*?</tr>', body, re.S).group(0))  # type: ignore[union-attr]
    # all: 8 sent, 7 delivered (87.5 % of sent); of 7 delivered: 4 opened 57.1 %, 2 clicked
    # 28.6 %, 1 unsubscribed 14.3 %, 1 converted 14.3 %; revenue 50.50
    assert row("total") == ("All 8 7 (87.5 %) 4 (57.1 %) 2 (28.6 %) 1 (14.3 %) "
                            "1 (14.3 %) 50.50")
    # A: 4 sent, 3 delivered; 1 opened = 33.3 %
    assert row("variant-a") == ("A: A subject 4 3 (75.0 %) 1 (33.3 %) 0 (0.0 %) "
                                "0 (0.0 %) 0 (0.0 %) 0.00")
    # B, the winner: 4 delivered; 3 opened 75 %, 2 clicked 50 %, 1 left 25 %, 1 order 25 %
    assert row("variant-b") == ("B: B subject winner 4 4 (100.0 %) 3 (75.0 %) 2 (50.0 %) "
                                "1 (25.0 %) 1 (25.0 %) 50.50")
    assert "A/B winner: subject B" in text(body)
    listing = text(await (await shop.client.get("/broadcasts")).text())
    assert "Known A/B VIP sent 2026-11-02 08:00 8 57.1 % 28.6 %" in listing


# --- sequences ----------------------------------------------------------------------------------

async def a_sequence(shop: Shop, key: str = "promo") -> Sequence:
    status, body = await shop.api("POST", "/api/v1/sequences", json={
        "key": key, "name": "Promo", "trigger": "signup",
        "steps": [{"send": "welcome_1"}, {"wait": {"days": 3}}, {"send": "welcome_2"}]})
    assert status == 201, body
    return await Sequence.get(id=body["id"])


def editor_rows(body: str) -> int:
    return int(re.search(r'name="rows" value="(\d+)"', body).group(1))  # type: ignore[union-attr]


async def test_sequence_list_and_editor(shop: Shop) -> None:
    csrf = await as_marketer(shop)
    seq = await a_sequence(shop)
    c = await Contact.create(email="enr@shop.test")
    await Enrollment.create(sequence_id=seq.id, contact_id=c.id, started_at=datetime.now(UTC))
    listing = text(await (await shop.client.get("/sequences")).text())
    assert "Promo promo signup enabled 1" in listing
    page = await shop.client.get(f"/sequences/{seq.id}")
    body = await page.text()
    assert editor_rows(body) == 3 + 3  # three steps, three empty rows to add
    assert 'name="s1_amount" type="number" min="0" step="any" value="3"' in body
    form = {"csrf_token": csrf, "rows": "6", "name": "Promo mails", "exit_on": "order_placed",
            # row 1: send welcome_1, moved last
            "s0_kind": "send", "s0_order": "9", "s0_template": "welcome_1",
            # row 2: the wait edited: 3 days -> 2 hours, until 09:00
            "s1_kind": "until", "s1_order": "2", "s1_amount": "2", "s1_unit": "hours",
            "s1_until": "09:00",
            # row 3: removed
            "s2_kind": "send", "s2_order": "3", "s2_template": "welcome_2", "s2_remove": "1",
            # row 4: a new branch first, row 5: a new exit, row 6: left empty
            "s3_kind": "branch", "s3_order": "1", "s3_event": "order_placed", "s3_goto": "3",
            "s4_kind": "exit", "s4_order": "5", "s4_reason": "bought",
            "s5_kind": "", "s5_order": "6"}
    resp = await shop.client.post(f"/sequences/{seq.id}", data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    seq = await Sequence.get(id=seq.id)
    assert seq.name == "Promo mails" and seq.exit_on == ["order_placed"]
    assert seq.steps == [{"branch": {"event": "order_placed", "goto": 2}},
                         {"wait": {"minutes": 0, "hours": 2, "days": 0, "until": "09:00"}},
                         {"exit": "bought"}, {"send": "welcome_1"}]
    body = await (await shop.client.get(f"/sequences/{seq.id}")).text()
    assert editor_rows(body) == 4 + 3
    funnel = text(body)
    assert "branch on event order_placed → step 3" in funnel
    assert "wait 2 hours until 09:00" in funnel and "exit: bought" in funnel


async def test_invalid_steps_show_the_editor_again(shop: Shop) -> None:
    csrf = await as_marketer(shop)
    seq = await a_sequence(shop)
    before = list(seq.steps)
    base = {"csrf_token": csrf, "rows": "2", "name": "Promo"}
    cases = [({"s0_kind": "send", "s0_template": "nope"}, 422, "no mail template 'nope'"),
             ({"s0_kind": "send", "s1_kind": "branch", "s1_event": "order_placed",
               "s1_goto": "7", "s0_template": "welcome_1"}, 422, "past the last step"),
             ({"s0_kind": "wait", "s0_amount": "soon", "s0_unit": "hours"}, 422,
              "Row 1: Wait: 'soon' is not a number"),
             ({"s0_kind": "wait", "s0_amount": "", "s0_unit": "hours"}, 422,
              "enter how long to wait"),
             ({"s0_kind": "until", "s0_until": "9 o'clock"}, 422,
              "Step 1: a time of day from 00:00 to 23:59."),
             ({"s0_kind": "branch", "s0_goto": "1"}, 422, "needs an event or"),
             ({"s0_kind": "branch", "s0_event": "signup", "s0_goto": "\u00b2"}, 422,
              "enter the step number"),
             ({"s0_kind": "exit", "rows": "\u00b2"}, 422, "at least one step"),
             ({"s0_kind": "fly"}, 422, "unknown kind of step"),
             ({"s0_kind": "exit", "s0_remove": "1"}, 422, "at least one step"),
             ({"s0_kind": "exit", "s0_order": "first"}, 422, "Row 1: Order"),
             ({"s0_kind": "exit", "name": ""}, 422, "Name: enter something."),
             ({"s0_kind": "exit", "exit_on": "rain"}, 422, "Ends early on: choose one of")]
    for over, status, message in cases:
        resp = await shop.client.post(f"/sequences/{seq.id}", data={**base, **over})
        body = html.unescape(await resp.text())
        assert resp.status == status, (over, body[:300])
        assert message in body and 'id="steps-form"' in body, (over, message)
    assert (await Sequence.get(id=seq.id)).steps == before
    missing = await shop.client.post("/sequences/99999", data={**base, "s0_kind": "exit"})
    assert missing.status == 404
    for bad_id in ("99999", "99999999999999999999999", "\u0663"):
        assert (await shop.client.get(f"/sequences/{bad_id}")).status == 404


async def test_enable_and_pause(shop: Shop) -> None:
    csrf = await as_marketer(shop)
    seq = await a_sequence(shop)
    resp = await shop.client.post(f"/sequences/{seq.id}/pause", data={"csrf_token": csrf},
                                  allow_redirects=False)
    assert resp.status == 303 and not (await Sequence.get(id=seq.id)).enabled
    assert "Promo promo signup paused" in text(await (await shop.client.get("/sequences")).text())
    assert 'id="enable-form"' in await (await shop.client.get(f"/sequences/{seq.id}")).text()
    # paused: a signup enrols no one in it
    status, event = await shop.api("POST", "/api/v1/events", json={
        "id": "ev-1", "type": "signup", "contact": {"email": "new@shop.test"}})
    assert status == 201 and not await Enrollment.filter(sequence_id=seq.id).exists()
    resp = await shop.client.post(f"/sequences/{seq.id}/enable", data={"csrf_token": csrf},
                                  allow_redirects=False)
    assert resp.status == 303 and (await Sequence.get(id=seq.id)).enabled


async def test_per_step_funnel(shop_any_db: Shop) -> None:
    shop = shop_any_db
    await as_marketer(shop)
    seq = await a_sequence(shop)  # send, wait 3 days, send
    at = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    # 5 enrolments: 1 waiting at step 1, 1 exited at step 1, 1 due at step 2, 2 completed
    places = [(1, "active"), (1, "exited"), (2, "active"), (3, "completed"),
              (3, "completed")]
    for i, (step, state) in enumerate(places):
        c = await Contact.create(email=f"f{i}@shop.test")
        e = await Enrollment.create(sequence_id=seq.id, contact_id=c.id, step=step,
                                    state=state, started_at=at)
        opened = i < 3
        await MailSend.create(key=f"enr:{e.id}:step:0", enrollment_id=e.id, step=0,
                              contact_id=c.id, to=c.email, message_id=f"<{i}@x>",
                              state="sent", sent_at=at, opened_at=at if opened else None,
                              clicked_at=at if i == 0 else None)
        if step == 3:
            await MailSend.create(key=f"enr:{e.id}:step:2", enrollment_id=e.id, step=2,
                                  contact_id=c.id, to=c.email, message_id=f"<{i}b@x>",
                                  state="sent", sent_at=at, opened_at=at)
    funnel = await tracking.sequence_funnel(seq.id, 3)
    got = [(f.entered, f.here, f.sent, f.opened, f.clicked, f.exited) for f in funnel]
    assert got == [(5, 0, 5, 3, 1, 0), (5, 1, 0, 0, 0, 1), (3, 1, 2, 2, 0, 0)]
    body = await (await shop.client.get(f"/sequences/{seq.id}")).text()
    rows = [text(r) for r in re.findall(r'<tr class="funnel-row">.*?</tr>', body, re.S)]
    assert rows == ["1 send welcome_1 5 0 5 3 1 0", "2 wait 3 days 5 1 0 0 0 1",
                    "3 send welcome_2 3 1 2 2 0 0"]
    assert '<meter min="0" max="5" value="3"' in body


# --- roles, CSRF, navigation ---------------------------------------------------------------

async def test_roles_csrf_and_nav(shop: Shop) -> None:
    seg = await segment(shop)
    seq = await a_sequence(shop)
    admin_csrf = await login(shop, shop.seed["email"], shop.seed["password"])
    await shop.client.post("/broadcasts/new", data=compose_form(admin_csrf, seg))
    b = await Broadcast.get(name="December sale")
    nav = await (await shop.client.get("/segments")).text()
    assert 'href="/broadcasts"' in nav and 'href="/sequences"' in nav
    posts = {"/broadcasts/new": compose_form("", seg, name="Forged"),
             f"/broadcasts/{b.id}/cancel": {},
             f"/sequences/{seq.id}": {"rows": "1", "name": "X", "s0_kind": "exit"},
             f"/sequences/{seq.id}/pause": {}, f"/sequences/{seq.id}/enable": {}}
    for path, data in posts.items():  # logged in, without the CSRF token, or a wrong one
        for token in ("", "forged"):
            resp = await shop.client.post(path, data={**data, "csrf_token": token})
            assert resp.status == 403 and "CSRF" in await resp.text(), path
    agent = await shop.add_user("agent")
    agent_csrf = await login(shop, agent["email"], agent["password"])
    inbox = await (await shop.client.get("/inbox")).text()
    assert 'href="/broadcasts"' not in inbox and 'href="/sequences"' not in inbox
    for path in ("/broadcasts", "/broadcasts/new", f"/broadcasts/{b.id}", "/sequences",
                 f"/sequences/{seq.id}"):
        assert (await shop.client.get(path)).status == 403, path
    for path, data in posts.items():
        resp = await shop.client.post(path, data={**data, "csrf_token": agent_csrf})
        assert resp.status == 403, path
    assert await Broadcast.filter(name="Forged").count() == 0
    assert (await Broadcast.get(id=b.id)).state == "scheduled"
    assert (await Sequence.get(id=seq.id)).enabled and (await Sequence.get(
        id=seq.id)).name == "Promo"
    # logged out: pages lead to the login, posts are refused
    await shop.client.post("/logout", data={"csrf_token": agent_csrf})
    resp = await shop.client.get("/broadcasts", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/login")


async def test_a_converted_mail_reads_the_total_as_the_reports_do(shop: Shop) -> None:
    """The broadcast results and the attribution report credit the same revenue: 12,50
    (a decimal comma) is 12.50, not 1250; an ambiguous total counts no revenue."""
    from bot.models import ShopEvent
    from scheduler.marketing.events import attribute

    clicked = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    for i, (total, revenue) in enumerate([("12,50", 12.5), ("1,234.50", 1234.5),
                                          ("1.234,50", 0.0), (7, 7.0)]):
        c = await Contact.create(email=f"total{i}@shop.test")
        await MailSend.create(key=f"t:{c.id}", contact_id=c.id, to=c.email,
                              message_id=f"<t{i}@x>", state="sent", sent_at=clicked,
                              clicked_at=clicked)
        order = await ShopEvent.create(kind="order_placed", source="api",
                                       external_id=f"o{i}", contact_id=c.id,
                                       payload={"total": total},
                                       occurred_at=clicked + timedelta(hours=1))
        await attribute(order)
        mail = await MailSend.get(contact_id=c.id)
        assert mail.converted_at is not None and mail.revenue == revenue, total
