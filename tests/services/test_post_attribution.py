"""Orders attributed to posts: a published post's links go through our signed redirect
(counted, then on with UTM parameters), and an order that landed with
``utm_campaign=post-<id>`` within the window is credited to the post in the attribution
report, to the cent, last or first touch among the contact's mail clicks; on SQLite and
PostgreSQL."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.core.time import utcnow
from bot.models import (
    Broadcast,
    ChannelAccount,
    Contact,
    Enrollment,
    MailSend,
    Post,
    PostClick,
    PostStatus,
    PostVariant,
    Segment,
    Sequence,
    User,
)
from bot.services.reports import REPORTS, Filters
from bot.services.reports.shop_facts import refresh
from config import Settings
from scheduler.marketing import webhooks
from scheduler.marketing.events import ContactFields, record_event
from scheduler.posts import service as posts
from scheduler.posts.links import LinkTracker, with_utm
from tests.channels.test_telegram import Telegram, connect, fake_api, until
from tests.conftest import Shop, make_settings, start_shop
from tests.fakes.telegram_api import FakeTelegram

__all__ = ["fake_api"]
CHANNEL = "@shopnews"
BASE = "https://shop.example.test"  # make_settings' public_url


async def telegram(aiohttp_client: Any, tmp_path: Path, fake: tuple[FakeTelegram, str],
                   **over: Any) -> Telegram:
    shop = await start_shop(aiohttp_client, make_settings(tmp_path, **over))
    return await connect(shop, *fake, "polling")


async def publish(tg: Telegram, text: str) -> tuple[Post, str]:
    """Queue a post to the fake channel now; its text as the channel got it."""
    marketer = await User.get(email=tg.shop.seed["email"])
    post = await Post.create(text=text, created_by=marketer)
    await PostVariant.create(post=post, channel_account_id=tg.account["id"],
                             network="telegram", target=CHANNEL)
    await posts.move(post.id, PostStatus.SCHEDULED, marketer, due_at=datetime.now(UTC))

    async def published() -> Post | None:
        got = await Post.get(id=post.id)
        return got if got.status == PostStatus.PUBLISHED else None
    await until(published)
    sent = [s for s in tg.bot.sent if s["chat_id"] == CHANNEL]
    return post, html.unescape(sent[-1]["text"])


async def test_a_published_post_carries_tracked_links_that_count_and_redirect(
        aiohttp_client: Any, tmp_path: Path, fake_api: tuple[FakeTelegram, str]) -> None:
    tg = await telegram(aiohttp_client, tmp_path, fake_api)
    post, text = await publish(
        tg, "Boots are back: https://shop.example/boots?color=red&utm_source=news. "
            "Sizes (https://shop.example/wiki/Size_(EU)) and mailto:help@shop.example")
    variant = await PostVariant.get(post_id=post.id)
    tracked = re.findall(r"https://shop\.example\.test/p/[^\s)]+?(?=\.?(?:\s|\)|$))", text)
    assert len(tracked) == 2, text
    assert text.startswith("Boots are back: https://shop.example.test/p/")
    assert ". Sizes (https://shop.example.test/p/" in text and text.endswith(
        ") and mailto:help@shop.example")  # punctuation stays outside, mailto as written
    client = tg.shop.client

    first = await client.get(tracked[0].removeprefix(BASE), allow_redirects=False)
    assert first.status == 302
    assert first.headers["Location"] == (
        "https://shop.example/boots?color=red&utm_source=news&utm_medium=social"
        f"&utm_campaign=post-{post.id}")  # its own utm_source is kept
    second = await client.get(tracked[1].removeprefix(BASE), allow_redirects=False)
    assert second.status == 302 and second.headers["Location"] == (
        "https://shop.example/wiki/Size_(EU)?utm_source=telegram&utm_medium=social"
        f"&utm_campaign=post-{post.id}")
    clicks = await PostClick.filter(post_id=post.id).order_by("id").values(
        "variant_id", "network")
    assert clicks == [{"variant_id": variant.id, "network": "telegram"}] * 2

    path = tracked[0].removeprefix(BASE)
    head, _, query = path.partition("?")
    forged = [head[:-1] + ("A" if head[-1] != "A" else "B") + "?" + query,  # the mac
              path.replace("boots", "boats"),  # another URL under the same mac
              head.replace(f"/p/{variant.id}/", f"/p/{variant.id + 1}/") + "?" + query,
              head + "?u=javascript%3Aalert(1)", head]
    for bad in forged:
        got = await client.get(bad, allow_redirects=False)
        assert got.status == 404 and "Location" not in got.headers, bad
    assert await PostClick.filter(post_id=post.id).count() == 2  # nothing counted


async def test_tracking_off_or_over_the_limit_keeps_links_as_written(
        aiohttp_client: Any, tmp_path: Path, fake_api: tuple[FakeTelegram, str]) -> None:
    tg = await telegram(aiohttp_client, tmp_path, fake_api, track_post_links=False)
    _, text = await publish(tg, "As written: https://shop.example/boots")
    assert text == "As written: https://shop.example/boots"

    links = LinkTracker(BASE, "k" * 32)
    grows = len(links.url(7, "https://shop.example/a")) - len("https://shop.example/a")
    tail = " https://shop.example/a https://shop.example/b"
    near = "x" * (4096 - len(tail) - grows - 1) + tail  # room for one tracked link
    got = links.text(7, "telegram", near, with_media=False)  # 4096 characters at most
    assert len(got) <= 4096 and got.count("/p/7/") == 1 and got.endswith(
        " https://shop.example/b")  # the first fits, the second would not
    caption = "y" * 1000 + " https://shop.example/c"  # a caption: 1024 at most
    assert links.text(7, "telegram", caption, with_media=True) == caption
    assert "/p/7/" in links.text(7, "telegram", caption, with_media=False)
    assert with_utm("https://s.example/p?utm_campaign=spring#top", "facebook", 3) == (
        "https://s.example/p?utm_campaign=spring&utm_source=facebook&utm_medium=social#top")


@pytest.fixture
async def shop(aiohttp_client: Any, any_db: Settings) -> Shop:
    return await start_shop(aiohttp_client, any_db.with_(
        clock_seconds=3600, shop_timezone="UTC", attribution_days=7))


_n = 0


async def mail(who: Contact, clicked: datetime, **campaign: Any) -> None:
    global _n
    _n += 1
    await MailSend.create(key=f"m{_n}", contact=who, to=who.email or "",
                          message_id=f"<m{_n}@x>", state="sent", sent_at=clicked,
                          clicked_at=clicked, clicks=1, **campaign)


async def a_post(text: str, published: datetime, *clicks: datetime) -> Post:
    account = await ChannelAccount.filter(kind="api").first()
    post = await Post.create(text=text, status=PostStatus.PUBLISHED)
    variant = await PostVariant.create(post=post, channel_account=account,
                                       network="telegram", target=CHANNEL, state="done",
                                       published_at=published)
    for at in clicks:
        await PostClick.create(post_id=post.id, variant_id=variant.id, network="telegram",
                               at=at)
    return post


async def order_by_api(email: str, at: datetime, total: str, **landed: str) -> None:
    await record_event("order_placed", "api", f"o-{email}", ContactFields(email),
                       {"total": total, "currency": "USD", **landed}, at)


async def test_orders_from_posts_are_attributed_last_or_first_touch(shop: Shop) -> None:
    now = utcnow()
    days = lambda n: now - timedelta(days=n)  # noqa: E731
    boots = await a_post("Boots are back https://shop.example/boots", days(20),
                         days(10), days(3))
    old = await a_post("Old news", days(30), days(9))
    fresh = await a_post("Fresh\nnews", days(1))  # no click recorded: its publish time
    cast = await Broadcast.create(name="Spring sale", segment=await Segment.create(name="A"),
                                  subject_a="Sale", body="b")
    drip = await Sequence.create(key="post-attr", name="Welcome", trigger="signup")
    ann = await Contact.create(name="Ann", email="ann@x.test")
    bob = await Contact.create(name="Bob", email="bob@x.test")
    # Ann: the post's touch (its latest click, 3 days ago), then a mail click, then her
    # Shopify order landing from the post: last touch the broadcast, first touch the post.
    await mail(ann, days(2), broadcast=cast)
    body = {"email": "ann@x.test", "total_price": "49.95", "currency": "USD",
            "customer": {"first_name": "Ann"}, "line_items": [],
            "landing_site": f"/products/boots?utm_source=telegram&utm_medium=social"
                            f"&utm_campaign=post-{boots.id}"}
    assert not isinstance(await webhooks.shopify("orders/create", "d1",
                                                 json.dumps(body).encode()), str)
    # Bob: a sequence mail 5 days ago, then the post's touch: last touch the post.
    await Enrollment.create(sequence=drip, contact=bob, started_at=days(6))
    await mail(bob, days(5), enrollment=await Enrollment.get(contact=bob))
    await order_by_api("bob@x.test", now, "12.34",
                       landing_url=f"https://shop.example/boots?utm_campaign=post-{boots.id}")
    # Cy: from the old post, its latest click 9 days ago (out of the 7-day window).
    await order_by_api("cy@x.test", now, "100.00", utm_campaign=f"post-{old.id}")
    # Dee: the fresh post, never clicked (as far as we know): published a day ago.
    await order_by_api("dee@x.test", now, "7.00", utm_campaign=f"POST-{fresh.id}")
    # Eve: a post that does not exist; Fay: another campaign.
    await order_by_api("eve@x.test", now, "3.00", utm_campaign="post-999999")
    await order_by_api("fay@x.test", now, "5.00",
                       landing_url="https://shop.example/?utm_campaign=spring")
    while await refresh(limit=2):  # small batches
        pass
    span = Filters(days(30).date(), now.date())

    last = await REPORTS["attribution"].build(span)
    got = [(r["kind"], r["campaign_id"], r["campaign"], r["clicks"], r["orders"],
            r["revenue"]) for r in last.table("campaigns").rows]
    assert got == [
        ("broadcast", cast.id, "Spring sale", 1, 1, Decimal("49.95")),
        ("post", boots.id, "Boots are back https://shop.example/boots", 2, 1,
         Decimal("12.34")),
        ("post", fresh.id, "Fresh news", 0, 1, Decimal("7.00")),
        ("post", old.id, "Old news", 1, 0, Decimal("0.00")),
        ("sequence", drip.id, "Welcome", 1, 0, Decimal("0.00"))]
    figures = {f.key: f.value for f in last.figures}
    assert figures["revenue"] == Decimal("69.29") and figures["orders"] == 3
    assert figures["clicks"] == 5

    first = await REPORTS["attribution"].build(
        Filters(span.start, span.end, extra=(("model", "first"),)))
    assert [(r["kind"], r["campaign_id"], r["orders"], r["revenue"])
            for r in first.table("campaigns").rows] == [
        ("post", boots.id, 1, Decimal("49.95")), ("sequence", drip.id, 1, Decimal("12.34")),
        ("post", fresh.id, 1, Decimal("7.00")), ("broadcast", cast.id, 0, Decimal("0.00")),
        ("post", old.id, 0, Decimal("0.00"))]
