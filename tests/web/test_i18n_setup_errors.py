"""Issue 22 point 1, the setup errors: what a shop owner meets while connecting a channel,
replying, filtering the inbox and a report, and writing a post is shown in the page
user's language (here Vietnamese), while the API keeps the English words."""

from __future__ import annotations

import html
from typing import Any

from bot.models import User
from tests.conftest import Shop, message
from tests.scheduler.marketing.test_marketing_pages import a_sequence
from tests.web.test_web import as_admin


async def _text(resp: Any) -> str:
    return html.unescape(await resp.text())


async def _as_vietnamese_admin(shop: Shop) -> str:
    csrf = await as_admin(shop)
    await User.filter(email=shop.seed["email"]).update(language="vi")
    return csrf


async def test_a_refused_channel_account_is_explained_in_the_users_language(shop: Shop
                                                                            ) -> None:
    csrf = await _as_vietnamese_admin(shop)
    resp = await shop.client.post("/admin/channels", data={
        "csrf_token": csrf, "kind": "telegram", "name": "Shop bot", "token": "no-colon",
        "mode": "polling"})
    assert resp.status == 400
    page = await resp.text()
    assert ("chưa bật được tài khoản Telegram: settings.token phải là token bot lấy từ "
            "@BotFather") in page, page
    assert "account not enabled" not in page

    status, body = await shop.api("POST", "/api/v1/channels", json={
        "kind": "telegram", "name": "Shop bot", "settings": {"token": "no-colon"}})
    assert status == 400, body
    assert body["error"]["message"] == (
        "Telegram account not enabled: settings.token must be a bot token from @BotFather "
        "(digits, a colon, then letters)")


async def test_reply_inbox_and_report_refusals_are_translated(shop: Shop) -> None:
    resp = await shop.inbound(message("s1", text="Hello"))
    cid = int((await resp.json())["conversation_id"])
    csrf = await _as_vietnamese_admin(shop)
    long = await shop.client.post(f"/inbox/{cid}/reply", data={
        "csrf_token": csrf, "text": "a" * 20001})
    assert long.status == 400
    assert "chỉ cho phép tối đa 20000 ký tự" in await long.text()

    who = await shop.client.get("/inbox?assignee=nobody")
    assert who.status == 400
    assert "Người phụ trách 'nobody' không tồn tại" in await _text(who)
    state = await shop.client.get("/inbox?status=lost")
    assert state.status == 400 and "Trạng thái 'lost' không tồn tại" in await _text(state)

    report = await shop.client.get("/reports/inbox-overview?label=nolabel")
    assert report.status == 400
    assert "label: không có nhãn 'nolabel'" in await _text(report)
    status, body = await shop.api("GET", "/api/v1/reports/inbox-overview?label=nolabel")
    assert status == 400 and body["error"]["message"] == "label: no label 'nolabel'"


async def test_a_posts_refusal_is_translated(shop: Shop) -> None:
    csrf = await _as_vietnamese_admin(shop)
    resp = await shop.client.post("/posts", data={
        "csrf_token": csrf, "text": "Sale today", "use_99999": "on",
        "target_99999": "@shopnews", "action": "draft"})
    assert resp.status == 400
    page = await resp.text()
    assert "variants[0]: không có tài khoản kênh 99999 nào đăng bài được" in page, page
    bad = await shop.client.post("/posts", data={
        "csrf_token": csrf, "text": "Sale today", "images": "ftp://x/a.png",
        "action": "draft"})
    assert bad.status == 400
    assert "không phải địa chỉ ảnh: 'ftp://x/a.png'" in await _text(bad)


async def test_sequence_step_and_listening_query_refusals_are_translated(shop: Shop
                                                                         ) -> None:
    seq = await a_sequence(shop)
    status, rule = await shop.api("POST", "/api/v1/listening/rules", json={
        "name": "Acme", "kind": "brand", "query": "acme", "languages": ["en"]})
    assert status == 201, rule
    csrf = await _as_vietnamese_admin(shop)
    resp = await shop.client.post(f"/sequences/{seq.id}", data={
        "csrf_token": csrf, "rows": "1", "name": "Promo", "s0_kind": "wait",
        "s0_amount": "", "s0_unit": "hours"})
    assert resp.status == 422
    assert "hãy nhập thời gian chờ" in await _text(resp)

    resp = await shop.client.post(f"/listening/rules/{rule['id']}", data={
        "csrf_token": csrf, "name": "Acme", "kind": "brand", "query": "(acme",
        "languages": "en", "enabled": "on"})
    assert resp.status == 422
    assert "có dấu ngoặc chưa được đóng" in await _text(resp)
    status, body = await shop.api("PATCH", f"/api/v1/listening/rules/{rule['id']}",
                                  json={"query": "(acme"})
    assert status == 422 and body["error"]["message"] == "a parenthesis is not closed"
