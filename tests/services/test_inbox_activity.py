"""What the inbox reports need the inbox to record, through the real services, on SQLite
(the ingest writer thread) and PostgreSQL (the ORM writer): resolves and reopens (by the
customer writing again and by staff) in the activity log, the bot's hand-offs, the
questions the FAQ could not answer, and a CSAT rating's comment; then the roll-up."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.core.time import utcnow
from bot.models import (
    Conversation,
    ConversationEvent,
    ConversationFact,
    CsatRating,
    FaqMiss,
    Followup,
    Message,
    User,
)
from bot.services.flows.customer import COMMENT_WINDOW
from bot.services.inbox import INTAKE
from bot.services.reports import (
    REPORTS,
    Filters,
    catalog,  # noqa: F401  (registers the reports)
)
from bot.services.reports.inbox_facts import refresh
from bot.services.reports.marks import Conflict
from config import Settings
from tests.channels.test_telegram import until
from tests.conftest import Shop, message, start_shop
from tests.services.test_bot import Visitor, bot_shop, conversation_of


@pytest.fixture
async def quiet(aiohttp_client: Any, any_db: Settings) -> Shop:
    shop = await start_shop(aiohttp_client, any_db.with_(clock_seconds=3600))
    shop.client.app[INTAKE].kick = None
    return shop


async def refresh_beside_the_clock() -> None:
    """Refresh the facts while the app's own clock job ("reports") may be refreshing them
    too: the compare-and-set rolls one run back (Conflict) by design, and the next run
    counts what it left, as the clock's next tick would."""
    for _ in range(20):
        try:
            await refresh()
            return
        except Conflict:
            await asyncio.sleep(0.1)
    raise AssertionError("the facts' mark moved under every one of 20 refreshes")


async def events(conversation_id: int) -> list[tuple[str, int | None]]:
    return [(e.kind, e.actor_id) for e in
            await ConversationEvent.filter(conversation_id=conversation_id).order_by("id")]


async def test_resolves_and_reopens_are_logged_with_the_change(quiet: Shop,
                                                               any_db: Settings) -> None:
    resp = await quiet.inbound(message("r-1", text="My parcel is late"))
    cid = (await resp.json())["conversation_id"]
    status, _ = await quiet.api("POST", f"/api/v1/conversations/{cid}/reply",
                                json={"text": "Checking now"})
    assert status == 201
    me = await User.filter(role="admin").order_by("id").first()
    assert me is not None
    status, _ = await quiet.api("POST", f"/api/v1/conversations/{cid}/status",
                                json={"status": "resolved"})
    assert status == 200
    # Resolving twice is one resolve.
    await quiet.api("POST", f"/api/v1/conversations/{cid}/status", json={"status": "resolved"})
    assert await events(cid) == [("resolved", me.id)]

    # The customer writes again within the reopen window: the ingest writer reopens it
    # and logs the reopen in the same transaction (no staff member: actor null).
    resp = await quiet.inbound(message("r-2", text="Still nothing"))
    assert (await resp.json())["conversation_id"] == cid
    assert await events(cid) == [("resolved", me.id), ("reopened", None)]
    # A redelivery reopens nothing.
    await quiet.inbound(message("r-2", text="Still nothing"))
    await quiet.api("POST", f"/api/v1/conversations/{cid}/status", json={"status": "resolved"})
    # Staff reopen it by hand; setting open again logs nothing more.
    await quiet.api("POST", f"/api/v1/conversations/{cid}/status", json={"status": "open"})
    await quiet.api("POST", f"/api/v1/conversations/{cid}/status", json={"status": "open"})
    assert await events(cid) == [("resolved", me.id), ("reopened", None),
                                 ("resolved", me.id), ("reopened", me.id)]

    assert await refresh() >= 1
    fact = await ConversationFact.get(conversation_id=cid)
    assert (fact.reopens, fact.resolved_at, fact.msgs_in, fact.msgs_out, fact.human_out,
            fact.agent_id) == (2, None, 2, 1, 1, me.id)
    assert fact.frt_cal is not None and fact.frt_cal == fact.frt_biz  # no office hours
    # The default targets (one for every channel, 1h/24h): within both.
    today = utcnow().astimezone(ZoneInfo(any_db.shop_timezone)).date()
    sla = await REPORTS["sla"].build(Filters(today - timedelta(days=1), today))
    assert {f.key: f.value for f in sla.figures}["frt_met"] >= 1
    assert {f.key: f.value for f in sla.figures}["res_breached"] == 0


