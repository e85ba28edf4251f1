"""Reviews: Google Business Profile JSON and the generic webhook in, the 24-hour clock,
reply suggestions, and replies back to the source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.models import Review, StaffAlert
from channels.signing import sign
from listening import reviews as rv
from listening import suggestions
from listening.alerts import Alerter
from tests.conftest import ROOT, Shop

GOOGLE = {
    "name": "accounts/1/locations/2/reviews/AbC-123",
    "reviewId": "AbC-123",
    "reviewer": {"displayName": "Mai Tran", "profilePhotoUrl": "https://x.example/p.png",
                 "isAnonymous": False},
    "starRating": "TWO",
    "comment": "Delivery took two weeks and nobody answered my messages.",
    "createTime": "2026-11-20T08:00:00Z",
    "updateTime": "2026-11-20T08:00:00Z",
}


async def _post(shop: Shop, path: str, body: dict[str, Any], secret: str | None = None,
                ) -> Any:
    raw = json.dumps(body).encode()
    return await shop.client.post(path, data=raw, headers={
        "X-Switchboard-Signature": sign(secret or shop.seed["api_account_secret"], raw),
        "Content-Type": "application/json"})


async def test_google_review_json_ingest_and_bad_signature(shop: Shop) -> None:
    account = shop.seed["api_account_id"]
    path = f"/api/v1/reviews/google/{account}"
    bad = await _post(shop, path, GOOGLE, secret="not-the-secret")
    assert bad.status == 403
    assert (await bad.json())["error"]["code"] == "bad_signature"
    assert await Review.all().count() == 0  # nothing stored
    resp = await _post(shop, path, GOOGLE)
    out = await resp.json()
    assert resp.status == 201 and out["duplicate"] is False
    review = await Review.get(id=out["id"])
    assert (review.source, review.external_id, review.rating, review.author) == \
        ("google", "AbC-123", 2, "Mai Tran")
    assert review.created == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert review.payload["name"] == GOOGLE["name"] and review.reply_state == "unanswered"
    again = await _post(shop, path, GOOGLE)
    assert again.status == 200 and (await again.json())["duplicate"] is True
    assert await Review.all().count() == 1
    # A review Google already shows a reply for arrives answered.
    replied = {**GOOGLE, "reviewId": "r2", "starRating": "FIVE", "comment": "Great!",
               "reviewReply": {"comment": "Thank you!", "updateTime": "2026-11-20T09:00:00Z"}}
    resp = await _post(shop, path, replied)
    r2 = await Review.get(id=(await resp.json())["id"])
    assert r2.reply_state == "replied" and r2.reply_text == "Thank you!"
    malformed = await shop.client.post(path, data=b"{not json", headers={
        "X-Switchboard-Signature": sign(shop.seed["api_account_secret"], b"{not json"),
        "Content-Type": "application/json"})
    assert malformed.status == 400
    status, listed = await shop.api("GET", "/api/v1/reviews?state=unanswered")
    assert [r["external_id"] for r in listed] == ["AbC-123"]
    assert listed[0]["clock"] == "overdue"  # written 2026-11-20, unanswered


def test_suggestions_name_the_aspect_and_vary() -> None:
    a = suggestions.suggest(41, "The delivery was late, two weeks!", "en", rating=1,
                            name="Ann Lee", shop="Acme", contact="help@acme.test")
    b = suggestions.suggest(42, "Delivery was so late, 10 days.", "en", rating=1,
                            name="Bob Stone", shop="Acme", contact="help@acme.test")
    for text in (a, b):
        assert "the delivery time" in text  # the thing they wrote about
        assert "help@acme.test" in text  # the private contact path
        assert "sorr" in text or "apologise" in text
    assert a.replace("Ann", "") != b.replace("Bob", "")  # two in a row never the same
    assert a.split(" ", 2)[2][:30] != b.split(" ", 2)[2][:30]
    size = suggestions.suggest(7, "Nice dress but the size runs small", "en", rating=3,
                               shop="Acme")
    assert "the size and fit" in size
    agent = suggestions.suggest(8, "The support agent was rude", "en", rating=2, shop="Acme",
                                contact="help@acme.test")
    assert "our support team" in agent
    praise = suggestions.suggest(9, "Fast delivery, lovely packaging", "en", rating=5,
                                 name="Kim", shop="Acme")
    assert "Kim" in praise and "the delivery time" in praise and "sorry" not in praise
    vi = suggestions.suggest(10, "Giao hàng quá chậm, nhân viên không trả lời", "vi",
                             rating=1, shop="Acme", contact="0901 234 567")
    assert "thời gian giao hàng" in vi and "0901 234 567" in vi and "xin lỗi" in vi
    for lang, word in (("th", "ส่ง"), ("pl", "dostawa"), ("ru", "доставка"),
                       ("km", "ដឹកជញ្ជូន")):
        text = suggestions.suggest(11, word, lang, rating=1, shop="Acme", contact="c@a.test")
        assert "c@a.test" in text and text.strip()
    follow = suggestions.followup(12, "en", "Ann Lee", "Acme")
    assert "privately" in follow and "Ann" in follow


async def test_review_clock_warns_once_before_the_deadline(shop: Shop) -> None:
    t0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    stored = await rv.store(rv.ReviewIn(id="w1", rating=1, text="Broken on arrival",
                                        author="Ann", product="Lamp", created_at=t0), None)
    await rv.store(rv.ReviewIn(id="w2", rating=5, text="Lovely", created_at=t0), None)
    await Review.filter(external_id="w2").update(reply_state="stored")  # answered already
    review = stored.review
    sent: list[str] = []

    async def chat(text: str) -> int:
        sent.append(text)
        return 1
    alerter = Alerter(chat=chat, base_url="https://shop.example.test")
    warn = timedelta(hours=4)
    assert rv.clock(review, t0 + timedelta(hours=1))["state"] == "open"
    assert await rv.warn_due(alerter, t0 + timedelta(hours=19, minutes=59), warn) == 0
    assert rv.clock(review, t0 + timedelta(hours=20, minutes=1))["state"] == "due_soon"
    assert await rv.warn_due(alerter, t0 + timedelta(hours=20, minutes=1), warn) == 1
    assert await rv.warn_due(alerter, t0 + timedelta(hours=23), warn) == 0  # once
    assert len(sent) == 1 and "in 3 h 59 min" in sent[0] and "Lamp" in sent[0]
    assert "https://shop.example.test/reviews/" in sent[0]
    assert rv.clock(review, t0 + timedelta(hours=25))["state"] == "overdue"
    status, out = await shop.api("POST", f"/api/v1/reviews/{review.id}/reply",
                                 json={"text": "So sorry, we are sending a new lamp."})
    assert status == 200 and out["reply_state"] == "stored"  # a CSV-like source: kept
    assert rv.clock(await Review.get(id=review.id), t0 + timedelta(hours=25))["state"] == \
        "answered"
    assert await StaffAlert.filter(kind="review").count() == 1


async def test_reply_goes_back_to_the_source(shop: Shop, aiohttp_server: Any) -> None:
    got: list[tuple[dict[str, Any], str]] = []

    async def callback(request: web.Request) -> web.Response:
        got.append((await request.json(), request.headers["X-Switchboard-Signature"]))
        return web.json_response({"ok": True})
    app = web.Application()
    app.router.add_post("/hook", callback)
    server = await aiohttp_server(app)
    status, acct = await shop.api("POST", "/api/v1/channels", json={
        "kind": "api", "name": "Store reviews", "callback_url": str(server.make_url("/hook"))})
    assert status == 201, acct
    resp = await _post(shop, f"/api/v1/reviews/inbound/{acct['id']}", {
        "id": "shop-77", "rating": 2, "title": "Too small", "text": "The size is too small",
        "author": "Olga", "product": "Blue dress", "lang": "ru"}, secret=acct["secret"])
    assert resp.status == 201, await resp.text()
    rid = (await resp.json())["id"]
    status, review = await shop.api("GET", f"/api/v1/reviews/{rid}")
    assert "the size and fit" in review["suggestion"] or "размер" in review["suggestion"]
    status, out = await shop.api("POST", f"/api/v1/reviews/{rid}/reply",
                                 json={"text": review["suggestion"]})
    assert status == 200 and out["reply_state"] == "replied"
    body, signature = got[0]
    assert body == {"type": "review_reply", "review_id": "shop-77",
                    "text": review["suggestion"]}
    assert signature == sign(acct["secret"], json.dumps(body, ensure_ascii=False).encode())
    status, out = await shop.api("POST", f"/api/v1/reviews/{rid}/resolved-privately")
    assert status == 200 and "Olga" in out["suggestion"]  # the public follow-up now


@pytest.mark.slow  # two run.py processes
def test_csv_import_reports_bad_rows(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = tmp_path / "reviews.csv"
    path.write_text("id,rating,title,text,author,product,created_at\n"
                    "c1,5,Great,Fast delivery,Ann,Lamp,2026-11-01T10:00:00Z\n"
                    "c2,9,Bad,Stars out of range,Bob,Lamp,\n"
                    "c3,2,Meh,Too expensive for what it is,Cy,Lamp,not-a-date\n"
                    "c4,1,Awful,Arrived broken,Di,Lamp,2026-11-02T10:00:00Z\n")
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data),
           "SWITCHBOARD_LOG_LEVEL": "WARNING"}
    run = subprocess.run([sys.executable, "run.py", "import", "reviews", str(path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "import reviews: 4 rows, 2 added, 0 already there, 2 rejected" in run.stdout
    assert "row 3: rating" in run.stderr and "row 4: created_at" in run.stderr
    assert "import reviews: 100%" in run.stderr  # the progress bar (tqdm)
    again = subprocess.run([sys.executable, "run.py", "import", "reviews", str(path)],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "0 added, 2 already there" in again.stdout


async def test_pages_show_reviews_listening_and_alerts(shop: Shop) -> None:
    from tests.web.test_web import as_admin
    csrf = await as_admin(shop)
    now = datetime.now(UTC)
    late = await rv.store(rv.ReviewIn(id="p1", rating=1, title="Never arrived",
                                      text="The parcel never arrived", author="Ann Lee",
                                      created_at=now - timedelta(hours=30)), None)
    await rv.store(rv.ReviewIn(id="p2", rating=4, text="Nice", created_at=now), None)
    page = await (await shop.client.get("/reviews")).text()
    assert f'class="overdue" data-review="{late.review.id}"' in page
    assert "Never arrived" in page and "★☆☆☆☆" in page
    one = await (await shop.client.get(f"/reviews/{late.review.id}")).text()
    assert "the delivery time" in one and "overdue" in one and csrf in one
    assert (await shop.client.get("/reviews/999999")).status == 404
    await Alerter().raise_("spike", "spike:test", "Negative spike for Acme", "• late",
                           "/listening?rule=1")
    assert "Negative spike for Acme" in await (await shop.client.get("/alerts")).text()
    status, _ = await shop.api("POST", "/api/v1/listening/rules", json={
        "name": "Acme", "kind": "brand", "query": "acme"})
    listening = await (await shop.client.get("/listening?bucket=hour")).text()
    assert "<code>acme</code>" in listening and "Share of voice" in listening
    bad = await shop.client.get("/listening?rule=abc")
    assert bad.status == 400
