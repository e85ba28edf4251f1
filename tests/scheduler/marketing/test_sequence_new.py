"""Creating a drip sequence on its page (``/sequences/new``): the form becomes the API's
model (``sequences.SequenceIn``) and ``sequences.create``, so bad input gets the API's
refusals, shown in the page's language with the form as typed (4xx, never a 500); the
marketer's permission, CSRF; and the waits the API used to take that the drip runner could
not run (a negative, a century, 25:00)."""

from __future__ import annotations

import html
from typing import Any

from bot.models import Sequence
from tests.conftest import Shop
from tests.scheduler.marketing.test_marketing_pages import as_marketer, csrf_of, login, text


def new_form(csrf: str, **over: Any) -> dict[str, Any]:
    """Two steps (wait 2 days, send welcome_1) and an empty row, as the page sends them."""
    return {"csrf_token": csrf, "rows": "3", "name": "Birthday mails", "key": "",
            "trigger": "order_placed", "exit_on": "order_placed", "enabled": "1",
            "s0_kind": "wait", "s0_order": "1", "s0_amount": "2", "s0_unit": "days",
            "s1_kind": "send", "s1_order": "2", "s1_template": "welcome_1",
            "s2_kind": "", "s2_order": "3", **over}


async def test_a_marketer_creates_a_sequence_on_the_page(shop: Shop) -> None:
    await as_marketer(shop)
    listing = await (await shop.client.get("/sequences")).text()
    assert 'href="/sequences/new"' in listing
    page = await shop.client.get("/sequences/new")
    body = await page.text()
    assert page.status == 200 and 'id="sequence-form"' in body
    assert 'name="s5_kind"' in body and 'name="s6_kind"' not in body  # six empty rows
    csrf = await csrf_of(shop, "/sequences/new")

    resp = await shop.client.post("/sequences/new", data=new_form(csrf), allow_redirects=False)
    assert resp.status == 303, await resp.text()
    seq = await Sequence.get(key="birthday_mails")
    assert resp.headers["Location"] == f"/sequences/{seq.id}"
    assert (seq.name, seq.trigger, seq.exit_on, seq.enabled) == (
        "Birthday mails", "order_placed", ["order_placed"], True)
    assert seq.steps == [{"wait": {"minutes": 0, "hours": 0, "days": 2.0}},
                         {"send": "welcome_1"}]
    shown = text(await (await shop.client.get(seq_url := f"/sequences/{seq.id}")).text())
    assert "wait 2 days" in shown and "send welcome_1" in shown, seq_url

    # another name with the same key: the next free key; saved paused (unticked); a key typed
    again = await shop.client.post("/sequences/new", allow_redirects=False, data=new_form(
        csrf, enabled="", name="Birthday-mails!"))
    assert again.status == 303
    second = await Sequence.get(key="birthday_mails_2")
    assert not second.enabled and second.name == "Birthday-mails!"
    typed = await shop.client.post("/sequences/new", allow_redirects=False, data=new_form(
        csrf, key="bday_vip", name="Sinh nhật khách VIP"))
    assert typed.status == 303 and await Sequence.filter(key="bday_vip").exists()
    thai = await shop.client.post("/sequences/new", allow_redirects=False, data=new_form(
        csrf, name="อีเมลวันเกิด"))  # no Latin letters: a key all the same
    assert thai.status == 303 and await Sequence.filter(key="sequence",
                                                        name="อีเมลวันเกิด").exists()
    other = await shop.client.post("/sequences/new", allow_redirects=False, data=new_form(
        csrf, name="อีเมลต้อนรับ"))  # another Thai name: the same key, so a suffix
    assert other.status == 303 and await Sequence.filter(key="sequence_2",
                                                         name="อีเมลต้อนรับ").exists()
    # NUL is dropped on the way in (the page framework), never a 500
    nul = await shop.client.post("/sequences/new", allow_redirects=False, data=new_form(
        csrf, name="Win\x00back"))
    assert nul.status == 303 and await Sequence.filter(name="Winback").exists()


async def test_bad_input_shows_the_form_again_with_the_reason(shop: Shop) -> None:
    csrf = await as_marketer(shop)
    before = await Sequence.all().count()
    wait = {"s1_kind": "", "s0_unit": "days"}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"name": ""}, 422, "Name: enter something."),
        ({"name": "x" * 121}, 422, "Name: at most 120 characters."),
        ({"key": "Bad key!"}, 422, "Key: 2 to 64 lowercase letters (a-z), digits or _."),
        ({"key": "welcome"}, 409, "Key: a sequence 'welcome' exists."),
        ({"trigger": "rain"}, 422, "Starts on: choose one of"),
        ({"exit_on": "rain"}, 422, "Ends early on: choose one of"),
        ({**wait, "s0_amount": "soon"}, 422, "Row 1: Wait: 'soon' is not a number."),
        ({**wait, "s0_amount": "-1"}, 422, "Row 1: a wait must be longer than 0."),
        ({**wait, "s0_amount": "1e400"}, 422, "is not a number"),
        ({**wait, "s0_amount": "99999"}, 422, "Step 1: a wait is at most 3650 days."),
        ({**wait, "s0_amount": "", "s0_kind": "until", "s0_until": "25:00"}, 422,
         "Step 1: a time of day from 00:00 to 23:59."),
        ({"s0_kind": "", "s1_kind": ""}, 422, "A sequence needs at least one step."),
        ({"s1_template": "nope"}, 422, "Step 2: no mail template 'nope'"),
        ({"s1_kind": "branch", "s1_event": "signup", "s1_goto": "9"}, 422,
         "Step 2: it goes to step 9, past the last step"),
        ({"rows": "51", **{f"s{i}_kind": "exit" for i in range(51)}}, 422,
         "Steps: at most 50 items."),
    ]
    for over, status, message in cases:
        resp = await shop.client.post("/sequences/new", data=new_form(csrf, **over))
        body = html.unescape(await resp.text())
        assert resp.status == status, (over, body[:400])
        assert message in body, (over, message, text(body)[:600])
        assert 'id="sequence-form"' in body and 'id="form-error"' in body
    assert await Sequence.all().count() == before
    # the form comes back as typed
    resp = await shop.client.post("/sequences/new", data=new_form(
        csrf, name="", key="kept_key", s0_amount="7"))
    body = await resp.text()
    assert 'value="kept_key"' in body and 'name="s0_amount" type="number" min="0" ' \
        'step="any" value="7"' in body


