"""Listening: rules, the signed mention API, RSS polling, trends and spike alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from bot.models import FeedEntry, Mention, StaffAlert
from channels.signing import sign
from listening import trends
from listening.alerts import Alerter
from listening.rules import QueryError, compile_rule, parse
from listening.service import Item, Listening, forget_rules
from tests.conftest import Shop


def rule(query: str, languages: list[str] | None = None) -> Any:
    return compile_rule(1, "r", "brand", query, languages or [])


def test_rules_and_or_not_phrases_hashtags() -> None:
    r = rule('(acme OR "acme shop" OR #acme) AND NOT (job OR hiring)')
    assert r.matches("I love Acme!")
    assert r.matches("ACME SHOP rocks")
    assert r.matches("#acme sale today")
    assert not r.matches("acme is hiring")  # NOT
    assert not r.matches("acmex is a different thing")  # whole words only
    assert not r.matches("we love the shop")
    both = rule("delivery late")  # side by side: AND
    assert both.matches("the delivery was late") and not both.matches("delivery ok")
    minus = rule("refund -thanks")
    assert minus.matches("where is my refund") and not minus.matches("refund done, thanks")
    either = rule("slow OR broken AND box")  # AND binds tighter than OR
    assert either.matches("so slow") and either.matches("broken box")
    assert not either.matches("broken screen")


def test_rules_languages_and_unspaced_scripts() -> None:
    thai = rule("ส่งช้า -ดีมาก", ["th"])
    assert thai.matches("ร้านนี้ส่งช้ามาก", "th")  # no spaces: matched inside words
    assert not thai.matches("ร้านนี้ส่งช้ามาก", "en")  # language filter
    assert not thai.matches("ส่งช้าแต่ดีมาก", "th")
    ru = rule("доставка OR доставку", ["ru", "pl"])
    assert ru.matches("Где моя доставка?", "ru") and not ru.matches("доставка", "vi")


@pytest.mark.parametrize("query", ["", "acme AND", "(acme OR shop", "NOT", '""', "a OR OR b"])
def test_bad_queries_are_refused(query: str) -> None:
    with pytest.raises(QueryError):
        parse(query)


async def _rules(shop: Shop, *rules: dict[str, Any]) -> list[int]:
    ids = []
    for body in rules:
        status, out = await shop.api("POST", "/api/v1/listening/rules", json=body)
        assert status == 201, out
        ids.append(out["id"])
    return ids


async def test_rules_api_and_signed_mention_ingest(shop: Shop) -> None:
    brand, rival = await _rules(
        shop, {"name": "Acme", "kind": "brand", "query": "acme OR #acme"},
        {"name": "Globex", "kind": "competitor", "query": "globex", "languages": ["en"]})
    status, err = await shop.api("POST", "/api/v1/listening/rules", json={
        "name": "bad", "kind": "keyword", "query": "(acme"})
    assert status == 422 and err["error"]["field"] == "query"
    body = json.dumps({"id": "post-1", "text": "Acme beats Globex on price",
                       "author": "@ann", "url": "https://social.example/p/1"}).encode()
    account = shop.seed["api_account_id"]
    path = f"/api/v1/mentions/{account}"
    bad = await shop.client.post(path, data=body, headers={
        "X-Switchboard-Signature": sign("wrong", body), "Content-Type": "application/json"})
    assert bad.status == 403
    assert await Mention.all().count() == 0  # nothing stored
    good = await shop.client.post(path, data=body, headers={
        "X-Switchboard-Signature": sign(shop.seed["api_account_secret"], body),
        "Content-Type": "application/json"})
    out = await good.json()
    assert good.status == 201 and out["matched"] == [brand, rival]
    again = await shop.client.post(path, data=body, headers={
        "X-Switchboard-Signature": sign(shop.seed["api_account_secret"], body),
        "Content-Type": "application/json"})
    assert again.status == 200 and await Mention.all().count() == 2  # no duplicates
    status, listed = await shop.api("GET", f"/api/v1/listening/mentions?rule_id={brand}")
    assert [m["author"] for m in listed] == ["@ann"]
    # An inbound customer message on any channel is matched too.
    resp = await shop.inbound({"external_id": "m-1", "contact": {"external_id": "c-9"},
                               "text": "Is #acme open on Sunday?"})
    assert resp.status == 202
    for _ in range(100):
        if await Mention.filter(source="api", source_ref__startswith="message:").exists():
            break
        await _sleep()
    assert await Mention.filter(rule_id=brand, source_ref__startswith="message:").count() == 1
    status, sov = await shop.api("GET", "/api/v1/listening/trends?bucket=hour")
    assert status == 200
    shares = {r["rule"]: r["mentions"] for r in sov["share_of_voice"]}
    assert shares == {"Acme": 2, "Globex": 1}
    agent = await shop.add_user("agent")
    status, _ = await shop.api("POST", "/api/v1/listening/rules", token=agent["api_token"],
                               json={"name": "x", "kind": "keyword", "query": "x"})
    assert status == 403  # agents read listening, marketers and admins change it


async def _sleep() -> None:
    import asyncio
    await asyncio.sleep(0.05)


FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Shop news</title>
{items}</channel></rss>"""
ITEM = ("<item><guid>{g}</guid><title>{t}</title><link>https://news.example/{g}</link>"
        "<description>{d}</description><pubDate>Sat, 21 Nov 2026 10:00:00 GMT</pubDate></item>")