async def test_setting_a_resolved_conversation_aside_is_no_reopen(quiet: Shop) -> None:
    resp = await quiet.inbound(message("a-1", text="Where is my order?"))
    cid = (await resp.json())["conversation_id"]
    me = await User.filter(role="admin").order_by("id").first()
    assert me is not None
    later = (utcnow() + timedelta(days=1)).isoformat()
    for change in ({"status": "resolved"}, {"status": "pending"}, {"status": "resolved"},
                   {"status": "snoozed", "snoozed_until": later}):
        status, _ = await quiet.api("POST", f"/api/v1/conversations/{cid}/status",
                                    json=change)
        assert status == 200, change
    # resolved -> pending and resolved -> snoozed: nobody took it back, nothing logged
    assert await events(cid) == [("resolved", me.id), ("resolved", me.id)]
    await quiet.api("POST", f"/api/v1/conversations/{cid}/status", json={"status": "resolved"})
    await quiet.api("POST", f"/api/v1/conversations/{cid}/status", json={"status": "open"})
    assert await events(cid) == [("resolved", me.id), ("resolved", me.id),
                                 ("resolved", me.id), ("reopened", me.id)]


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(request: pytest.FixtureRequest, aiohttp_client: Any, tmp_path: Path) -> Shop:
    over: dict[str, Any] = {}
    if request.param == "postgres":
        over["database_url"] = request.getfixturevalue("postgres").create_db()
    return await bot_shop(aiohttp_client, tmp_path, **over)


async def test_handoff_unanswered_question_and_csat_comment(bot: Shop) -> None:
    v = await Visitor(bot).open()
    first = await v.say("hi there")
    await v.reply()  # the greeting: a first "hi" is no question for the FAQ
    conv = await conversation_of(first)
    await v.say("do you sell gift cards?")
    assert "did not understand" in (await v.reply())["text"]
    await v.say("Talk to a person", payload="human")
    await v.reply()
    assert [(m.question, m.normalized) for m in await FaqMiss.all()] == [
        ("do you sell gift cards?", "do you sell gift cards")]
    assert await events(conv.id) == [("handoff", None)]

    status, _ = await bot.api("POST", f"/api/v1/conversations/{conv.id}/reply",
                              json={"text": "Yes, we do!"})
    assert status == 201
    await v.reply()
    await bot.api("POST", f"/api/v1/conversations/{conv.id}/status", json={"status": "resolved"})
    await v.reply()  # the survey
    await v.say("4", payload="csat:4")
    await v.reply()
    said = await v.say("Quick and kind, thanks")

    async def commented() -> bool:
        return bool(await CsatRating.filter(conversation_id=conv.id,
                                            comment="Quick and kind, thanks").exists())

    await until(commented)
    assert [(r.rating, r.comment) for r in await CsatRating.filter(conversation_id=conv.id)
            ] == [(4, "Quick and kind, thanks")]
    # The comment was kept, not answered: the bot sent nothing after its thanks.
    assert not await Message.filter(conversation_id=conv.id, direction="out",
                                    id__gt=said).exists()
    await refresh_beside_the_clock()
    fact = await ConversationFact.get(conversation_id=conv.id)
    assert (fact.handed_off, fact.bot_only, fact.csat_asked, fact.csat_n, fact.csat_sum,
            fact.human_out) == (1, 0, 1, 1, 4, 1)


async def test_after_a_rating_a_person_asked_for_or_late_words_are_no_comment(bot: Shop
                                                                              ) -> None:
    v = await Visitor(bot).open()
    conv = await conversation_of(await v.say("Talk to a person", payload="human"))
    await v.reply()
    status, _ = await bot.api("POST", f"/api/v1/conversations/{conv.id}/reply",
                              json={"text": "Here I am"})
    assert status == 201
    await v.reply()
    status, _ = await bot.api("POST", f"/api/v1/conversations/{conv.id}/assign",
                              json={"assignee": "me"})  # a person has it: the bot is silent
    assert status == 200

    async def rated(stars: int) -> None:
        await bot.api("POST", f"/api/v1/conversations/{conv.id}/status",
                      json={"status": "resolved"})
        await v.reply()  # the survey
        await v.say(str(stars), payload=f"csat:{stars}")
        await v.reply()  # the thanks

    async def handled(message_id: int) -> None:
        async def done() -> bool:
            return not await Followup.filter(message_id=message_id).exists()
        await until(done)

    await rated(2)
    said = await v.say("I still need a person")
    assert "person" in (await v.reply())["text"]  # the hand-off's answer, not silence
    assert [kind for kind, _ in await events(conv.id)][-1:] == ["handoff"]
    assert [kind for kind, _ in await events(conv.id)].count("handoff") == 2
    assert [r.comment for r in await CsatRating.filter(conversation_id=conv.id)] == [""]
    after = await Conversation.get(id=conv.id)
    assert after.needs_human and after.assignee_id is not None  # type: ignore[attr-defined]

    # Words more than COMMENT_WINDOW after the rating are a new message, not its comment.
    await rated(5)
    rating = await Message.filter(conversation_id=conv.id, payload="csat:5").get()
    await Message.filter(id=rating.id).update(
        created_at=rating.created_at - COMMENT_WINDOW - timedelta(seconds=1))
    said = await v.say("Also, my box was wet")
    await handled(said)
    assert [r.comment for r in await CsatRating.filter(conversation_id=conv.id).order_by(
        "id")] == ["", ""]

