"""Issue 22 point 1, the rest: a service's error is shown on a page in the page user's
language (the API keeps the English words); raw codes (a role, a permission, a status)
are shown as translated labels; the snooze time is typed in the shop's timezone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.models import Conversation, User
from tests.conftest import Shop, make_settings, message, start_shop
from tests.web.test_web import as_admin, login


async def _conversation(shop: Shop, key: str) -> int:
    resp = await shop.inbound(message(key, text="Is the blue mug in stock?"))
    return int((await resp.json())["conversation_id"])


async def _speak(shop: Shop, language: str) -> None:
    await User.filter(email=shop.seed["email"]).update(language=language)


async def test_a_service_error_on_a_page_is_in_the_users_language(shop: Shop) -> None:
    cid = await _conversation(shop, "e1")
    csrf = await as_admin(shop)
    await _speak(shop, "vi")
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    resp = await shop.client.post(f"/inbox/{cid}/status", data={
        "csrf_token": csrf, "status": "snoozed", "snoozed_until": past})
    assert resp.status == 400
    page = await resp.text()
    assert "thời gian tạm ẩn phải ở tương lai" in page, page
    assert "snooze time must be in the future" not in page

    status, body = await shop.api("POST", f"/api/v1/conversations/{cid}/status", json={
        "status": "snoozed", "snoozed_until": "2020-01-01T00:00:00Z"})
    assert status == 400 and body["error"]["message"] == "snooze time must be in the future"

    gone = await shop.client.get("/inbox/999999")  # NotFound, named per thing
    assert gone.status == 404 and "không tìm thấy cuộc hội thoại" in await gone.text()


async def test_roles_permissions_and_statuses_are_labels(shop: Shop) -> None:
    cid = await _conversation(shop, "e2")
    csrf = await as_admin(shop)
    await _speak(shop, "ru")
    await shop.client.post(f"/inbox/{cid}/reply", data={"csrf_token": csrf, "text": "Да"})
    users = await (await shop.client.get("/admin/users")).text()
    assert '<option value="marketer">маркетолог</option>' in users
    assert "(администратор)" in users  # the header's own role
    inbox = await (await shop.client.get("/inbox")).text()
    assert "Отложенные" in inbox and ">Snoozed<" not in inbox
    view = await (await shop.client.get(f"/inbox/{cid}")).text()
    assert 'id="conv-status">открыт</span>' in view
    delivery = re.search(r'<span class="status-([a-z]+)">([^<]+)</span>', view)
    assert delivery is not None  # a reply's delivery, as a label
    assert (delivery[1], delivery[2]) in {("pending", "отправляется"), ("sent", "отправлено"),
                                          ("retrying", "повторная отправка"),
                                          ("failed", "не отправлено")}, delivery

    marketer = await shop.add_user("marketer")
    await User.filter(id=marketer["id"]).update(language="pl")
    await login(shop, marketer["email"], marketer["password"])
    refused = await shop.client.get("/inbox")
    assert refused.status == 403
    text = await refused.text()
    assert "Twoja rola (marketer) nie ma uprawnienia: czytać rozmowy." in text, text


async def test_the_snooze_time_is_typed_in_the_shops_timezone(aiohttp_client: Any,
                                                               tmp_path: Path) -> None:
    shop = await start_shop(aiohttp_client, make_settings(
        tmp_path, shop_timezone="Asia/Ho_Chi_Minh"))
    cid = await _conversation(shop, "e3")
    csrf = await as_admin(shop)
    view = await (await shop.client.get(f"/inbox/{cid}")).text()
    assert "Snooze until (Asia/Ho_Chi_Minh)" in view and "(UTC)" not in view
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    resp = await shop.client.post(f"/inbox/{cid}/status", data={
        "csrf_token": csrf, "status": "snoozed", "snoozed_until": f"{day}T09:00"},
        allow_redirects=False)
    assert resp.status == 302
    conv = await Conversation.get(id=cid)
    assert conv.status == "snoozed"
    assert conv.snoozed_until == datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)
    listed = await (await shop.client.get("/inbox?status=snoozed")).text()
    assert "9:00" in listed.split(f'href="/inbox/{cid}"', 1)[1].split("</tr>", 1)[0]


def test_report_titles_are_whole_sentences_with_named_placeholders() -> None:
    from bot.core import i18n
    from bot.services.reports.inbox import _spread_title

    token = i18n.current.set("vi")
    try:
        assert _spread_title("First response, business", "median") == \
            "Phản hồi đầu tiên, giờ làm việc, trung vị"
        assert _spread_title("Resolution, calendar", "p90") == \
            "Giải quyết, giờ thực, phân vị thứ 90"
    finally:
        i18n.current.reset(token)
