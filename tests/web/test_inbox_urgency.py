"""The inbox list's sentiment badge, waiting time and "most urgent first" sort, through the
page on SQLite and PostgreSQL; the sort's query plan on SQLite."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from tortoise import connections

from bot.core.time import utcnow
from bot.models import (
    Conversation,
    ConversationStatus,
    Message,
    SentimentCorrection,
    SentimentScore,
    User,
)
from bot.services import inbox_urgency
from tests.conftest import Shop, message
from tests.web.test_web import as_admin, login

ROW = re.compile(r'<tr data-id="(\d+)">(.*?)</tr>', re.S)


async def ask(shop: Shop, contact: str, text: str, minutes_ago: int) -> tuple[int, int]:
    """An inbound message from ``contact``, stored ``minutes_ago``: (conversation, message)."""
    body = await (await shop.inbound(message(contact=contact, text=text))).json()
    cid = int(body["conversation_id"])
    mid = (await Message.get(conversation_id=cid, text=text)).id
    await Message.filter(id=mid).update(created_at=utcnow() - timedelta(minutes=minutes_ago))
    return cid, mid


async def score(mid: int, label: str, model: str = "m1") -> None:
    await SentimentScore.create(item_kind="message", item_id=mid, label=label, score=0.9,
                                model_version=model)


async def answer(shop: Shop, cid: int, sender: int | None) -> None:
    """An outbound message in ``cid``: a person's (a sender) or the bot's (none)."""
    await Message.create(conversation_id=cid, channel_account_id=shop.seed["api_account_id"],
                         direction="out", text="On it", sender_id=sender, status="sent",
                         origin="" if sender else "bot")


def rows(page: str) -> dict[int, str]:
    return {int(cid): body for cid, body in ROW.findall(page)}


async def shop_state(shop: Shop) -> dict[str, int]:
    """Five open conversations, each waiting (or not) and scored as its name says."""
    admin = await User.get(email=shop.seed["email"])
    c: dict[str, int] = {}
    # neutral, waiting an hour; the model said negative, a person corrected it to neutral
    c["neutral_60"], m = await ask(shop, "n60", "Where is my parcel?", 60)
    await score(m, "negative")
    await SentimentCorrection.create(item_kind="message", item_id=m, text="x",
                                     label="neutral", model_label="negative")
    # negative now (its newest scored message; a newer model too), waiting since its
    # first unanswered message, 25 minutes ago
    c["negative_20"], m = await ask(shop, "neg20", "Thanks!", 25)
    await score(m, "positive")
    _, m = await ask(shop, "neg20", "Still nothing, this is awful", 20)
    await score(m, "neutral", "m1")
    await score(m, "negative", "m2")
    # nobody scored it, waiting two hours; the bot's answer is not a person's
    c["unscored_120"], _ = await ask(shop, "u120", "Hello?", 120)
    await answer(shop, c["unscored_120"], None)
    # negative but a person answered: nobody waits
    c["answered"], m = await ask(shop, "ans", "Broken on arrival", 300)
    await score(m, "negative")
    await answer(shop, c["answered"], admin.id)
    # waits long, but it is pending: not in the open list's waiting
    c["pending"], _ = await ask(shop, "pend", "I'll check and come back", 600)
    await Conversation.filter(id=c["pending"]).update(status=ConversationStatus.PENDING)
    return c


async def test_sentiment_waiting_and_urgent_sort(shop_any_db: Shop) -> None:
    shop = shop_any_db
    c = await shop_state(shop)
    await as_admin(shop)
    resp = await shop.client.get("/inbox?status=open&sort=urgent")
    assert resp.status == 200
    page = await resp.text()
    order = [int(i) for i, _ in ROW.findall(page)]
    # 2 h x1 = 7200 > 25 min x4 = 6000 > 1 h x1 = 3600 > nobody waiting
    assert order == [c["unscored_120"], c["negative_20"], c["neutral_60"], c["answered"]]
    found = rows(page)
    assert 'class="badge sentiment negative"' in found[c["negative_20"]]
    assert ">Negative</span>" in found[c["negative_20"]]
    assert ">Neutral</span>" in found[c["neutral_60"]]  # the correction wins
    assert "sentiment" not in found[c["unscored_120"]]
    assert ">waiting 25 minutes</span>" in found[c["negative_20"]]
    assert ">waiting 1 hour</span>" in found[c["neutral_60"]]
    assert ">waiting 2 hours</span>" in found[c["unscored_120"]]
    assert "waiting" not in found[c["answered"]] and ">Negative<" in found[c["answered"]]
    assert '<option value="urgent" selected>Most urgent first</option>' in page
    assert "&sort=urgent" in page  # the status tabs keep the sort
    # the default order stays newest activity first, badges shown there too
    recent = await (await shop.client.get("/inbox?status=all")).text()
    assert [int(i) for i, _ in ROW.findall(recent)] == sorted(c.values(), reverse=True)
    assert "waiting" not in rows(recent)[c["pending"]]
    assert ">waiting 2 hours</span>" in rows(recent)[c["unscored_120"]]


async def test_unknown_sort_is_a_400_and_roles_hold(shop_any_db: Shop) -> None:
    shop = shop_any_db
    await as_admin(shop)
    bad = await shop.client.get("/inbox?sort=loudest")
    assert bad.status == 400 and "Unknown sort" in await bad.text()
    marketer = await shop.add_user("marketer")
    shop.client.session.cookie_jar.clear()
    await login(shop, marketer["email"], marketer["password"])
    assert (await shop.client.get("/inbox?sort=urgent")).status == 403


async def test_urgent_sort_reads_messages_and_scores_by_index(shop: Shop) -> None:
    await shop_state(shop)
    qs = inbox_urgency.ordered(Conversation.filter(status=ConversationStatus.OPEN), "urgent")
    sql = qs.limit(25).values(*inbox_urgency.FIELDS).sql(params_inline=True)
    plan: list[dict[str, Any]] = await connections.get("default").execute_query_dict(
        f"EXPLAIN QUERY PLAN {sql}")
    steps = [str(p["detail"]) for p in plan]
    # no table is read whole but the conversations' status index range
    assert not [s for s in steps if s.startswith("SCAN") and "INDEX" not in s], steps
    assert any("msg_conv_dir" in s for s in steps), steps
    # the scores and corrections are looked up per message, never walked per kind
    for table in ("sentiment_scores", "sentiment_corrections"):
        used = [s for s in steps if table in s]
        assert used and all("item_kind=? AND item_id=?" in s for s in used), steps
    assert any("conversations" in s and "conv_status_last" in s for s in steps), steps
