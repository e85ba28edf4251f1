"""Inbox reports: overview, response times and SLA (agents, CSAT and the bot are in
:mod:`bot.services.reports.inbox_people`). All read the roll-up of
:mod:`bot.services.reports.inbox_facts`, whose docstring defines every term; each figure
comes with the same figure over :meth:`Filters.previous`.

* **inbox-overview**: conversations opened, resolved (resolved now) and reopened (at least
  one reopen), and the reopens; messages in and out (all messages of those
  conversations); per day and channel the conversations opened, and a weekday x hour
  table of conversations opened (local time).
* **response-times**: median and p90 (nearest rank, see
  :mod:`bot.services.reports.inbox_query`) of first response time over the conversations
  that have one and of resolution time over the resolved ones, in business and calendar
  seconds; the same per day opened.
* **sla**: each conversation against its channel's targets (``sla_targets``), counted in
  business seconds (equal to calendar seconds when ``office_hours`` is empty): first
  response *met* when the first response time is at most the target, *breached* when
  later; resolution likewise for resolved conversations. A conversation still *open* (its
  status now) with no first response yet, or not resolved, is breached as soon as the
  business time from its opening to the report's "now" (when it is built, or the range's
  end if earlier) exceeds the target, and listed as *still waiting* (late by that time
  minus the target); until then it is neither. Pending and snoozed ones wait on the
  customer or a time: neither. Breaches are listed, the latest first (at most
  :data:`BREACH_ROWS`), with how late they were.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.core import l10n
from bot.core.auth import Perm
from bot.core.i18n import N_, gettext
from bot.core.time import utcnow
from bot.services.reports import (
    Chart,
    Column,
    Figure,
    Filters,
    Kind,
    Report,
    Table,
    register,
)
from bot.services.reports.inbox_facts import business_seconds, config, day_start, epoch, fetch
from bot.services.reports.inbox_query import (
    LINK,
    figures,
    percentiles,
    totals,
    where,
)

BREACH_ROWS = 200
_OVERVIEW = ("COUNT(*) AS opened, SUM(CASE WHEN res_cal IS NOT NULL THEN 1 ELSE 0 END) "
             "AS resolved, SUM(CASE WHEN reopens > 0 THEN 1 ELSE 0 END) AS reopened, "
             "SUM(reopens) AS reopens, SUM(msgs_in) AS messages_in, "
             "SUM(msgs_out) AS messages_out")


def days(f: Filters) -> list[str]:
    return [(f.start + timedelta(days=i)).isoformat() for i in range(f.days)]


@register("inbox-overview", N_("Inbox overview"), Perm.REPORTS_INBOX, group="inbox")
async def overview(f: Filters) -> Report:
    w, params = where(f)
    keys = ("opened", "resolved", "reopened", "reopens", "messages_in", "messages_out")
    per_day = await fetch(  # the range's totals are the sums of its days' (one pass)
        f"SELECT day, channel_kind, {_OVERVIEW} FROM report_conversations f WHERE {w} "
        f"GROUP BY day, channel_kind", params)
    now = {k: sum(int(row[2 + i] or 0) for row in per_day) for i, k in enumerate(keys)}
    before = await totals(f.previous(), _OVERVIEW)
    report = Report("inbox-overview", N_("Inbox overview"), f, figures(now, before, [
        ("opened", "Conversations opened", "int"),
        ("resolved", "Resolved", "int"),
        ("reopened", "Reopened", "int"),
        ("reopens", "Reopens", "int"),
        ("messages_in", "Messages in", "int"),
        ("messages_out", "Messages out", "int")]))
    kinds = sorted({kind for _, kind, *_ in per_day})
    rows: dict[str, dict[str, Any]] = {
        d: {"day": d, **{k: 0 for k in kinds}, "total": 0, "messages_in": 0,
            "messages_out": 0} for d in days(f)}
    for d, kind, n, _, _, _, m_in, m_out in per_day:
        row = rows[d]
        row[kind] = int(n)
        row["total"] += int(n)
        row["messages_in"] += int(m_in or 0)
        row["messages_out"] += int(m_out or 0)
    report.tables.append(Table("volume", N_("Conversations opened per day and channel"), [
        Column("day", N_("Day"), "date"), *(Column(k, k) for k in kinds),
        Column("total", N_("Total")), Column("messages_in", N_("Messages in")),
        Column("messages_out", N_("Messages out"))], list(rows.values())))
    report.charts.append(Chart("stacked", "volume", "day", tuple(kinds),
                               N_("Conversations opened per channel")))
    cells = await fetch(f"SELECT weekday, hour, COUNT(*) FROM report_conversations f "
                        f"WHERE {w} GROUP BY weekday, hour", params)
    heat = [{"weekday": name, **{f"h{h:02d}": 0 for h in range(24)}}  # Monday first, as
            for name in l10n.day_names()]                            # the weekday column
    for wd, hour, n in cells:
        heat[int(wd)][f"h{int(hour):02d}"] = int(n)
    report.tables.append(Table("heatmap", N_("Conversations opened by weekday and hour"), [
        Column("weekday", N_("Weekday"), "text"),
        *(Column(f"h{h:02d}", f"{h:02d}") for h in range(24))], heat))
    report.charts.append(Chart("heatmap", "heatmap", "weekday",
                               tuple(f"h{h:02d}" for h in range(24)),
                               "Conversations opened by weekday and hour"))
    return report


_TIMES = (("frt_biz", N_("First response, business")),
          ("frt_cal", N_("First response, calendar")),
          ("res_biz", N_("Resolution, business")), ("res_cal", N_("Resolution, calendar")))


def _spread_title(title: str, p: str) -> str:
    """"First response, business, median": a time's title and which of its spread, in
    the reader's language (a report is built for the request that shows it)."""
    if p == "median":
        return gettext("%(time)s, median", time=gettext(title))
    return gettext("%(time)s, 90th percentile", time=gettext(title))


