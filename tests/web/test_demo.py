"""The demo shop (``SWITCHBOARD_DEMO_CONTENT``): seeded on SQLite and PostgreSQL, it fills
the inbox, the dashboard, the posts page, the reports and a broadcast's results with
concrete figures; it seeds once; it is marked by a banner whose button (admins, CSRF)
removes exactly the demo rows in one transaction; with the switch off the shop is empty."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from bot.models import (
    Broadcast,
    ChannelAccount,
    Contact,
    Conversation,
    Label,
    MailSend,
    Mention,
    Message,
    Post,
    Review,
    SentimentFact,
    SentimentScore,
    Sequence,
    ShopEvent,
    StaffAlert,
    User,
)
from bot.services import demo
from bot.services.demo import removal
from bot.services.demo.shop import FAILED_POST_ERROR
from config import Settings
from tests.conftest import Shop, message, start_shop
from tests.web.test_web import CSRF, as_admin, login

BANNER = "Remove all demo data"
SHOWN_ERROR = "Telegram: Bad Request: chat not found (demo)"  # on a page, any language


async def demo_shop(aiohttp_client: Any, settings: Settings) -> Shop:
    return await start_shop(aiohttp_client, settings.with_(demo_content=True))


async def text(shop: Shop, path: str) -> str:
    resp = await shop.client.get(path)
    assert resp.status == 200, path
    return await resp.text()


async def figures(shop: Shop, key: str) -> dict[str, Any]:
    status, body = await shop.api("GET", f"/api/v1/reports/{key}")
    assert status == 200, body
    return {f["key"]: f["value"] for f in body["figures"]}


async def counts() -> dict[str, int]:
    return {"accounts": await ChannelAccount.all().count(),
            "contacts": await Contact.all().count(),
            "conversations": await Conversation.all().count(),
            "messages": await Message.all().count(), "posts": await Post.all().count(),
            "reviews": await Review.all().count(), "mails": await MailSend.all().count(),
            "events": await ShopEvent.all().count(), "mentions": await Mention.all().count(),
            "scores": await SentimentScore.all().count(),
            "sentiment_facts": await SentimentFact.all().count(),
            "broadcasts": await Broadcast.all().count(),
            "sequences": await Sequence.all().count()}


async def test_demo_shop_fills_the_pages(aiohttp_client: Any, any_db: Settings) -> None:
    shop = await demo_shop(aiohttp_client, any_db)
    await as_admin(shop)
    inbox = await text(shop, "/inbox")
    assert "Somchai Prasert (demo)" in inbox and "Inbox Zero" not in inbox
    assert BANNER in inbox  # the banner, with the admin's button

    status, body = await shop.api("GET", "/api/v1/dashboard")
    assert status == 200
    tiles = {t["key"]: {f["key"]: f["value"] for f in t["figures"]} for t in body["tiles"]}
    assert tiles["conversations"] == {"open": 5, "waiting": 5}
    assert tiles["reviews"]["due_soon"] == 1  # 2 h before its 24 h deadline
    assert tiles["posts"]["failed"] == 1

    posts = await text(shop, "/posts")
    assert SHOWN_ERROR in posts and "Behind the scenes" in posts
    for post in await Post.all():  # each in the calendar's week of its day (shop time: UTC)
        assert post.due_at is not None
        week = await text(shop, f"/calendar?view=week&date={post.due_at.date().isoformat()}")
        assert f"/posts/{post.id}" in week, post.text
    assert sorted(p.status.value for p in await Post.all()) == [
        "failed", "published", "published", "scheduled", "scheduled"]

    assert await figures(shop, "csat") == {"average": 3.5, "ratings": 4, "asked": 4,
                                           "response_rate": 1.0}
    attribution = await figures(shop, "attribution")
    assert (attribution["revenue"], attribution["orders"], attribution["clicks"]) == (
        59.0, 1, 4)
    funnel = await figures(shop, "funnel")
    assert (funnel["entered"], funnel["checkout"], funnel["ordered"]) == (9, 6, 4)

    cast = await Broadcast.get(name="Spring sale (demo)")
    results = await text(shop, f"/broadcasts/{cast.id}")
    total = re.search(r'<tr id="total">(.*?)</tr>', results)
    assert total is not None
    cells = re.findall(r"<td>([^<]*)</td>", total.group(1))
    assert cells[0] == "9" and cells[2].startswith("7 ") and cells[3].startswith("3 ")
    assert cells[5].startswith("1 ") and cells[6] == "59.00"

    assert "Kanya R." in await text(shop, "/reviews")
    assert "demo shop" in await text(shop, "/listening")

    before = await counts()
    assert await demo.seed_content() is False  # seeding twice adds nothing
    assert await counts() == before


async def test_the_demo_failed_post_in_the_staff_language(aiohttp_client: Any,
                                                          any_db: Settings) -> None:
    """The demo's failed post is said as the publisher says it: on a Vietnamese page the
    dashboard's failed table (its title, the status) and the post's error and history
    are Vietnamese around Telegram's own words; the API keeps the codes and English."""
    shop = await demo_shop(aiohttp_client, any_db)
    await as_admin(shop)
    await User.filter(email=shop.seed["email"]).update(language="vi")
    home = html.unescape(await text(shop, "/"))
    before, table = home.split('<table class="tile-list" data-key="failed">', 1)
    table = table.split("</table>", 1)[0]
    assert before.rstrip().endswith("<h3>Thất bại</h3>")
    assert f"<td>thất bại</td><td>{SHOWN_ERROR}</td>" in table, table
    failed = await Post.get(status="failed")
    page = html.unescape(await text(shop, f"/posts/{failed.id}"))
    assert f'id="post-error">{SHOWN_ERROR}</div>' in page and f"“{SHOWN_ERROR}”" in page
    assert FAILED_POST_ERROR not in home + page  # the English form, network code first

    status, board = await shop.api("GET", "/api/v1/dashboard")
    tile = next(t for t in board["tiles"] if t["key"] == "posts")
    gone = next(t for t in tile["tables"] if t["key"] == "failed")
    assert status == 200 and gone["title"] == "Failed"
    assert [(r["status"], r["error"]) for r in gone["rows"]] == [("failed", FAILED_POST_ERROR)]
    status, body = await shop.api("GET", f"/api/v1/posts/{failed.id}")
    assert status == 200 and body["error"] == FAILED_POST_ERROR
    assert body["events"][-1]["reason"] == FAILED_POST_ERROR


