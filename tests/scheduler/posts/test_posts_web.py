"""Publishing from the staff pages: compose with a natural time, see the post go out on
the Telegram channel at its time, the calendar, and the workflow buttons."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.models import Post, User
from tests.channels.test_telegram import Telegram, connect, fake_api, until
from tests.conftest import make_settings, start_shop
from tests.fakes.telegram_api import FakeTelegram
from tests.web.test_web import as_admin

__all__ = ["fake_api"]


@pytest.fixture
async def tg(aiohttp_client: Any, tmp_path: Path,
             fake_api: tuple[FakeTelegram, str]) -> Telegram:
    shop = await start_shop(aiohttp_client, make_settings(tmp_path,
                                                          shop_timezone="Asia/Bangkok"))
    tg = await connect(shop, *fake_api, "polling")
    await shop.api("PATCH", f"/api/v1/channels/{tg.account['id']}",
                   json={"settings": {"channel": "@shopnews"}})
    return tg


async def test_compose_on_the_page_and_it_goes_out(tg: Telegram) -> None:
    shop, aid = tg.shop, tg.account["id"]
    csrf = await as_admin(shop)
    page = await (await shop.client.get("/posts")).text()
    assert f'name="target_{aid}" value="@shopnews"' in page
    resp = await shop.client.post("/posts", data={
        "csrf_token": csrf, "text": "Doors open <10:00>", f"use_{aid}": "on",
        f"target_{aid}": "@shopnews", "when": "31 feb 9:00", "action": "schedule"})
    assert resp.status == 400 and "31 Feb is not a date" in await resp.text()
    assert await Post.all().count() == 0  # nothing queued
    resp = await shop.client.post("/posts", allow_redirects=False, data={
        "csrf_token": csrf, "text": "Doors open at ten", f"use_{aid}": "on",
        f"text_{aid}": "Doors open <10:00>",  # Telegram's own text
        f"target_{aid}": "@shopnews", "when": "in 2 seconds", "action": "schedule"})
    assert resp.status == 302
    pid = int(resp.headers["Location"].rsplit("/", 1)[1])
    detail = await (await shop.client.get(f"/posts/{pid}")).text()
    assert 'id="post-status">scheduled' in detail and "(Asia/Bangkok)" in detail
    await until(lambda: Post.filter(id=pid, status="published").first())
    assert [s["text"] for s in tg.bot.sent if s["chat_id"] == "@shopnews"] == [
        "Doors open &lt;10:00&gt;"]
    detail = await (await shop.client.get(f"/posts/{pid}")).text()
    assert "→ <strong>published</strong>" in detail


async def test_calendar_and_workflow_buttons(tg: Telegram) -> None:
    shop, aid = tg.shop, tg.account["id"]
    csrf = await as_admin(shop)
    resp = await shop.client.post("/posts", allow_redirects=False, data={
        "csrf_token": csrf, "text": "Weekend sale", f"use_{aid}": "on",
        f"target_{aid}": "@shopnews", "when": "tomorrow 10:00", "action": "schedule"})
    pid = int(resp.headers["Location"].rsplit("/", 1)[1])
    post = await Post.get(id=pid)
    assert post.due_at is not None
    local_day = (post.due_at + timedelta(hours=7)).date()  # Bangkok is UTC+7
    for view in ("month", "week"):
        html = await (await shop.client.get(
            f"/calendar?view={view}&date={local_day.isoformat()}")).text()
        cell = re.search(rf'data-day="{local_day.isoformat()}".*?</td>', html, re.S)
        assert cell and f"10:00 #{pid}" in cell.group(0), view
    assert (await shop.client.get("/calendar?date=nonsense")).status == 400
    day = local_day.isoformat()
    only_tg = await (await shop.client.get(f"/calendar?date={day}&network=telegram")).text()
    only_fb = await (await shop.client.get(f"/calendar?date={day}&network=facebook")).text()
    assert f"#{pid}<" in only_tg and f"#{pid}<" not in only_fb  # per channel
    assert (await shop.client.get("/calendar?network=myspace")).status == 400
    resp = await shop.client.post(f"/posts/{pid}", allow_redirects=False, data={
        "csrf_token": csrf, "action": "reschedule", "when": "fri 18:00"})
    assert resp.status == 302
    moved = await Post.get(id=pid)
    assert moved.due_at is not None and moved.due_at.astimezone(UTC).strftime("%H:%M") == "11:00"
    resp = await shop.client.post(f"/posts/{pid}", data={"csrf_token": csrf,
                                                         "action": "cancel"})
    assert (await Post.get(id=pid)).status == "cancelled"
    detail = await (await shop.client.get(f"/posts/{pid}")).text()
    assert detail.count("<li>") == 4  # composed, scheduled, rescheduled, cancelled
    assert datetime.now(UTC) < moved.due_at


async def test_a_refused_time_leaves_no_draft(tg: Telegram) -> None:
    shop, aid = tg.shop, tg.account["id"]
    csrf = await as_admin(shop)
    resp = await shop.client.post("/posts", data={
        "csrf_token": csrf, "text": "No time given", f"use_{aid}": "on",
        f"target_{aid}": "@shopnews", "action": "schedule"})
    assert resp.status == 400 and "give a time to publish at" in await resp.text()
    assert await Post.all().count() == 0


async def test_the_upload_texts_and_status_tabs_are_in_the_users_language(tg: Telegram
                                                                           ) -> None:
    shop = tg.shop
    await as_admin(shop)
    await User.filter(email=shop.seed["email"]).update(language="vi")
    page = await (await shop.client.get("/posts")).text()
    assert 'data-uploading="Đang tải lên %(num)s ảnh…"' in page  # posts.js fills %(num)s
    assert 'data-uploaded="Đã tải lên %(num)s ảnh"' in page
    assert 'data-too_large="Ảnh quá lớn, không tải lên được."' in page  # by /media's code
    assert ">Bản nháp</a>" in page and ">Draft</a>" not in page  # a status tab


@pytest.mark.parametrize(("language", "first", "heads"), [
    ("th", "2026-11-29", ["อาทิตย์", "จันทร์", "อังคาร", "พุธ", "พฤหัส", "ศุกร์", "เสาร์"]),
    ("vi", "2026-11-30", ["Thứ 2", "Thứ 3", "Thứ 4", "Thứ 5", "Thứ 6", "Thứ 7", "CN"]),
    ("ru", "2026-11-30", ["пн", "вт", "ср", "чт", "пт", "сб", "вс"])])
async def test_the_calendar_weeks_start_on_the_users_first_day(
        tg: Telegram, language: str, first: str, heads: list[str]) -> None:
    """The day names are the user's language's (Babel's), and a week starts on the day it
    does there: Sunday in Thai (Sunday 29 November 2026), Monday in Vietnamese and Russian;
    every day of December 2026 is in the month's grid once, in order, in whole weeks."""
    await as_admin(tg.shop)
    await User.filter(email=tg.shop.seed["email"]).update(language=language)
    for view, count in (("month", 35), ("week", 7)):
        page = await (await tg.shop.client.get(f"/calendar?view={view}&date=2026-12-05")).text()
        assert re.findall(r'<th scope="col">([^<]*)</th>', page) == heads
        shown = [date.fromisoformat(d) for d in re.findall(r'data-day="([\d-]+)"', page)]
        assert shown[0] == date.fromisoformat(first) and len(shown) == count
        assert shown == [shown[0] + timedelta(days=i) for i in range(count)]
        assert date(2026, 12, 5) in shown and (view == "week" or date(2026, 12, 31) in shown)


async def test_a_date_past_the_calendars_years_is_a_clear_400(tg: Telegram) -> None:
    """A week that starts on Sunday (Thai) before 0001-01-05 would start in year 0, and
    the arrows after December 9999 in year 10000: a date outside 1900..9998 is refused in
    the reader's language (400), in the month and the week view; the first and last days
    the calendar takes show."""
    await as_admin(tg.shop)
    await User.filter(email=tg.shop.seed["email"]).update(language="th")
    for view in ("month", "week"):
        for day in ("0001-01-05", "0001-01-01", "1899-12-31", "9999-12-05", "9999-12-31"):
            resp = await tg.shop.client.get(f"/calendar?view={view}&date={day}")
            body = await resp.text()
            assert resp.status == 400, (view, day, body[:300])
            assert "วันที่ต้องอยู่ระหว่าง 1900-01-01 ถึง 9998-12-31" in body, (view, day)
        for day in ("1900-01-01", "9998-12-31"):
            resp = await tg.shop.client.get(f"/calendar?view={view}&date={day}")
            assert resp.status == 200, (view, day, (await resp.text())[:300])
            assert f'data-day="{day}"' in await resp.text()