COLUMNS = tuple(col for col, _ in _TIMES)


def _flat(got: dict[str, dict[int, int | None]]) -> dict[str, Any]:
    return {f"{col}_{name}": got[col][p] for col in COLUMNS
            for name, p in (("median", 50), ("p90", 90))}


@register("response-times", N_("Response times"), Perm.REPORTS_INBOX, group="inbox")
async def response_times(f: Filters) -> Report:
    spread = await percentiles(f, COLUMNS, group="day")
    before = _flat((await percentiles(f.previous(), COLUMNS)).overall)
    now = _flat(spread.overall)
    specs: list[tuple[str, str, Kind]] = [
        (f"{col}_{p}", _spread_title(title, p), "seconds")
        for col, title in _TIMES for p in ("median", "p90")]
    report = Report("response-times", N_("Response times"), f, figures(now, before, specs))
    rows = {d: {"day": d, "opened": 0, "responded": 0, "resolved": 0,
                **{f"{c}_{p}": None for c, _ in _TIMES for p in ("median", "p90")}}
            for d in days(f)}
    for d, got in spread.per.items():
        if d not in rows:  # a day stored under a timezone since changed (until rebuilt)
            continue
        n = spread.counts[d]
        rows[d].update(opened=n["rows"], responded=n["frt_cal"], resolved=n["res_cal"],
                       **_flat(got))
    report.tables.append(Table("per-day", N_("Response times per day opened"), [
        Column("day", N_("Day"), "date"), Column("opened", N_("Opened")),
        Column("responded", N_("Answered")), Column("resolved", N_("Resolved")),
        *(Column(f"{c}_{p}", _spread_title(t, p), "seconds")
          for c, t in _TIMES for p in ("median", "p90"))], list(rows.values())))
    report.charts.append(Chart("line", "per-day", "day", ("frt_biz_median", "res_biz_median"),
                               N_("Median first response and resolution (business)")))
    return report