async def test_rss_polling_honours_etag_and_never_duplicates(settings: Any, aiohttp_server: Any,
                                                             aiohttp_client: Any) -> None:
    from tests.conftest import start_shop
    shop = await start_shop(aiohttp_client, settings)
    await _rules(shop, {"name": "Acme", "kind": "brand", "query": "acme"})
    state: dict[str, Any] = {"items": [("a1", "Acme opens a store", "big news")],
                             "etag": '"v1"', "conditional": 0, "full": 0,
                             "ignore_etag": False}

    async def feed(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == state["etag"] and not state["ignore_etag"]:
            state["conditional"] += 1
            return web.Response(status=304)
        state["full"] += 1
        items = "".join(ITEM.format(g=g, t=t, d=d) for g, t, d in state["items"])
        return web.Response(text=FEED.format(items=items), content_type="application/rss+xml",
                            headers={"ETag": state["etag"]})
    app = web.Application()
    app.router.add_get("/feed.xml", feed)
    server = await aiohttp_server(app)
    status, f = await shop.api("POST", "/api/v1/listening/feeds", json={
        "url": str(server.make_url("/feed.xml"))})
    assert status == 201
    listening = Listening(None)
    from bot.models import Feed
    from listening.feeds import poll
    row = await Feed.get(id=f["id"])
    import aiohttp
    async with aiohttp.ClientSession() as http:
        assert await poll(row, http, listening) == 1
        assert await poll(row, http, listening) == 0  # 304: ETag sent and honoured
        assert state["conditional"] == 1 and state["full"] == 1
        state["items"].append(("a2", "Acme delivery is late", "customers are angry"))
        state["items"].append(("b1", "Weather", "rain again"))  # matches no rule
        state["etag"] = '"v2"'
        assert await poll(row, http, listening) == 2
        state["ignore_etag"] = True  # a feed that sends everything every time
        assert await poll(row, http, listening) == 0
    assert await FeedEntry.filter(feed_id=row.id).count() == 3
    mentions = await Mention.filter(source="rss").order_by("id")
    assert [m.url for m in mentions] == ["https://news.example/a1", "https://news.example/a2"]
    await row.refresh_from_db()
    assert row.etag == '"v2"' and row.name == "Shop news" and row.last_status == 200

    # The process dies while taking a new entry: the entry is not remembered, so the
    # next poll (after the lease runs out) takes it, and once.
    class Dying(Listening):
        async def take(self, item: Item) -> Any:
            raise SystemExit("killed")
    state["items"].append(("a3", "Acme recalls a kettle", "safety first"))
    state["etag"] = '"v3"'
    async with aiohttp.ClientSession() as http:
        with pytest.raises(SystemExit):
            await poll(row, http, Dying(None))
        assert not await FeedEntry.filter(feed_id=row.id, key="a3").exists()
        assert await poll(row, http, listening) == 1
        assert await poll(row, http, listening) == 0
    assert await Mention.filter(source="rss", url="https://news.example/a3").count() == 1


async def _series(rule_id: int, now: datetime, per_hour: dict[int, int]) -> None:
    """``per_hour[k]`` negative mentions half an hour before ``now - k hours``."""
    n = 0
    for hours_ago, count in per_hour.items():
        for i in range(count):
            n += 1
            await Mention.create(rule_id=rule_id, source="api", source_ref=f"s{hours_ago}:{i}",
                                 text=f"terrible delivery {i}", lang="en",
                                 sentiment="negative", sentiment_score=0.9,
                                 occurred_at=now - timedelta(hours=hours_ago, minutes=30 - i))


async def test_spike_detection_one_alert_per_spike(shop: Shop) -> None:
    [rid] = await _rules(shop, {"name": "Acme", "kind": "brand", "query": "acme"})
    sent: list[str] = []

    async def chat(text: str) -> int:
        sent.append(text)
        return 1
    alerter = Alerter(chat=chat, base_url="https://shop.example.test")
    cfg = trends.SpikeSettings(factor=3, min_count=5, baseline_days=7)
    now = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    # The usual: 2 negative mentions in this hour of the day, every day of the last week.
    await _series(rid, now, {24 * d: 2 for d in range(1, 8)})
    await _series(rid, now, {0: 5})  # 5 now: more than min_count, but < 3 x 2
    assert await trends.check_spikes(alerter, now, cfg) == []
    for i in range(4):  # 9 in the last hour now: a spike
        await Mention.create(rule_id=rid, source="api", source_ref=f"x{i}", lang="en",
                             text="acme delivery late again", sentiment="negative",
                             sentiment_score=0.95, url=f"https://x.example/{i}",
                             occurred_at=now + timedelta(minutes=10 + i))
    later = now + timedelta(minutes=20)
    first = await trends.check_spikes(alerter, later, cfg)
    assert len(first) == 1 and "Negative spike for Acme: 9" in first[0].title
    assert "https://shop.example.test/listening?rule=" in sent[0]
    assert "acme delivery late again" in sent[0]  # example mentions
    for step in (5, 10, 15):  # the spike goes on: no new alert, the peak recorded
        await Mention.create(rule_id=rid, source="api", source_ref=f"y{step}", lang="en",
                             text="still late", sentiment="negative",
                             occurred_at=later + timedelta(minutes=step - 1))
        assert await trends.check_spikes(alerter, later + timedelta(minutes=step), cfg) == []
    assert await StaffAlert.filter(kind="spike").count() == 1 and len(sent) == 1
    calm = later + timedelta(hours=3)
    assert await trends.check_spikes(alerter, calm, cfg) == []
    alert = await StaffAlert.get(kind="spike")
    assert alert.ended_at is not None and alert.data["peak"] == 11
    assert alert.sent_to == ["inbox", "telegram"]
    status, alerts = await shop.api("GET", "/api/v1/alerts")
    assert [a["kind"] for a in alerts] == ["spike"]


async def test_trends_volume_and_negative_terms(shop: Shop) -> None:
    [rid] = await _rules(shop, {"name": "Acme", "kind": "brand", "query": "acme"})
    now = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    rows = [("Acme delivery late, courier lost parcel", "negative", "en"),
            ("Acme delivery late again", "negative", "en"),
            ("Acme great quality", "positive", "en"),
            ("Acme quality great, fast delivery", "positive", "en"),
            ("Acme доставка опоздала, курьер грубый", "negative", "ru"),
            ("Acme доставка опоздала на неделю", "negative", "ru")]
    for i, (text, label, lang) in enumerate(rows):
        await Mention.create(rule_id=rid, source="api", source_ref=f"t{i}", text=text,
                             lang=lang, sentiment=label,
                             occurred_at=now - timedelta(hours=i % 2, minutes=5))
    vol = await trends.volume(now - timedelta(days=1), now, "hour")
    assert sum(v["total"] for v in vol) == 6 and {v["start"].hour for v in vol} == {13, 14}
    assert sum(v["negative"] for v in vol) == 4
    terms = await trends.top_negative_terms(now - timedelta(days=1), now)
    assert terms["en"][0]["term"] == "late"
    assert {"доставка", "опоздала"} <= {t["term"] for t in terms["ru"]}
    forget_rules()
