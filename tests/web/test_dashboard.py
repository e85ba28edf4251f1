"""The home dashboard: exact tile values for a known state around the shop's midnight (in a
timezone seven hours ahead of UTC), on SQLite and PostgreSQL; roles; the page after login;
the JSON in the API and its document."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.models import (
    ChannelAccount,
    Contact,
    Conversation,
    Enrollment,
    MailSend,
    Message,
    Post,
    Review,
    Sequence,
    StaffAlert,
    User,
)
from bot.models.users import Role
from bot.services.reports import dashboard as dash
from listening.reviews import DEADLINE, OPEN_STATES
from tests.conftest import Postgres, Shop, make_settings, start_shop
from tests.web.test_web import login

TZ = "Asia/Bangkok"  # UTC+7, no daylight saving
# 00:30 on Thursday 11 March 2027 in the shop; the shop's day began at 17:00 UTC the day
# before. In the future, so the running app's clock never touches the posts below.
NOW = datetime(2027, 3, 10, 17, 30, tzinfo=UTC)
S = datetime(2027, 3, 10, 17, 0, tzinfo=UTC)  # the shop's midnight
E = S + timedelta(days=1)
W = S - timedelta(days=3)  # Monday 8 March, 00:00 shop time
SLA = "*=1h/24h, webchat=15m/8h"


@pytest.fixture(params=["sqlite", "postgres"])
async def tz_shop(request: pytest.FixtureRequest, tmp_path: Path,
                  aiohttp_client: Any) -> Shop:
    over: dict[str, Any] = {"shop_timezone": TZ, "sla_targets": SLA}
    if request.param == "postgres":
        pg: Postgres = request.getfixturevalue("postgres")
        over["database_url"] = pg.create_db()
    return await start_shop(aiohttp_client, make_settings(tmp_path, **over))


def settings_of(shop: Shop) -> Any:
    from bot.core.keys import SETTINGS
    return shop.client.app[SETTINGS]


async def conv(account: ChannelAccount, contact: Contact, kind: str, status: str,
               created: datetime, messages: list[tuple[str, datetime, User | None]]) -> int:
    c = await Conversation.create(channel_account=account, channel_kind=kind,
                                  contact=contact, status=status,
                                  last_message_at=max(m[1] for m in messages))
    await Conversation.filter(id=c.id).update(created_at=created)
    for direction, at, sender in messages:
        m = await Message.create(conversation_id=c.id, channel_account=account,
                                 direction=direction, text="…", sender=sender,
                                 origin="" if sender or direction == "in" else "bot",
                                 status="received" if direction == "in" else "sent")
        await Message.filter(id=m.id).update(created_at=at)
    return c.id


async def known_state(shop: Shop) -> dict[str, int]:
    account = await ChannelAccount.get(id=shop.seed["api_account_id"])
    staff = await User.get(email=shop.seed["email"])
    ann = await Contact.create(name="Ann Lee")
    bo = await Contact.create(name="", email="bo@shop.test")
    ids: dict[str, int] = {}
    m = timedelta(minutes=1)
    # c1: answered by staff yesterday, then the customer wrote again: waits since S-30m
    ids["c1"] = await conv(account, ann, "api", "open", S - 120 * m, [
        ("in", S - 120 * m, None), ("out", S - 60 * m, staff), ("in", S - 30 * m, None),
        ("in", S + 10 * m, None)])
    # c2: only the bot answered: waits since its first message
    ids["c2"] = await conv(account, bo, "api", "open", S - 300 * m, [
        ("in", S - 300 * m, None), ("out", S - 299 * m, None)])
    # c3: today, webchat, answered in 16 min (target 15 min: breached)
    ids["c3"] = await conv(account, ann, "webchat", "open", S + 5 * m, [
        ("in", S + 5 * m, None), ("out", S + 21 * m, staff)])
    # c4: today, answered in 10 min, resolved
    ids["c4"] = await conv(account, ann, "api", "resolved", S + 1 * m, [
        ("in", S + 1 * m, None), ("out", S + 11 * m, staff)])
    # c5: 23:50 yesterday in the shop (today in UTC): not today's
    ids["c5"] = await conv(account, bo, "api", "open", S - 10 * m, [
        ("in", S - 10 * m, None), ("out", S + 2 * m, staff)])
    # c6: today, pending, unanswered for 27 min (target 1 h: not breached)
    ids["c6"] = await conv(account, ann, "api", "pending", S + 3 * m, [
        ("in", S + 3 * m, None)])
    # c7: today, webchat, unanswered for 26 min: breached and waiting
    ids["c7"] = await conv(account, bo, "webchat", "open", S + 4 * m, [
        ("in", S + 4 * m, None)])
    # c8: today, resolved with no person's answer: neither answered nor breached
    ids["c8"] = await conv(account, ann, "api", "resolved", S + 6 * m, [
        ("in", S + 6 * m, None)])
    # c9: today, started by staff: no question, not waiting
    ids["c9"] = await conv(account, ann, "api", "open", S + 7 * m, [
        ("out", S + 7 * m, staff)])

    h = timedelta(hours=1)
    for key, state, created in [("r1", "unanswered", NOW - 25 * h),
                                ("r2", "unanswered", NOW - 21 * h),
                                ("r3", "reply_failed", NOW - 22 * h),
                                ("r4", "unanswered", NOW - 10 * h),
                                ("r5", "replied", NOW - 30 * h)]:
        r = await Review.create(source="shop", external_id=key, author=key.upper(),
                                rating=2, created=created, reply_state=state)
        ids[key] = r.id

    for key, kind, at, ended in [("a1", "spike", NOW - 2 * h, None),
                                 ("a2", "spike", NOW - 30 * h, NOW - 29 * h),
                                 ("a3", "review", NOW - h, None)]:
        a = await StaffAlert.create(kind=kind, key=key, title=f"Spike {key}",
                                    link="/listening?rule=1", data={"peak": 9},
                                    ended_at=ended)
        await StaffAlert.filter(id=a.id).update(created_at=at)
        ids[key] = a.id

    for key, status, due in [("p1", "published", S + 10 * m), ("p2", "scheduled", NOW + h),
                             ("p3", "scheduled", E - m), ("p4", "scheduled", E + m),
                             ("p5", "scheduled", S - m), ("p6", "failed", NOW - 48 * h),
                             ("p7", "missed", NOW - 3 * h), ("p8", "failed", NOW - 240 * h),
                             ("p9", "draft", NOW + 2 * h)]:
        p = await Post.create(text=f"Post {key}", status=status, due_at=due,
                              error="boom" if status == "failed" else "")
        ids[key] = p.id

    seq = await Sequence.create(key="dashboard-test", name="Test", trigger="signup")
    enr = await Enrollment.create(sequence=seq, contact=ann, state="completed",
                                  started_at=W)
    for key, drip, state, sent, converted, revenue in [
            ("m1", True, "sent", S + m, W + h, 10.10),
            ("m2", True, "sent", S - m, NOW - m, 0.5),
            ("m3", False, "sent", S + 2 * m, W + 24 * h, 20.25),
            ("m4", True, "failed", None, None, 0.0),
            ("m5", True, "sent", NOW - m, None, 0.0),
            ("m6", False, "sent", W - 2 * h, W - m, 100.0)]:
        await MailSend.create(key=key, enrollment=enr if drip else None, contact=ann,
                              to="ann@shop.test", message_id=f"<{key}@shop.test>",
                              state=state, sent_at=sent, converted_at=converted,
                              revenue=revenue)
    return ids


def figures(board: dash.Dashboard, tile: str) -> dict[str, Any]:
    return {f.key: f.value for f in board.tile(tile).figures}


def staff(role: Role) -> User:
    return User(email=f"{role.value}@shop.test", role=role, is_active=True)


async def test_known_state_gives_exact_tiles_in_the_shops_day(tz_shop: Shop) -> None:
    ids = await known_state(tz_shop)
    board = await dash.build_dashboard(staff(Role.ADMIN), settings_of(tz_shop), now=NOW)
    assert str(board.today) == "2027-03-11"
    assert [t.key for t in board.tiles] == ["conversations", "first_response", "reviews",
                                            "spikes", "posts", "drip", "revenue"]

    assert figures(board, "conversations") == {"open": 6, "waiting": 3}
    waiting = board.tile("conversations").tables[0].rows
    assert [(r["link"], r["contact"], r["channel"], r["waiting_since"]) for r in waiting] == [
        (f"/inbox/{ids['c2']}", "bo@shop.test", "api", S - timedelta(minutes=300)),
        (f"/inbox/{ids['c1']}", "Ann Lee", "api", S - timedelta(minutes=30)),
        (f"/inbox/{ids['c7']}", "bo@shop.test", "webchat", S + timedelta(minutes=4))]

    # c3 960 s and c4 600 s: median 600 s (nearest rank, as the response-times report's);
    # breached: c3 (over 15 min) and c7 (waiting 26 min)
    assert figures(board, "first_response") == {
        "median": 600, "target": 3600, "breached": 2, "answered": 2, "conversations": 5}

    assert figures(board, "reviews") == {"due_soon": 2, "overdue": 1}
    rows = board.tile("reviews").tables[0].rows
    assert [r["link"] for r in rows] == [f"/reviews/{ids[k]}" for k in ("r1", "r3", "r2")]
    assert rows[0]["deadline"] == NOW - timedelta(hours=1)

    assert figures(board, "spikes") == {"count": 1}
    spike = board.tile("spikes").tables[0].rows
    assert spike == [{"spike": "Spike a1", "link": "/listening?rule=1",
                      "started": NOW - timedelta(hours=2), "peak": 9, "ongoing": "yes"}]

    assert figures(board, "posts") == {"today": 3, "failed": 2}
    nxt, failed = board.tile("posts").tables
    assert [r["link"] for r in nxt.rows] == [f"/posts/{ids['p2']}", f"/posts/{ids['p3']}"]
    assert [r["link"] for r in failed.rows] == [f"/posts/{ids['p7']}", f"/posts/{ids['p6']}"]

    assert figures(board, "drip") == {"sent": 2}
    assert figures(board, "revenue") == {"revenue": 30.85, "orders": 3}
    assert board.tile("first_response").note.endswith("in calendar time.")


async def test_first_response_counts_business_hours_when_the_shop_has_them(
        tz_shop: Shop) -> None:
    await known_state(tz_shop)
    hours = "mon-wed 09:00-18:00, thu 00:14-18:00, fri 09:00-18:00"
    settings = dataclasses.replace(settings_of(tz_shop), office_hours=hours)
    board = await dash.build_dashboard(staff(Role.ADMIN), settings, now=NOW)
    # Thursday opens at 00:14: c3 asked 00:05, answered 00:21: 7 min; c4 asked 00:01,
    # answered 00:11: 0 s; c7 (webchat, 15 min) waiting since 00:04: 16 min by 00:30
    # (breached), c6 (1 h) waiting since 00:03: 16 min (not). The median is nearest-rank,
    # as the response-times report's: of 0 and 420 s, the first.
    assert figures(board, "first_response") == {
        "median": 0, "target": 3600, "breached": 1, "answered": 2, "conversations": 5}
    assert board.tile("first_response").note == (
        "A person's first answer to today's conversations, in business hours "
        f"({hours}), as the inbox reports count.")
    assert dash.response_seconds(S + timedelta(minutes=5), S + timedelta(minutes=21),
                                 dash.hours_config.parse(hours, TZ)) == 420


async def test_all_who_wait_are_counted_and_the_longest_shown(tz_shop: Shop) -> None:
    account = await ChannelAccount.get(id=tz_shop.seed["api_account_id"])
    ann = await Contact.create(name="Ann Lee")
    ids = [await conv(account, ann, "api", "open", S - i * timedelta(minutes=10), [
        ("in", S - i * timedelta(minutes=10), None)]) for i in range(8)]
    board = await dash.build_dashboard(staff(Role.ADMIN), settings_of(tz_shop), now=NOW)
    assert figures(board, "conversations") == {"open": 8, "waiting": 8}
    rows = board.tile("conversations").tables[0].rows
    assert [r["link"] for r in rows] == [f"/inbox/{i}" for i in ids[::-1][:5]]


def test_the_first_response_tile_links_to_its_report_when_the_role_may_read_it() -> None:
    assert dash.report_link(staff(Role.AGENT), "response-times", "/inbox") == \
        "/reports/response-times"
    assert dash.report_link(staff(Role.MARKETER), "response-times", "/inbox") == "/inbox"


async def test_each_role_sees_only_its_tiles(tz_shop: Shop) -> None:
    settings = settings_of(tz_shop)
    agent = await dash.build_dashboard(staff(Role.AGENT), settings, now=NOW)
    assert [t.key for t in agent.tiles] == ["conversations", "first_response", "reviews",
                                            "spikes"]
    marketer = await dash.build_dashboard(staff(Role.MARKETER), settings, now=NOW)
    assert [t.key for t in marketer.tiles] == ["reviews", "spikes", "posts", "drip",
                                               "revenue"]
    gone = User(email="x@shop.test", role=Role.ADMIN, is_active=False)
    assert (await dash.build_dashboard(gone, settings, now=NOW)).tiles == []


def test_the_review_rules_are_the_desks() -> None:
    assert dash.REVIEW_DEADLINE == DEADLINE and dash.REVIEW_OPEN_STATES == OPEN_STATES


def test_a_dst_day_has_its_own_length() -> None:
    from datetime import date
    from zoneinfo import ZoneInfo
    start, end = dash.day_bounds(date(2026, 3, 29), ZoneInfo("Europe/Berlin"))
    assert start == datetime(2026, 3, 28, 23, tzinfo=UTC) and end - start == timedelta(hours=23)


TILE_LINK = re.compile(r'class="tile-link" href="([^"]+)"')


async def test_login_lands_on_the_dashboard_per_role(shop: Shop) -> None:
    page = await shop.client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token is not None
    resp = await shop.client.post("/login", data={
        "email": shop.seed["email"], "password": shop.seed["password"],
        "csrf_token": token.group(1)}, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/"
    home = await shop.client.get("/")
    html = await home.text()
    assert home.status == 200 and TILE_LINK.findall(html) == [
        "/inbox?status=open", "/reports/response-times", "/reviews", "/listening",
        "/calendar", "/sequences", "/reports/attribution"]
    assert 'href="/inbox"' in html  # the inbox stays one click away (the nav)

    agent = await shop.add_user("agent")
    await login(shop, agent["email"], agent["password"])
    html = await (await shop.client.get("/")).text()
    assert TILE_LINK.findall(html) == ["/inbox?status=open", "/reports/response-times",
                                       "/reviews", "/listening"]
    assert "Drip mails" not in html and "Posts today" not in html

    marketer = await shop.add_user("marketer")
    await login(shop, marketer["email"], marketer["password"])
    html = await (await shop.client.get("/")).text()
    assert TILE_LINK.findall(html) == ["/reviews", "/listening", "/calendar", "/sequences",
                                       "/reports/attribution"]
    assert "Open conversations" not in html and "First response" not in html


async def test_a_link_followed_to_the_login_form_still_wins(shop: Shop) -> None:
    resp = await shop.client.get("/inbox?status=open", allow_redirects=False)
    assert resp.headers["Location"] == "/login?next=/inbox?status=open"
    page = await shop.client.get(resp.headers["Location"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token is not None and 'name="next" value="/inbox?status=open"' in await page.text()
    resp = await shop.client.post("/login", data={
        "email": shop.seed["email"], "password": shop.seed["password"],
        "csrf_token": token.group(1), "next": "/inbox?status=open"}, allow_redirects=False)
    assert resp.headers["Location"] == "/inbox?status=open"


async def test_the_api_gives_the_same_tiles_and_is_in_the_document(shop: Shop) -> None:
    resp = await shop.inbound({"external_id": uuid.uuid4().hex,
                               "contact": {"external_id": "c1", "name": "Ann Lee"},
                               "text": "where is my parcel?"})
    cid = (await resp.json())["conversation_id"]
    status, body = await shop.api("GET", "/api/v1/dashboard")
    assert status == 200 and body["timezone"] == settings_of(shop).shop_timezone
    tiles = {t["key"]: t for t in body["tiles"]}
    assert list(tiles) == ["conversations", "first_response", "reviews", "spikes", "posts",
                           "drip", "revenue"]
    figs = {f["key"]: f["value"] for f in tiles["conversations"]["figures"]}
    assert figs == {"open": 1, "waiting": 1}
    row = tiles["conversations"]["tables"][0]["rows"][0]
    assert row["link"] == f"/inbox/{cid}" and row["contact"] == "Ann Lee"
    assert row["waiting_since"].endswith(("Z", "+00:00"))

    agent = await shop.add_user("agent")
    status, body = await shop.api("GET", "/api/v1/dashboard", token=agent["api_token"])
    assert status == 200 and [t["key"] for t in body["tiles"]] == [
        "conversations", "first_response", "reviews", "spikes"]
    status, body = await shop.api("GET", "/api/v1/dashboard", token="nope")
    assert status == 401

    doc = await (await shop.client.get("/api/v1/openapi.json")).json()
    op = doc["paths"]["/api/v1/dashboard"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "DashboardOut")