def _targets() -> tuple[str, list[Any], str, list[Any]]:
    """CASE expressions giving each row its channel's first-response and resolution
    targets, in seconds."""
    t = config().targets
    frt, res = "CASE f.channel_kind", "CASE f.channel_kind"
    p_frt: list[Any] = []
    p_res: list[Any] = []
    for kind, target in sorted(t.per_channel.items()):
        frt += " WHEN ? THEN CAST(? AS INTEGER)"
        res += " WHEN ? THEN CAST(? AS INTEGER)"
        p_frt += [kind, int(target.first_response.total_seconds())]
        p_res += [kind, int(target.resolution.total_seconds())]
    if not t.per_channel:  # one target for every channel
        frt = res = "CAST(? AS INTEGER)"
    else:
        frt += " ELSE CAST(? AS INTEGER) END"
        res += " ELSE CAST(? AS INTEGER) END"
    p_frt.append(int(t.default.first_response.total_seconds()))
    p_res.append(int(t.default.resolution.total_seconds()))
    return frt, p_frt, res, p_res


Waiting = list[tuple[Any, ...]]  # as the breaches' rows, "still waiting" last


async def _waiting(f: Filters, now: datetime) -> Waiting:
    """The open conversations of ``f`` past a target with no first response or not resolved
    at ``now`` (or the range's end if earlier), in business seconds."""
    cfg = config()
    as_of = min(epoch(now), day_start(f.end + timedelta(days=1), cfg))
    t = cfg.targets
    shortest = min(int(x.total_seconds()) for tg in (t.default, *t.per_channel.values())
                   for x in (tg.first_response, tg.resolution))
    w, params = where(f)
    # Business seconds are at most calendar ones: the rest are in time. The open ones
    # first (a few thousand, by the index on status), then their roll-up rows: a join led
    # by the range read every row of a year (235 ms on SQLite, against 19 ms).
    rows = await fetch(
        f"SELECT f.conversation_id, f.channel_kind, u.name, u.email, f.opened_at, "
        f"f.first_response_at, f.resolved_at FROM report_conversations f LEFT JOIN users u "
        f"ON u.id = f.agent_id WHERE f.conversation_id IN (SELECT c.id FROM conversations c "
        f"WHERE c.status = 'open') AND {w} AND (f.first_response_at IS NULL OR "
        f"f.resolved_at IS NULL) AND f.opened_at < ?", [*params, as_of - shortest])
    out: Waiting = []
    for cid, kind, name, email, opened, first, resolved in rows:
        waited = business_seconds(int(opened), as_of, cfg.hours)
        target = t.for_channel(str(kind))
        for what, done, limit in (("first_response", first, target.first_response),
                                  ("resolution", resolved, target.resolution)):
            if done is None and waited > limit.total_seconds():
                out.append((cid, kind, name, email, what, int(opened),
                            waited - int(limit.total_seconds()), "still waiting"))
    return out


async def _sla_totals(f: Filters, now: datetime) -> dict[str, Any]:
    frt, p_frt, res, p_res = _targets()
    w, params = where(f)
    rows = await fetch(
        f"SELECT f.channel_kind, SUM(CASE WHEN f.frt_biz <= {frt} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN f.frt_biz > {frt} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN f.res_biz <= {res} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN f.res_biz > {res} THEN 1 ELSE 0 END) "
        f"FROM report_conversations f WHERE {w} GROUP BY f.channel_kind",
        [*p_frt, *p_frt, *p_res, *p_res, *params])
    out: dict[str, Any] = {"channels": {}}
    keys = ("frt_met", "frt_breached", "res_met", "res_breached")
    for kind, *values in rows:
        out["channels"][kind] = dict(zip(keys, (int(v or 0) for v in values), strict=True))
    out["waiting"] = await _waiting(f, now)
    for _, kind, _, _, what, *_ in out["waiting"]:
        channel = out["channels"].setdefault(kind, dict.fromkeys(keys, 0))
        channel["frt_breached" if what == "first_response" else "res_breached"] += 1
    for k in keys:
        out[k] = sum(c[k] for c in out["channels"].values())
    return out


