"""The marketing and listening reports on a small known history, on SQLite and PostgreSQL:
every figure to the cent and the second (the shop in Asia/Bangkok: days end at 17:00 UTC),
the previous period, the attribution window's edge, and new rows after a refresh."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.core.errors import InboxError
from bot.core.time import utcnow
from bot.models import (
    Broadcast,
    ChannelAccount,
    Contact,
    Conversation,
    Enrollment,
    ListeningRule,
    MailSend,
    Mention,
    Message,
    Review,
    Segment,
    SentimentScore,
    Sequence,
    ShopEvent,
)
from bot.services.reports import (
    REPORTS,
    Filters,
    Report,
    catalog,  # noqa: F401  (registers the reports)
    shop_facts,
)
from bot.services.reports.shop_facts import refresh
from config import Settings
from config.checks import ConfigError
from scheduler.clock import CLOCK
from scheduler.marketing.events import ContactFields, record_event
from tests.conftest import Shop, make_settings, start_shop
from tests.web.test_web import as_admin

MARCH = Filters(date(2026, 3, 1), date(2026, 3, 31))  # previous: Jan 29 to Feb 28


def t(day: str, clock: str = "12:00:00") -> datetime:
    return datetime.fromisoformat(f"2026-{day}T{clock}").replace(tzinfo=UTC)


@pytest.fixture
async def shop(aiohttp_client: Any, any_db: Settings) -> Shop:
    return await start_shop(aiohttp_client, any_db.with_(
        clock_seconds=3600, shop_timezone="Asia/Bangkok", attribution_days=7))


_n = 0


async def event(who: Contact, kind: str, at: datetime, source: str = "api",
                **payload: Any) -> ShopEvent:
    global _n
    _n += 1
    return await ShopEvent.create(kind=kind, source=source, external_id=f"e{_n}",
                                  contact=who, payload=payload, occurred_at=at)


async def mail(who: Contact, clicked: datetime, broadcast: Broadcast | None = None,
               enrollment: Enrollment | None = None) -> MailSend:
    global _n
    _n += 1
    return await MailSend.create(key=f"m{_n}", contact=who, to=who.email or "",
                                 message_id=f"<m{_n}@x>", state="sent", sent_at=clicked,
                                 broadcast=broadcast, enrollment=enrollment,
                                 clicked_at=clicked, clicks=1)


async def history() -> dict[str, Any]:
    ann = await Contact.create(name="Ann", email="ann@x.test", locale="th-TH")
    bob = await Contact.create(name="Bob", email="bob@x.test", locale="en")
    cy = await Contact.create(name="Cy", email="cy@x.test")
    dee = await Contact.create(name="Dee", email="dee@x.test")
    eve = await Contact.create(name="Eve", email="eve@x.test")
    account = await ChannelAccount.filter(kind="webchat").first() or \
        await ChannelAccount.create(kind="webchat", name="Chat", secret="s")
    chat = await Conversation.create(channel_account=account, channel_kind="webchat",
                                     contact=ann, last_message_at=t("02-27"))
    await Conversation.filter(id=chat.id).update(created_at=t("02-27"))  # before her signup
    # Ann: came by the web chat; two orders (19.99 as text, 5.01 as a number).
    await event(ann, "signup", t("03-02", "10:00:00"))
    await event(ann, "checkout_started", t("03-03"))
    await event(ann, "order_placed", t("03-05"), total="19.99", currency="usd")
    await event(ann, "order_placed", t("03-20"), total=5.01, currency="USD")
    # Bob: a Shopify signup and checkout, no order.
    await event(bob, "signup", t("03-04"), source="shopify")
    await event(bob, "checkout_started", t("03-04", "13:00:00"), source="shopify")
    # Cy: signed up and ordered in February (100.005 rounds half-up), again in March.
    await event(cy, "signup", t("02-10"))
    await event(cy, "order_placed", t("02-12"), total="100.005", currency="USD")
    await event(cy, "order_placed", t("03-10"), total="1,234.50", currency="USD")
    # Dee: a guest order at 23:59:59 on March 31 in Bangkok; Eve signs up a second later
    # (April 1 there: outside the range).
    await event(dee, "order_placed", t("03-31", "16:59:59"), source="woocommerce", total=10)
    await event(eve, "signup", t("03-31", "17:00:00"))

    segment = await Segment.create(name="All")
    cast = await Broadcast.create(name="Spring sale", segment=segment, subject_a="Sale",
                                  body="b")
    drip = await Sequence.create(key="report-test", name="Welcome", trigger="signup")
    enrol = await Enrollment.create(sequence=drip, contact=ann, started_at=t("03-01"))
    await mail(ann, t("03-01", "10:00:00"), enrollment=enrol)  # first touch of order 1
    await mail(ann, t("03-04"), broadcast=cast)  # last touch of order 1 (19.99)
    await mail(ann, t("03-15"), enrollment=enrol)  # touch of order 2 (5.01)
    # Cy's March order is at 03-10 12:00:00: a click 7 days and 1 second before is out.
    await mail(cy, t("03-03", "11:59:59"), broadcast=cast)
    await mail(cy, t("02-11"), broadcast=cast)  # February: Cy's first order (100.01)

    # Sentiment: Ann's message negative; Bob's scored neutral, then positive by a newer
    # model; a review; a mention from a feed; a mention of Ann's message (counted once).
    bobs = await Conversation.create(channel_account=account, channel_kind="webchat",
                                     contact=bob, last_message_at=t("03-03"))
    m1 = await Message.create(conversation=chat, channel_account=account, direction="in",
                              text="bad", status="received")
    m2 = await Message.create(conversation=bobs, channel_account=account, direction="in",
                              text="ok", status="received")
    await Message.filter(id=m1.id).update(created_at=t("03-02"))
    await Message.filter(id=m2.id).update(created_at=t("03-03"))
    for kind, item, label, version in (("message", m1.id, "negative", "v1"),
                                       ("message", m2.id, "neutral", "v1"),
                                       ("message", m2.id, "positive", "v2")):
        await SentimentScore.create(item_kind=kind, item_id=item, label=label, score=0.9,
                                    model_version=version)
    r0 = await Review.create(source="google", external_id="r0", rating=4, lang="en",
                             created=t("02-20"), replied_at=t("02-21"))  # exactly 24 h
    r1 = await Review.create(source="google", external_id="r1", rating=2, lang="en",
                             created=t("03-04", "10:00:00"),
                             replied_at=t("03-05", "09:59:00"))  # 23 h 59 min
    await Review.create(source="google", external_id="r2", rating=5, lang="en",
                        created=t("03-05"), replied_at=t("03-06", "12:01:00"))  # 24 h 1 min
    r3 = await Review.create(source="trustpilot", external_id="r3", lang="en",
                             created=t("03-06"))
    await SentimentScore.create(item_kind="review", item_id=r0.id, label="positive",
                                score=0.9, model_version="v1")
    await SentimentScore.create(item_kind="review", item_id=r1.id, label="negative",
                                score=0.9, model_version="v1")
    rule = await ListeningRule.create(name="Brand", kind="brand", query="shop")
    await Mention.create(rule=rule, source="rss", source_ref="rss:1", text="meh", lang="de",
                         sentiment="negative", occurred_at=t("03-10"))
    await Mention.create(rule=rule, source="webchat", source_ref=f"message:{m1.id}",
                         text="bad", lang="th", sentiment="negative", occurred_at=t("03-02"))
    return {"ann": ann, "bob": bob, "cy": cy, "dee": dee, "cast": cast, "drip": drip,
            "r3": r3}


async def build(key: str, f: Filters = MARCH) -> Report:
    return await REPORTS[key].build(f)


def figures(report: Report) -> dict[str, tuple[Any, Any]]:
    return {fig.key: (fig.value, fig.previous) for fig in report.figures}


async def drain() -> int:
    total = 0
    while n := await refresh(limit=3):  # small batches: the watermarks carry on
        total += n
    return total


async def test_every_figure_exact(shop: Shop) -> None:
    h = await history()
    assert await drain() > 0
    assert await refresh() == 0

    funnel = await build("funnel")
    assert figures(funnel) == {
        "entered": (3, 1), "checkout": (3, 1), "ordered": (2, 1),
        "conversion": (2 / 3, 1.0), "checkout_rate": (1.0, 1.0), "order_rate": (2 / 3, 1.0)}
    assert [(r["source"], r["entered"], r["signed_up"], r["checkout"], r["ordered"])
            for r in funnel.table("sources").rows] == [
        ("shopify", 1, 1, 1, 0), ("webchat", 1, 1, 1, 1), ("woocommerce", 1, 0, 1, 1)]
    assert [(r["period"], r["entered"]) for r in funnel.table("periods").rows] == [
        (date(2026, 3, 2), 1), (date(2026, 3, 4), 1), (date(2026, 3, 31), 1)]
    only = await build("funnel", Filters(MARCH.start, MARCH.end, extra=(("source", "webchat"),)))
    assert figures(only)["entered"] == (1, 0)

    revenue = await build("revenue")
    assert figures(revenue) == {
        "revenue": (Decimal("1269.50"), Decimal("100.01")), "orders": (4, 1),
        "aov": (Decimal("317.38"), Decimal("100.01")), "customers": (3, 1),
        "repeat_rate": (2 / 3, 0.0), "clv": (Decimal("456.50"), Decimal("100.01"))}
    assert [(r["name"], r["orders"], r["revenue"], r["lifetime_orders"], r["lifetime_value"])
            for r in revenue.table("customers").rows] == [
        ("Cy", 1, Decimal("1234.50"), 2, Decimal("1334.51")),
        ("Ann", 2, Decimal("25.00"), 2, Decimal("25.00")),
        ("Dee", 1, Decimal("10.00"), 1, Decimal("10.00"))]
    assert revenue.table("cohorts").rows == [
        {"cohort": date(2026, 3, 1), "customers": 2, "orders": 3, "revenue": Decimal("35.00"),
         "clv": Decimal("17.50"), "repeat_rate": 0.5}]
    assert [(r["currency"], r["orders"], r["revenue"])
            for r in revenue.table("currencies").rows] == [
        ("", 1, Decimal("10.00")), ("USD", 3, Decimal("1259.50"))]

    last = await build("attribution")
    assert figures(last) == {
        "revenue": (Decimal("25.00"), Decimal("100.01")), "orders": (2, 1),
        "clicks": (4, 1), "share": (2500 / 126950, 1.0), "per_click": (0.5, 1.0)}
    assert [(r["kind"], r["campaign"], r["clicks"], r["orders"], r["revenue"])
            for r in last.table("campaigns").rows] == [
        ("broadcast", "Spring sale", 2, 1, Decimal("19.99")),
        ("sequence", "Welcome", 2, 1, Decimal("5.01"))]
    first = await build("attribution", Filters(MARCH.start, MARCH.end,
                                               extra=(("model", "first"),)))
    assert [(r["kind"], r["orders"], r["revenue"]) for r in first.table("campaigns").rows] == [
        ("sequence", 2, Decimal("25.00")), ("broadcast", 0, Decimal("0.00"))]
    for key, bad in (("attribution", ("model", "x")), ("funnel", ("source", "Web Chat")),
                     ("revenue", ("source", "x" * 40)), ("reviews", ("source", "'; --")),
                     ("listening-sentiment", ("lang", "<b>"))):
        with pytest.raises(InboxError) as refused:
            await build(key, Filters(MARCH.start, MARCH.end, extra=(bad,)))
        assert refused.value.status == 400 and refused.value.field == bad[0]

    feel = await build("listening-sentiment")
    assert figures(feel) == {"total": (4, 1), "negative": (3, 0), "share_negative": (0.75, 0.0),
                             "positive": (1, 1)}
    assert [(r["week"], r["channel"], r["lang"], r["negative"], r["neutral"], r["positive"])
            for r in feel.table("weeks").rows] == [
        (date(2026, 3, 2), "review", "en", 1, 0, 0),
        (date(2026, 3, 2), "webchat", "en", 0, 0, 1),
        (date(2026, 3, 2), "webchat", "th", 1, 0, 0),
        (date(2026, 3, 9), "rss", "de", 1, 0, 0)]
    chat = await build("listening-sentiment", Filters(MARCH.start, MARCH.end,
                                                      channel="webchat"))
    assert figures(chat)["total"] == (2, 0)
    english = await build("listening-sentiment", Filters(MARCH.start, MARCH.end,
                                                         extra=(("lang", "EN"),)))
    assert figures(english)["total"] == (2, 1)  # the language's case does not matter
    # channel=review (or rss): the report's own channels, in the API and the page's select
    march = "from=2026-03-01&to=2026-03-31"
    status, got = await shop.api("GET", f"/api/v1/reports/listening-sentiment?{march}"
                                        "&channel=review&lang=EN")
    assert status == 200, got
    assert {f["key"]: f["value"] for f in got["figures"]}["total"] == 1
    status, got = await shop.api("GET", f"/api/v1/reports/listening-sentiment?{march}"
                                        "&channel=fax")
    assert status == 400 and got["error"]["field"] == "channel"
    await as_admin(shop)
    resp = await shop.client.get(f"/reports/listening-sentiment?{march}&channel=rss")
    page = await resp.text()
    assert resp.status == 200, page[-2000:]
    assert '<option value="rss" selected>rss</option>' in page
    assert '<option value="review">review</option>' in page
    resp = await shop.client.get(f"/reports/listening-sentiment?{march}&source=google")
    assert resp.status == 400 and "has no source filter" in await resp.text()

    reviews = await build("reviews")
    assert figures(reviews) == {"reviews": (3, 1), "rating": (Decimal("3.50"), Decimal("4.00")),
                                "answered": (1 / 3, 1.0)}
    assert [(r["source"], r["reviews"], r["rating"], r["answered"])
            for r in reviews.table("sources").rows] == [
        ("google", 2, Decimal("3.50"), 0.5), ("trustpilot", 1, None, 0.0)]

    # New rows after the refresh are read incrementally: Bob orders, the late review is
    # answered within the hour, one more click.
    await event(h["bob"], "order_placed", t("03-25"), source="shopify", total="7.5")
    await Review.filter(id=h["r3"].id).update(replied_at=t("03-06", "13:00:00"))
    await mail(h["bob"], t("03-24"), broadcast=h["cast"])
    await event(h["bob"], "order_placed", t("03-26"), source="shopify", total="0.10")
    assert await drain() == 4  # two events, one click, one reply
    assert await refresh() == 0
    assert figures(await build("revenue"))["revenue"] == (Decimal("1277.10"),
                                                          Decimal("100.01"))
    assert figures(await build("funnel"))["ordered"] == (3, 1)
    assert figures(await build("reviews"))["answered"] == (2 / 3, 1.0)
    campaigns = (await build("attribution")).table("campaigns").rows
    assert [(r["campaign"], r["clicks"], r["orders"], r["revenue"]) for r in campaigns] == [
        ("Spring sale", 3, 3, Decimal("27.59")), ("Welcome", 2, 1, Decimal("5.01"))]

    # The clock's job brings them up to date too (one process at a time: alone=True).
    await event(h["dee"], "order_placed", t("03-27"), source="woocommerce", total="2.40")
    assert CLOCK in shop.client.app and shop.client.app[CLOCK].jobs["shop-facts"].alone
    await shop.client.app[CLOCK].run("shop-facts")
    assert await refresh() == 0
    assert figures(await build("revenue"))["revenue"][0] == Decimal("1279.50")

    # Another timezone rebuilds every roll-up: in UTC, Eve's signup (17:00 on March 31)
    # is in March.
    shop_facts.configure("UTC", 7)
    assert await drain() > 0
    assert figures(await build("funnel"))["entered"] == (4, 1)
    assert figures(await build("revenue"))["revenue"][0] == Decimal("1279.50")


@pytest.mark.parametrize("days", [0, 366])
def test_attribution_days_is_checked(tmp_path: Any, days: int) -> None:
    with pytest.raises(ConfigError, match="SWITCHBOARD_ATTRIBUTION_DAYS"):
        make_settings(tmp_path, attribution_days=days)


async def test_the_window_setting_drives_the_mail_stats(aiohttp_client: Any,
                                                        tmp_path: Any) -> None:
    await start_shop(aiohttp_client, make_settings(tmp_path, clock_seconds=3600,
                                                   attribution_days=1))
    now = utcnow()
    early = await Contact.create(email="early@x.test")
    late = await Contact.create(email="late@x.test")
    before = await mail(early, now - timedelta(hours=25))  # outside one day
    inside = await mail(late, now - timedelta(hours=23))
    for who in ("early@x.test", "late@x.test"):
        await record_event("order_placed", "api", who, ContactFields(who), {"total": "5"}, now)
    assert (await MailSend.get(id=before.id)).converted_at is None
    assert (await MailSend.get(id=inside.id)).revenue == 5
