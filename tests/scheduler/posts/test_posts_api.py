"""The posts API end to end: compose with each network's limits, the approval flow, bad
times, roles, the calendar range, and a post published by the clock at its time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.channels.test_telegram import Telegram, connect, fake_api, until
from tests.conftest import make_settings, start_shop
from tests.fakes.telegram_api import FakeTelegram

__all__ = ["fake_api"]


@pytest.fixture
async def tg(aiohttp_client: Any, tmp_path: Path,
             fake_api: tuple[FakeTelegram, str]) -> Telegram:
    shop = await start_shop(aiohttp_client, make_settings(tmp_path,
                                                          posts_require_approval=True))
    return await connect(shop, *fake_api, "polling")


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_compose_approve_schedule_publish(tg: Telegram) -> None:
    shop = tg.shop
    admin_token = shop.token
    marketer = await shop.add_user("marketer")
    mt = marketer["api_token"]
    target = {"channel_account_id": tg.account["id"], "target": "@shopnews"}

    status, err = await shop.api("POST", "/api/v1/posts", token=mt, json={
        "text": "x" * 1025, "media": [{"url": "https://shop.example/a.jpg"}],
        "variants": [target]})
    assert status == 400 and "1,024 characters in a caption" in err["error"]["message"]
    status, err = await shop.api("POST", "/api/v1/posts", token=mt, json={
        "text": "hi", "variants": [{**target, "channel_account_id": 999}]})
    assert status == 400 and "variants[0]" in err["error"]["message"]
    status, err = await shop.api("POST", "/api/v1/posts", token=mt, json={
        "text": "hi", "variants": [target], "due_at": "31 Feb 9:00"})
    assert status == 422 and err["error"]["field"] == "due_at"

    status, post = await shop.api("POST", "/api/v1/posts", token=mt, json={
        "text": "Spring sale starts!", "variants": [target]})
    assert status == 201 and post["status"] == "draft"
    pid = post["id"]
    status, err = await shop.api("POST", f"/api/v1/posts/{pid}/schedule", token=mt,
                                 json={"due_at": soon(60)})
    assert status == 403 and "approval" in err["error"]["message"]
    assert (await shop.api("POST", f"/api/v1/posts/{pid}/submit", token=mt, json={}))[0] == 200
    status, err = await shop.api("POST", f"/api/v1/posts/{pid}/approve", token=mt, json={})
    assert status == 403
    status, err = await shop.api("POST", f"/api/v1/posts/{pid}/reject", token=admin_token,
                                 json={})
    assert status == 422
    status, back = await shop.api("POST", f"/api/v1/posts/{pid}/reject", token=admin_token,
                                  json={"reason": "say which products"})
    assert status == 200 and back["status"] == "draft"
    await shop.api("POST", f"/api/v1/posts/{pid}/submit", token=mt, json={})
    await shop.api("POST", f"/api/v1/posts/{pid}/approve", token=admin_token, json={})
    status, err = await shop.api("POST", f"/api/v1/posts/{pid}/schedule", token=mt,
                                 json={"due_at": soon(-60)})
    assert status == 400 and err["error"]["message"] == "that time is in the past"
    status, scheduled = await shop.api("POST", f"/api/v1/posts/{pid}/schedule", token=mt,
                                       json={"due_at": soon(1)})
    assert status == 200 and scheduled["status"] == "scheduled"

    async def published() -> dict[str, Any] | None:
        _, p = await shop.api("GET", f"/api/v1/posts/{pid}", token=mt)
        return p if p["status"] == "published" else None
    done = await until(published)
    assert done["variants"][0]["state"] == "done" and done["variants"][0]["remote_id"]
    assert [e["to_status"] for e in done["events"]] == [
        "draft", "in_review", "draft", "in_review", "approved", "scheduled", "publishing",
        "published"]
    assert [e["reason"] for e in done["events"]][2] == "say which products"
    assert [s["text"] for s in tg.bot.sent if s["chat_id"] == "@shopnews"] == [
        "Spring sale starts!"]

    start = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    end = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    status, cal = await shop.api("GET", "/api/v1/posts", token=mt,
                                 params={"start": start, "end": end})
    assert status == 200 and [p["id"] for p in cal] == [pid]
    agent = await shop.add_user("agent")
    assert (await shop.api("GET", "/api/v1/posts", token=agent["api_token"]))[0] == 200
    status, _ = await shop.api("POST", "/api/v1/posts", token=agent["api_token"], json={
        "text": "hi", "variants": [target]})
    assert status == 403


async def test_bulk_retry(tg: Telegram) -> None:
    shop = tg.shop
    target = {"channel_account_id": tg.account["id"], "target": "@shopnews"}
    ids = []
    for text in ("one", "two"):
        _, p = await shop.api("POST", "/api/v1/posts", json={"text": text, "variants": [target]})
        ids.append(p["id"])
    status, out = await shop.api("POST", "/api/v1/posts/retry", json={"ids": ids})
    assert status == 200 and out["retried"] == []
    assert [s["id"] for s in out["skipped"]] == ids
    assert "only a failed or missed post can be retried" in out["skipped"][0]["reason"]


async def test_ics_feed_parses_and_needs_its_secret(tg: Telegram) -> None:
    import icalendar

    shop = tg.shop
    target = {"channel_account_id": tg.account["id"], "target": "@shopnews"}
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    _, post = await shop.api("POST", "/api/v1/posts", json={
        "text": "Flash sale; 20% off, today only\nsecond line", "variants": [target],
        "due_at": when.isoformat()})
    await shop.api("POST", "/api/v1/posts", json={"text": "just a draft", "variants": [target]})
    status, feed = await shop.api("GET", "/api/v1/calendar/feed")
    assert status == 200 and feed["url"].startswith("https://shop.example.test/calendar/")
    path = feed["url"].removeprefix("https://shop.example.test")
    resp = await shop.client.get(path)
    assert resp.status == 200 and resp.content_type == "text/calendar"
    cal = icalendar.Calendar.from_ical(await resp.text())
    events = list(cal.walk("VEVENT"))
    assert len(events) == 1  # drafts have no place on the calendar
    ev = events[0]
    assert str(ev["UID"]).startswith(f"post-{post['id']}@")
    assert ev.decoded("DTSTART") == when
    assert str(ev["SUMMARY"]) == "[scheduled] Flash sale; 20% off, today only (telegram)"
    assert str(ev["DESCRIPTION"]) == "Flash sale; 20% off, today only\nsecond line"
    assert (await shop.client.get("/calendar/" + "0" * 32 + ".ics")).status == 404


async def test_image_upload_is_served_and_published(aiohttp_client: Any, tmp_path: Path,
                                                    fake_api: tuple[FakeTelegram, str]
                                                    ) -> None:
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, max_upload_bytes=1000))
    tg = await connect(shop, *fake_api, "polling")
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 200
    resp = await shop.client.post("/media", data=png, headers={
        **shop.auth(), "Content-Type": "image/png"})
    assert resp.status == 201, await resp.text()
    url = (await resp.json())["url"]
    assert url.startswith("https://shop.example.test/media/") and url.endswith(".png")
    got = await shop.client.get(url.removeprefix("https://shop.example.test"))
    assert got.status == 200 and await got.read() == png
    for body, ctype, status in ((png, "text/plain", 415), (b"x" * 1001, "image/png", 413),
                                (b"", "image/png", 400)):
        bad = await shop.client.post("/media", data=body,
                                     headers={**shop.auth(), "Content-Type": ctype})
        assert bad.status == status, (ctype, status)
        assert (await bad.json())["error"]["message"]
    assert (await shop.client.post("/media", data=png,
                                   headers={"Content-Type": "image/png"})).status == 401
    agent = await shop.add_user("agent")
    assert (await shop.client.post("/media", data=png, headers={
        **shop.auth(agent["api_token"]), "Content-Type": "image/png"})).status == 403
    assert (await shop.client.get("/media/../../secret.key")).status == 404

    status, post = await shop.api("POST", "/api/v1/posts", json={
        "text": "New arrivals", "media": [{"url": url}], "due_at": soon(1),
        "variants": [{"channel_account_id": tg.account["id"], "target": "@shopnews"}]})
    assert status == 201, post

    async def sent() -> list[dict[str, Any]]:
        return [s for s in tg.bot.sent if s["chat_id"] == "@shopnews" and s.get("photo")]
    [photo] = await until(sent)
    assert photo["photo"] == url and photo["caption"] == "New arrivals"
