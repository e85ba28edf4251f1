"""The inbox reports over a small known history, every figure to the second, on SQLite and
PostgreSQL: office hours mon-fri 09:00-18:00 in Asia/Bangkok (UTC+7), SLA targets
``*=1h/1h, webchat=15m/8h``. The week reported is Mon 2026-03-02 .. Sun 2026-03-08 (local);
the previous period is the week before.

    C1 api, vip   Fri 17:30 opened; A1 answers Mon 09:10 (40 min business, 63h40m
                  calendar); resolved Mon 10:00 (90 min business: across the weekend);
                  rated 5 "Great help" (one survey)
    C2 webchat    Tue 10:00 opened; A2 answers 10:20 (late: webchat 15 min); resolved 11:00,
                  the customer writes 12:00 (reopen), A1 answers 12:30, resolved 13:00;
                  rated 2 (two surveys)
    C3 webchat    Wed 20:00 "Do you ship to Mars?": the bot answers, alone
    C4 api        Thu 09:00 "Do you ship to Mars??": the bot answers, hand-off 09:01,
                  A1 answers 09:31; open
    C6 api        Mon 06:00 local (Sun 23:00 UTC: the local day counts), unanswered
    C5 api        the week before: Mon 02-23 09:00, A1 answers 09:05, resolved 09:30
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.models import (
    ChannelAccount,
    Contact,
    Conversation,
    ConversationEvent,
    ConversationFact,
    CsatRating,
    FaqMiss,
    Label,
    Message,
    User,
)
from bot.services.reports import (
    REPORTS,
    Filters,
    Report,
    catalog,  # noqa: F401  (registers the reports)
)
from bot.services.reports.inbox import sla_report
from bot.services.reports.inbox_facts import configure, refresh
from config import Settings
from tests.conftest import Shop, start_shop

BKK = timedelta(hours=7)
WEEK = Filters(date(2026, 3, 2), date(2026, 3, 8))
CSAT_BUTTONS = [{"label": str(n), "payload": f"csat:{n}"} for n in range(1, 6)]


def at(day: int, hh: int, mm: int = 0, ss: int = 0, month: int = 3) -> datetime:
    """A local (Bangkok) time in 2026, as UTC."""
    return datetime(2026, month, day, hh, mm, ss, tzinfo=UTC) - BKK


@pytest.fixture
async def shop(aiohttp_client: Any, any_db: Settings) -> Shop:
    settings = any_db.with_(office_hours="mon-fri 09:00-18:00", shop_timezone="Asia/Bangkok",
                            sla_targets="*=1h/1h, webchat=15m/8h", clock_seconds=3600)
    shop = await start_shop(aiohttp_client, settings)
    configure(settings)
    return shop


class History:
    def __init__(self) -> None:
        self.convs: dict[str, Conversation] = {}

    async def build(self) -> None:
        api = await ChannelAccount.create(kind="api", name="Known api", secret="s" * 32)
        web = await ChannelAccount.create(kind="webchat", name="Known web", secret="t" * 32)
        self.a1 = await User.create(email="a1@shop.test", name="Anna", role="agent")
        self.a2 = await User.create(email="a2@shop.test", name="Binh", role="agent")
        vip = await Label.create(name="vip")
        a1, a2 = self.a1.id, self.a2.id

        c1 = await self.conv("c1", api, at(6, 17, 30))
        await c1.labels.add(vip)
        await self.msg(c1, "in", at(6, 17, 30), "Where is my order?")
        await self.msg(c1, "out", at(9, 9, 10), "On its way", sender=a1)
        await self.resolve(c1, at(9, 10), a1)
        await self.msg(c1, "out", at(9, 10, 0, 1), "Rate us", origin="bot", survey=True)
        await self.msg(c1, "in", at(9, 10, 1), "5", payload="csat:5")
        await CsatRating.create(conversation=c1, rating=5, comment="Great help",
                                created_at=at(9, 10, 1))
        await self.msg(c1, "in", at(9, 10, 2), "Great help")

        c2 = await self.conv("c2", web, at(3, 10))
        await self.msg(c2, "in", at(3, 10), "Hello?")
        await self.msg(c2, "out", at(3, 10, 20), "Hi!", sender=a2)
        await self.resolve(c2, at(3, 11), a2)
        await self.msg(c2, "out", at(3, 11, 0, 1), "Rate us", origin="bot", survey=True)
        await self.msg(c2, "in", at(3, 11, 5), "2", payload="csat:2")
        await CsatRating.create(conversation=c2, rating=2, created_at=at(3, 11, 5))
        await self.msg(c2, "in", at(3, 12), "One more thing")
        await ConversationEvent.create(conversation_id=c2.id, kind="reopened", at=at(3, 12))
        await self.msg(c2, "out", at(3, 12, 30), "Sure", sender=a1)
        await self.resolve(c2, at(3, 13), a1)
        await self.msg(c2, "out", at(3, 13, 0, 1), "Rate us", origin="bot", survey=True)

        c3 = await self.conv("c3", web, at(4, 20))
        m = await self.msg(c3, "in", at(4, 20), "Do you ship to Mars?")
        await FaqMiss.create(conversation_id=c3.id, message_id=m.id, question=m.text,
                             normalized="do you ship to mars", created_at=at(4, 20))
        await self.msg(c3, "out", at(4, 20, 0, 5), "Here is our menu", origin="bot")

        c4 = await self.conv("c4", api, at(5, 9))
        m = await self.msg(c4, "in", at(5, 9), "Do you ship to Mars??")
        await FaqMiss.create(conversation_id=c4.id, message_id=m.id, question=m.text,
                             normalized="do you ship to mars", created_at=at(5, 9))
        await self.msg(c4, "out", at(5, 9, 0, 10), "Sorry?", origin="bot")
        await self.msg(c4, "in", at(5, 9, 1), "a person please")
        await self.msg(c4, "out", at(5, 9, 1, 5), "A person will answer", origin="bot")
        await ConversationEvent.create(conversation_id=c4.id, kind="handoff", at=at(5, 9, 1))
        await self.msg(c4, "out", at(5, 9, 31), "Hi, Anna here", sender=a1)

        c6 = await self.conv("c6", api, at(2, 6))
        await self.msg(c6, "in", at(2, 6), "Hello at dawn")

        c5 = await self.conv("c5", api, at(23, 9, month=2))
        await self.msg(c5, "in", at(23, 9, month=2), "Before")
        await self.msg(c5, "out", at(23, 9, 5, month=2), "Answer", sender=a1)
        await self.resolve(c5, at(23, 9, 30, month=2), a1)

    async def conv(self, name: str, account: ChannelAccount, opened: datetime) -> Conversation:
        contact = await Contact.create(name=name)
        conv = await Conversation.create(channel_account=account, channel_kind=account.kind,
                                         contact=contact, last_message_at=opened,
                                         created_at=opened)
        self.convs[name] = conv
        return conv

    async def msg(self, conv: Conversation, direction: str, when: datetime, text: str,
                  sender: int | None = None, origin: str = "", survey: bool = False,
                  payload: str | None = None) -> Message:
        return await Message.create(
            conversation=conv, channel_account_id=conv.channel_account_id,  # type: ignore[attr-defined]
            direction=direction, text=text, sender_id=sender, origin=origin,
            buttons=CSAT_BUTTONS if survey else [], payload=payload,
            status="received" if direction == "in" else "sent", created_at=when)

    async def resolve(self, conv: Conversation, when: datetime, actor: int) -> None:
        await Conversation.filter(id=conv.id).update(status="resolved", resolved_at=when)
        await ConversationEvent.create(conversation_id=conv.id, kind="resolved",
                                       actor_id=actor, at=when)


async def build(f: Filters, key: str) -> Report:
    return await REPORTS[key].build(f)


def figs(report: Report) -> dict[str, tuple[Any, Any]]:
    return {fig.key: (fig.value, fig.previous) for fig in report.figures}


H = 3600


async def test_every_inbox_figure_to_the_second(shop: Shop) -> None:
    h = History()
    await h.build()
    assert await refresh() >= 6
    c = {k: v.id for k, v in h.convs.items()}
    a1, a2 = h.a1.id, h.a2.id

    overview = await build(WEEK, "inbox-overview")
    assert figs(overview) == {"opened": (5, 1), "resolved": (2, 1), "reopened": (1, 0),
                              "reopens": (1, 0), "messages_in": (10, 1),
                              "messages_out": (10, 1)}
    volume = overview.table("volume").rows
    assert [(r["day"], r.get("api"), r.get("webchat"), r["total"]) for r in volume] == [
        ("2026-03-02", 1, 0, 1), ("2026-03-03", 0, 1, 1), ("2026-03-04", 0, 1, 1),
        ("2026-03-05", 1, 0, 1), ("2026-03-06", 1, 0, 1), ("2026-03-07", 0, 0, 0),
        ("2026-03-08", 0, 0, 0)]
    assert volume[1]["messages_in"] == 3 and volume[1]["messages_out"] == 4
    heat = {(r["weekday"], k): v for r in overview.table("heatmap").rows
            for k, v in r.items() if k != "weekday" and v}
    assert heat == {("Mon", "h06"): 1, ("Tue", "h10"): 1, ("Wed", "h20"): 1,
                    ("Thu", "h09"): 1, ("Fri", "h17"): 1}
    assert [ch.kind for ch in overview.charts] == ["stacked", "heatmap"]

    times = await build(WEEK, "response-times")
    assert figs(times) == {
        "frt_biz_median": (1860, 300), "frt_biz_p90": (2400, 300),
        "frt_cal_median": (1860, 300), "frt_cal_p90": (63 * H + 40 * 60, 300),
        "res_biz_median": (90 * 60, 1800), "res_biz_p90": (3 * H, 1800),
        "res_cal_median": (3 * H, 1800), "res_cal_p90": (64 * H + 30 * 60, 1800)}
    per_day = {r["day"]: r for r in times.table("per-day").rows}
    assert per_day["2026-03-06"]["frt_biz_median"] == 2400
    assert per_day["2026-03-06"]["frt_cal_median"] == 63 * H + 40 * 60
    assert per_day["2026-03-06"]["res_biz_p90"] == 5400
    assert (per_day["2026-03-03"]["opened"], per_day["2026-03-03"]["responded"],
            per_day["2026-03-03"]["res_cal_median"]) == (1, 1, 3 * H)
    assert per_day["2026-03-02"]["frt_biz_median"] is None
    assert per_day["2026-03-02"]["opened"] == 1

    # Still open and waiting, counted to the range's end (Sun 24:00, before now): C6
    # unanswered and unresolved (Mon..Fri: 45 h business), C3 (the bot only: Thu, Fri 18 h),
    # C4 answered in time but unresolved (18 h).
    sla = await build(WEEK, "sla")
    assert figs(sla) == {"frt_met": (2, 1), "frt_breached": (3, 0), "res_met": (1, 1),
                         "res_breached": (4, 0), "frt_rate": (2 / 5, 1.0),
                         "res_rate": (1 / 5, 1.0)}
    assert sla.table("channels").rows == [
        {"channel": "api", "frt_target": H, "res_target": H, "frt_met": 2,
         "frt_breached": 1, "res_met": 0, "res_breached": 3},
        {"channel": "webchat", "frt_target": 900, "res_target": 8 * H, "frt_met": 0,
         "frt_breached": 2, "res_met": 1, "res_breached": 1}]

    def row(name: str, kind: str, agent: str, target: str, late: int,
            state: str = "") -> dict[str, Any]:
        return {"conversation": f"/inbox/{c[name]}", "channel": kind, "agent": agent,
                "target": target, "late": late, "state": state}
    waiting = "still waiting"
    assert sla.table("breaches").rows == [
        row("c1", "api", "Anna", "resolution", 5400 - H),
        row("c4", "api", "Anna", "resolution", 17 * H, waiting),
        row("c3", "webchat", "", "first_response", 18 * H - 900, waiting),
        row("c3", "webchat", "", "resolution", 10 * H, waiting),
        row("c2", "webchat", "Binh", "first_response", 300),
        row("c6", "api", "", "first_response", 44 * H, waiting),
        row("c6", "api", "", "resolution", 44 * H, waiting)]
    # Built on Thu 12:00 (before the range's end): waited until then. C3 has waited 3 h
    # (within its 8 h to resolve), C4 3 h, C6 Mon..Wed and Thu morning: 30 h.
    thursday = await sla_report(WEEK, at(5, 12))
    assert [(r["conversation"], r["target"], r["late"]) for r in
            thursday.table("breaches").rows if r["state"]] == [
        (f"/inbox/{c['c4']}", "resolution", 2 * H),
        (f"/inbox/{c['c3']}", "first_response", 3 * H - 900),
        (f"/inbox/{c['c6']}", "first_response", 29 * H),
        (f"/inbox/{c['c6']}", "resolution", 29 * H)]
    assert figs(thursday)["frt_breached"] == (3, 0) and figs(thursday)["res_breached"] == (3, 0)

    agents = await build(WEEK, "agents")
    assert figs(agents) == {"agents": (2, 1), "handled": (4, 1), "replies": (4, 1)}
    assert agents.table("agents").rows == [
        {"agent_id": a1, "agent": "Anna", "handled": 3, "replies": 3,
         "frt_biz_median": 1860, "frt_cal_median": 1860, "csat_average": 5.0,
         "csat_count": 1},
        {"agent_id": a2, "agent": "Binh", "handled": 1, "replies": 1,
         "frt_biz_median": 1200, "frt_cal_median": 1200, "csat_average": 2.0,
         "csat_count": 1}]

    csat = await build(WEEK, "csat")
    assert figs(csat) == {"average": (3.5, None), "ratings": (2, 0), "asked": (3, 0),
                          "response_rate": (2 / 3, None)}
    assert [(r["rating"], r["count"], r["share"]) for r in csat.table("distribution").rows
            ] == [(1, 0, 0.0), (2, 1, 0.5), (3, 0, 0.0), (4, 0, 0.0), (5, 1, 0.5)]
    assert csat.table("comments").rows == [
        {"conversation": f"/inbox/{c['c1']}", "channel": "api", "rating": 5,
         "comment": "Great help", "at": "2026-03-09T03:01:00+00:00"}]

    bot = await build(WEEK, "bot")
    assert figs(bot) == {"answered": (2, 0), "contained": (1, 0), "containment": (0.5, None),
                         "handoffs": (1, 0), "questions": (2, 0)}
    assert bot.table("unanswered").rows == [
        {"question": "Do you ship to Mars?", "count": 2,
         "last_asked": "2026-03-05T02:00:00+00:00"}]

    # Filters: a channel, an agent, a label, an account.
    web = Filters(WEEK.start, WEEK.end, channel="webchat")
    assert figs(await build(web, "inbox-overview")) == {
        "opened": (2, 0), "resolved": (1, 0), "reopened": (1, 0), "reopens": (1, 0),
        "messages_in": (4, 0), "messages_out": (5, 0)}
    assert figs(await build(web, "bot"))["handoffs"] == (0, 0)
    anna = Filters(WEEK.start, WEEK.end, agent_id=a1)
    assert figs(await build(anna, "inbox-overview"))["opened"] == (2, 1)
    assert figs(await build(anna, "response-times"))["frt_biz_median"] == (1860, 300)
    assert [r["agent"] for r in (await build(anna, "agents")).table("agents").rows] == [
        "Anna"]
    assert figs(await build(anna, "agents")) == {"agents": (1, 1), "handled": (3, 1),
                                                 "replies": (3, 1)}
    assert figs(await build(anna, "sla"))["res_breached"] == (2, 0)  # C1, C4 waiting
    vip = Filters(WEEK.start, WEEK.end, label="vip")
    assert figs(await build(vip, "csat"))["average"] == (5.0, None)
    assert figs(await build(vip, "inbox-overview"))["opened"] == (1, 0)
    assert figs(await build(Filters(WEEK.start, WEEK.end, label="nope"), "csat"))[
        "ratings"] == (0, 0)
    acct = Filters(WEEK.start, WEEK.end, account_id=h.convs["c3"].channel_account_id)  # type: ignore[attr-defined]
    assert figs(await build(acct, "bot"))["contained"] == (1, 0)


async def test_refresh_is_idempotent_and_incremental(shop: Shop) -> None:
    h = History()
    await h.build()
    await refresh()
    before = {f.conversation_id: f for f in await ConversationFact.all()}
    assert await refresh() == 0  # nothing new: nothing recomputed
    async def snapshot() -> dict[int, tuple[Any, ...]]:
        return {f.conversation_id: tuple(getattr(f, k) for k in f._meta.db_fields)
                for f in await ConversationFact.all()}
    first = await snapshot()
    assert set(first) == set(before)

    # A person answers C6: only C6's row changes.
    c6 = h.convs["c6"]
    await h.msg(c6, "out", at(2, 9, 15), "Good morning", sender=h.a2.id)
    assert await refresh() == 1
    second = await snapshot()
    assert {k for k in first if first[k] != second[k]} == {c6.id}
    fact = await ConversationFact.get(conversation_id=c6.id)
    assert (fact.frt_cal, fact.frt_biz, fact.agent_id, fact.msgs_out) == (
        3 * H + 15 * 60, 15 * 60, h.a2.id, 1)

    # Rebuilding from nothing gives the very same rows (at-least-once is safe).
    await ConversationFact.all().delete()
    from bot.models import ReportState
    await ReportState.filter(key__in=["msg", "event", "csat", "conv"]).update(value=0)
    await refresh(limit=2)  # a bounded run does part of the work
    await refresh()
    assert await snapshot() == second
