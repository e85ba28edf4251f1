"""Inbox reports about people: agents, CSAT and the bot. Terms as defined in
:mod:`bot.services.reports.inbox_facts`; conversations are those opened in the range.

* **agents**: per staff member, *conversations handled* (those they sent at least one
  reply in), *replies* (their replies in them), median first response time (business and
  calendar) of the conversations they answered first, and the CSAT average and count of
  those. The agent filter picks the staff member's row.
* **csat**: every rating of the conversations (one per resolution; a customer who
  changes their mind replaces it): average, the count per score 1-5, *response rate* =
  ratings / surveys asked, and the comments (the customer's text right after rating),
  the latest first (at most :data:`COMMENT_ROWS`).
* **bot**: conversations the bot replied in (*bot answered*), those it answered alone
  (*contained*: no person reply, no hand-off), the containment rate (contained / bot
  answered), hand-offs; and the questions it could not match to an FAQ entry, grouped
  by their normalized text, most asked first (at most :data:`QUESTION_ROWS`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.core.auth import Perm
from bot.core.i18n import N_
from bot.services.reports import Chart, Column, Figure, Filters, Report, Table, register
from bot.services.reports.inbox_facts import epoch, fetch
from bot.services.reports.inbox_query import (
    LINK,
    figures,
    percentiles,
    share,
    totals,
    where,
)

COMMENT_ROWS = 200
QUESTION_ROWS = 100


async def _agent_totals(f: Filters) -> dict[str, Any]:
    w, params = where(f, "a")
    rows = await fetch(f"SELECT COUNT(*), SUM(a.replies), COUNT(DISTINCT a.agent_id) FROM "
                       f"report_conversation_agents a WHERE {w}", params)
    handled, replies, agents = rows[0] if rows else (0, 0, 0)
    return {"handled": int(handled or 0), "replies": int(replies or 0),
            "agents": int(agents or 0)}


@register("agents", N_("Agents"), Perm.REPORTS_INBOX, group="inbox")
async def agents(f: Filters) -> Report:
    now, before = await _agent_totals(f), await _agent_totals(f.previous())
    report = Report("agents", N_("Agents"), f, figures(now, before, [
        ("agents", "Agents who replied", "int"),
        ("handled", "Conversations handled", "int"),
        ("replies", "Replies", "int")]))
    w, params = where(f, "a")
    per: dict[int, dict[str, Any]] = {}
    for agent_id, handled, replies in await fetch(
            f"SELECT a.agent_id, COUNT(*), SUM(a.replies) FROM report_conversation_agents a "
            f"WHERE {w} GROUP BY a.agent_id", params):
        per[int(agent_id)] = {"handled": int(handled), "replies": int(replies or 0)}
    w, params = where(f)
    csat = {int(a): (int(n or 0), int(s or 0)) for a, n, s in await fetch(
        f"SELECT f.agent_id, SUM(f.csat_n), SUM(f.csat_sum) FROM report_conversations f "
        f"WHERE {w} AND f.agent_id IS NOT NULL GROUP BY f.agent_id", params)}
    frt = (await percentiles(f, ("frt_biz", "frt_cal"), group="agent_id", ps=(50,))).per
    ids = sorted(set(per) | set(csat))
    names: dict[int, str] = {}
    if ids:
        names = {int(i): name or email for i, name, email in await fetch(
            f"SELECT id, name, email FROM users WHERE id IN ({', '.join('?' * len(ids))})",
            ids)}
    rows = []
    for agent_id in ids:
        n, total = csat.get(agent_id, (0, 0))
        rows.append({"agent_id": agent_id, "agent": names.get(agent_id, f"#{agent_id}"),
                     **per.get(agent_id, {"handled": 0, "replies": 0}),
                     "frt_biz_median": frt.get(agent_id, {}).get("frt_biz", {}).get(50),
                     "frt_cal_median": frt.get(agent_id, {}).get("frt_cal", {}).get(50),
                     "csat_average": total / n if n else None, "csat_count": n})
    rows.sort(key=lambda r: (-r["handled"], r["agent"]))
    report.tables.append(Table("agents", N_("Per agent"), [
        Column("agent", N_("Agent"), "text"), Column("handled", N_("Conversations handled")),
        Column("replies", N_("Replies")),
        Column("frt_biz_median", N_("Median first response, business"), "seconds"),
        Column("frt_cal_median", N_("Median first response, calendar"), "seconds"),
        Column("csat_average", N_("CSAT average"), "rating"),
        Column("csat_count", N_("Ratings"))], rows))
    report.charts.append(Chart("bar", "agents", "agent", ("handled", "replies"),
                               N_("Conversations and replies per agent")))
    return report


_CSAT = ("SUM(csat_n) AS ratings, SUM(csat_sum) AS points, SUM(csat_asked) AS asked, "
         "SUM(csat_1) AS r1, SUM(csat_2) AS r2, SUM(csat_3) AS r3, SUM(csat_4) AS r4, "
         "SUM(csat_5) AS r5")


def _csat_figures(t: dict[str, Any]) -> dict[str, Any]:
    return {"average": share(t["points"], t["ratings"]), "ratings": t["ratings"],
            "asked": t["asked"], "response_rate": share(t["ratings"], t["asked"])}


@register("csat", N_("Customer satisfaction"), Perm.REPORTS_INBOX, group="inbox")
async def csat(f: Filters) -> Report:
    raw = await totals(f, _CSAT)
    now, before = _csat_figures(raw), _csat_figures(await totals(f.previous(), _CSAT))
    report = Report("csat", N_("Customer satisfaction"), f, figures(now, before, [
        ("average", "Average rating", "rating"), ("ratings", "Ratings", "int"),
        ("asked", "Surveys asked", "int"), ("response_rate", "Response rate", "percent")]))
    report.tables.append(Table("distribution", N_("Ratings 1-5"), [
        Column("rating", N_("Rating")), Column("count", N_("Ratings")),
        Column("share", N_("Share"), "percent")],
        [{"rating": r, "count": raw[f"r{r}"], "share": share(raw[f"r{r}"], raw["ratings"])}
         for r in range(1, 6)]))
    report.charts.append(Chart("bar", "distribution", "rating", ("count",), N_("Ratings 1-5")))
    w, params = where(f)
    rows = await fetch(
        f"SELECT r.id, r.conversation_id, r.rating, r.comment, r.created_at, f.channel_kind "
        f"FROM csat_ratings r JOIN report_conversations f ON f.conversation_id = "
        f"r.conversation_id WHERE {w} AND r.comment <> '' ORDER BY r.id DESC LIMIT ?",
        [*params, COMMENT_ROWS])
    report.tables.append(Table("comments", N_("Comments"), [
        Column("conversation", N_("Conversation"), "link"),
        Column("channel", N_("Channel"), "text"),
        Column("rating", N_("Rating")), Column("comment", N_("Comment"), "text"),
        Column("at", N_("When"), "datetime")],
        [{"conversation": LINK.format(cid), "channel": kind, "rating": int(rating),
          "comment": comment, "at": _iso(at)} for _, cid, rating, comment, at, kind in rows]))
    return report


def _iso(value: Any) -> str:
    return datetime.fromtimestamp(epoch(value), UTC).isoformat()


_BOT = ("SUM(CASE WHEN bot_out > 0 THEN 1 ELSE 0 END) AS answered, SUM(bot_only) AS "
        "contained, SUM(handed_off) AS handoffs, COUNT(*) AS opened")


def _bot_figures(t: dict[str, Any]) -> dict[str, Any]:
    return {**t, "containment": share(t["contained"], t["answered"])}


@register("bot", N_("The bot"), Perm.REPORTS_INBOX, group="inbox")
async def bot(f: Filters) -> Report:
    now, before = (_bot_figures(await totals(f, _BOT)),
                   _bot_figures(await totals(f.previous(), _BOT)))
    report = Report("bot", N_("The bot"), f, [
        *figures(now, before, [("answered", "Conversations the bot answered", "int"),
                               ("contained", "Answered by the bot alone", "int"),
                               ("containment", "Containment rate", "percent"),
                               ("handoffs", "Hand-offs to a person", "int")])])
    w, params = where(f)
    rows = await fetch(
        f"SELECT q.normalized, MIN(q.question), COUNT(*), MAX(q.created_at) FROM faq_misses q "
        f"JOIN report_conversations f ON f.conversation_id = q.conversation_id WHERE {w} "
        f"GROUP BY q.normalized ORDER BY COUNT(*) DESC, q.normalized LIMIT ?",
        [*params, QUESTION_ROWS])
    report.tables.append(Table("unanswered", N_("Questions the FAQ could not answer"), [
        Column("question", N_("Question"), "text"), Column("count", N_("Asked")),
        Column("last_asked", N_("Last asked"), "datetime")],
        [{"question": example, "count": int(n), "last_asked": _iso(last)}
         for _, example, n, last in rows]))
    report.figures.append(Figure("questions", N_("Unanswered questions"), await _misses(f),
                                 "int", await _misses(f.previous())))
    return report


async def _misses(f: Filters) -> int:
    w, params = where(f)
    rows = await fetch(f"SELECT COUNT(*) FROM faq_misses q JOIN report_conversations f ON "
                       f"f.conversation_id = q.conversation_id WHERE {w}", params)
    return int(rows[0][0]) if rows else 0