@register("sla", N_("SLA"), Perm.REPORTS_INBOX, group="inbox")
async def sla_report(f: Filters, at: datetime | None = None) -> Report:
    """``at``: the report's "now" (when it is built unless given)."""
    at = at or utcnow()
    now, before = await _sla_totals(f, at), await _sla_totals(f.previous(), at)
    t = config().targets
    report = Report("sla", N_("SLA"), f, [
        *figures(now, before, [("frt_met", "First response within target", "int"),
                               ("frt_breached", "First response breached", "int"),
                               ("res_met", "Resolved within target", "int"),
                               ("res_breached", "Resolution breached", "int")]),
        *(Figure(f"{k}_rate", title, _rate(now, k), "percent", _rate(before, k))
          for k, title in (("frt", "First response within target, share"),
                           ("res", "Resolved within target, share")))])
    report.tables.append(Table("channels", N_("Targets and results per channel"), [
        Column("channel", N_("Channel"), "text"),
        Column("frt_target", N_("First response target"), "seconds"),
        Column("frt_met", N_("Met")), Column("frt_breached", N_("Breached")),
        Column("res_target", N_("Resolution target"), "seconds"),
        Column("res_met", N_("Met")), Column("res_breached", N_("Breached"))],
        [{"channel": kind, "frt_target": int(t.for_channel(kind).first_response
                                              .total_seconds()),
          "res_target": int(t.for_channel(kind).resolution.total_seconds()), **counts}
         for kind, counts in sorted(now["channels"].items())]))
    report.charts.append(Chart("stacked", "channels", "channel",
                               ("frt_met", "frt_breached"), N_("First response against target")))
    report.tables.append(await _breaches(f, now["waiting"]))
    return report


def _rate(values: dict[str, Any], k: str) -> float | None:
    whole = values[f"{k}_met"] + values[f"{k}_breached"]
    return values[f"{k}_met"] / whole if whole else None


async def _breaches(f: Filters, waiting: Waiting) -> Table:
    frt, p_frt, res, p_res = _targets()
    w, params = where(f)
    rows = await fetch(
        f"SELECT * FROM (SELECT f.conversation_id, f.channel_kind, u.name, u.email, "
        f"'first_response' AS what, f.opened_at, f.frt_biz - {frt} AS late FROM "
        f"report_conversations f LEFT JOIN users u ON u.id = f.agent_id WHERE {w} AND "
        f"f.frt_biz > {frt} UNION ALL SELECT f.conversation_id, f.channel_kind, u.name, "
        f"u.email, 'resolution' AS what, f.opened_at, f.res_biz - {res} AS late FROM "
        f"report_conversations f LEFT JOIN users u ON u.id = f.agent_id WHERE {w} AND "
        f"f.res_biz > {res}) b ORDER BY opened_at DESC, conversation_id DESC, what LIMIT ?",
        [*p_frt, *params, *p_frt, *p_res, *params, *p_res, BREACH_ROWS])
    found = sorted([(*r[:5], int(r[5]), r[6], "") for r in rows] + waiting,
                   key=lambda r: (-r[5], -int(r[0]), r[4]))[:BREACH_ROWS]
    return Table("breaches", N_("Breaches"), [
        Column("conversation", N_("Conversation"), "link"),
        Column("channel", N_("Channel"), "text"),
        Column("agent", N_("Agent"), "text"), Column("target", N_("Target"), "text"),
        Column("late", N_("Late by"), "seconds"), Column("state", N_("State"), "text")],
        [{"conversation": LINK.format(cid), "channel": kind, "agent": name or email or "",
          "target": what, "late": int(late), "state": state}
         for cid, kind, name, email, what, _, late, state in found])