async def test_the_reasons_are_in_the_readers_language(shop: Shop) -> None:
    csrf = await as_marketer(shop)
    vi = {"Accept-Language": "vi"}
    resp = await shop.client.post("/sequences/new", headers=vi, data=new_form(csrf, name=""))
    body = html.unescape(await resp.text())
    assert resp.status == 422 and "Tên: hãy nhập nội dung." in body, text(body)[:600]
    resp = await shop.client.post("/sequences/new", headers=vi, data=new_form(
        csrf, s0_amount="99999", s1_kind=""))
    body = html.unescape(await resp.text())
    assert "Bước 1: một lần chờ dài tối đa 3650 ngày." in body, text(body)[:600]
    resp = await shop.client.post("/sequences/new", headers=vi, data=new_form(
        csrf, key="welcome"))
    assert "Mã: đã có chuỗi email 'welcome'." in html.unescape(await resp.text())


async def test_the_form_sent_twice_makes_one_sequence(shop: Shop) -> None:
    """A double click (or a reload) on a form with no key typed: the second submit is
    refused like a taken key (409, the form again), not saved as ``birthday_mails_2``, which
    would mail every contact twice. The name matches whatever its case and spaces."""
    csrf = await as_marketer(shop)
    first = await shop.client.post("/sequences/new", data=new_form(csrf),
                                   allow_redirects=False)
    assert first.status == 303
    for name in ("Birthday mails", "  birthday MAILS "):
        twice = await shop.client.post("/sequences/new", data=new_form(csrf, name=name),
                                       allow_redirects=False)
        body = html.unescape(await twice.text())
        assert twice.status == 409, body[:400]
        assert "Name: a sequence named 'Birthday mails' exists." in body, text(body)[:600]
        assert 'id="sequence-form"' in body and 'id="form-error"' in body
    assert await Sequence.filter(name__icontains="birthday").count() == 1
    thai = await shop.client.post("/sequences/new", headers={"Accept-Language": "th"},
                                  data=new_form(csrf))
    assert thai.status == 409
    assert "ชื่อ: มีลำดับอีเมลชื่อ 'Birthday mails' อยู่แล้ว" in html.unescape(await thai.text())


async def test_the_same_key_saved_meanwhile_is_refused(shop: Shop, monkeypatch: Any) -> None:
    """Two submits at once both find the key free; the database refuses the second (a
    unique key), and that is the same 409 as a key found taken, never a 500."""
    csrf = await as_marketer(shop)
    assert (await shop.client.post("/sequences/new", allow_redirects=False, data=new_form(
        csrf, key="bday"))).status == 303
    real = Sequence.filter

    class NotYetSeen:  # as if the first were not committed yet when the second looked
        async def exists(self) -> bool:
            return False

    monkeypatch.setattr(Sequence, "filter", lambda *args, **kw: NotYetSeen() if kw == {
        "key": "bday"} else real(*args, **kw))
    resp = await shop.client.post("/sequences/new", data=new_form(csrf, name="Another",
                                                                  key="bday"))
    monkeypatch.undo()
    body = html.unescape(await resp.text())
    assert resp.status == 409 and "Key: a sequence 'bday' exists." in body, text(body)[:600]
    assert await Sequence.filter(key="bday").count() == 1


async def test_roles_and_csrf(shop: Shop) -> None:
    agent = await shop.add_user("agent")
    csrf = await login(shop, agent["email"], agent["password"])
    assert (await shop.client.get("/sequences/new")).status == 403
    refused = await shop.client.post("/sequences/new", data=new_form(csrf))
    assert refused.status == 403
    shop.client.session.cookie_jar.clear()
    await as_marketer(shop)
    forged = await shop.client.post("/sequences/new", data=new_form("not-the-token"))
    assert forged.status == 403
    assert not await Sequence.filter(key="birthday_mails").exists()


async def test_the_api_refuses_waits_the_runner_cannot_run(shop: Shop) -> None:
    def seq(wait: dict[str, Any]) -> dict[str, Any]:
        return {"key": "waits", "name": "Waits", "trigger": "signup",
                "steps": [{"wait": wait}, {"send": "welcome_1"}]}

    for wait in ({"days": -1}, {"days": 4000}, {"hours": 24 * 3000, "days": 1000},
                 {"until": "25:00"}, {"until": "09:60"}):
        status, err = await shop.api("POST", "/api/v1/sequences", json=seq(wait))
        assert status in (400, 422), (wait, err)
        assert err["error"]["field"].startswith("steps.0.wait"), (wait, err)
    status, made = await shop.api("POST", "/api/v1/sequences", json=seq(
        {"days": 3650, "until": "23:59"}))
    assert status == 201, made