async def test_remove_deletes_exactly_the_demo_rows(aiohttp_client: Any,
                                                    any_db: Settings) -> None:
    shop = await demo_shop(aiohttp_client, any_db)
    resp = await shop.inbound(message(contact="real-1", text="A real customer"))
    assert resp.status in (200, 201, 202), await resp.text()
    real = await Review.create(source="google", external_id="g1", rating=5, text="Great",
                               created=(await Review.first()).created)  # type: ignore[union-attr]
    await SentimentScore.create(item_kind="review", item_id=real.id, label="positive",
                                score=0.9, model_version="real")
    # what the running pipeline adds to demo items: a real model's score, a deadline alert
    piotr = await Review.get(author="Piotr W.")
    await SentimentScore.create(item_kind="review", item_id=piotr.id, label="negative",
                                score=0.9, model_version="e5s")
    await StaffAlert.create(kind="review", key=f"review:{piotr.id}", title="Due")
    await StaffAlert.create(kind="review", key=f"review:{real.id}", title="Real")
    agent = await shop.add_user("agent")
    before = await counts()

    csrf = await login(shop, agent["email"], agent["password"])
    assert BANNER not in await text(shop, "/inbox")  # the button is the admins'
    resp = await shop.client.post("/admin/demo/remove", data={"csrf_token": csrf})
    assert resp.status == 403
    csrf = await as_admin(shop)
    resp = await shop.client.post("/admin/demo/remove", data={"csrf_token": "wrong"})
    assert resp.status == 403 and await demo.present()
    resp = await shop.client.post("/admin/demo/remove", data={"csrf_token": csrf},
                                  allow_redirects=False)
    assert resp.status == 302 and not await demo.present()

    after = await counts()
    assert after == {"accounts": before["accounts"] - 5, "contacts": 1,
                     "conversations": 1, "messages": 1, "posts": 0, "reviews": 1,
                     "mails": 0, "events": 0, "mentions": 0, "scores": 1,
                     "sentiment_facts": 0, "broadcasts": 0,
                     "sequences": before["sequences"] - 1}  # the built-in ones stay
    assert await ChannelAccount.filter(name__endswith="(demo)").count() == 0
    assert await Label.filter(name="demo").count() == 0
    assert await StaffAlert.all().values_list("title", flat=True) == ["Real"]
    assert await User.filter(email=shop.seed["email"]).exists()
    conv = await Conversation.get()
    assert (await conv.contact).name == "Ann Lee"
    page = await text(shop, "/inbox")
    assert "Ann Lee" in page and BANNER not in page and "(demo)" not in page
    assert await figures(shop, "csat") == {"average": None, "ratings": 0, "asked": 0,
                                           "response_rate": None}
    attribution = await figures(shop, "attribution")
    assert (attribution["revenue"], attribution["orders"]) == (0, 0)
    assert (await figures(shop, "funnel"))["entered"] == 0
    status, body = await shop.api("GET", "/api/v1/dashboard")
    tiles = {t["key"]: {f["key"]: f["value"] for f in t["figures"]} for t in body["tiles"]}
    assert tiles["conversations"] == {"open": 1, "waiting": 1}


async def test_remove_is_one_transaction(aiohttp_client: Any, any_db: Settings,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    await demo_shop(aiohttp_client, any_db)
    before = await counts()

    async def broken(conn: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(removal, "_drop_labels", broken)
    with pytest.raises(RuntimeError):
        await demo.remove()
    assert await counts() == before and await demo.present()


async def test_switch_off_starts_empty(aiohttp_client: Any, any_db: Settings) -> None:
    shop = await start_shop(aiohttp_client, any_db)  # the tests' settings: content off
    assert shop.seed["email"] and not await demo.present()
    assert await Conversation.all().count() == 0 and await Post.all().count() == 0
    page = await text(shop, "/login")
    assert CSRF.search(page)
    await as_admin(shop)
    inbox = await text(shop, "/inbox")
    assert "Inbox Zero" in inbox and BANNER not in inbox


async def test_seed_demo_false_starts_with_nothing(aiohttp_client: Any,
                                                   any_db: Settings) -> None:
    shop = await start_shop(aiohttp_client, any_db.with_(seed_demo=False, demo_content=True))
    assert shop.seed == {}
    assert await User.all().count() == 0 and await ChannelAccount.all().count() == 0
    assert await Conversation.all().count() == 0 and not await demo.present()
