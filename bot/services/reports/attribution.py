"""Attribution: the orders placed in the range that followed a tracked click on a
marketing mail of a sequence or a broadcast within ``attribution_days`` (the rule and its
roll-up are ``shop_facts``'), credited to one campaign: the last touch (the latest click
before the order) by default, the first touch (the earliest in the window) with the filter
``model=first``. Per campaign: the mails clicked in the range, the orders and revenue
credited to it in the range, and orders per click.

Posts: an order that landed with ``utm_campaign=post-<id>`` touched that post (the rule:
``post_touch``), and competes with the contact's mail clicks the same way. A post's clicks
are the clicks on its tracked links (``post_clicks``) on the range's days (the shop's).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.functions import Count

from bot.core.auth import Perm
from bot.core.i18n import N_
from bot.models import Broadcast, Post, PostClick, Sequence
from bot.services.reports import Chart, Column, Filters, Report, Table, register
from bot.services.reports.shop_facts import shop_timezone
from bot.services.reports.sql import extra, money, num, rows, share
from bot.services.reports.sql import figures as figures_of

MODELS = ("last", "first")


async def _credited(f: Filters, model: str) -> dict[tuple[str, int], dict[str, int]]:
    return {(str(r["kind"]), num(r["ref"])): {"orders": num(r["orders"]),
                                              "cents": num(r["cents"])}
            for r in await rows(
                f"SELECT {model}_kind AS kind, {model}_ref AS ref, COUNT(*) AS orders, "
                "SUM(cents) AS cents FROM report_orders "
                f"WHERE {model}_kind IN ('sequence', 'broadcast', 'post') "
                f"AND day >= ? AND day <= ? GROUP BY {model}_kind, {model}_ref",
                f.start, f.end)}


async def _clicks(f: Filters) -> dict[tuple[str, int], int]:
    out = {(str(r["kind"]), num(r["ref"])): num(r["clicks"]) for r in await rows(
        "SELECT kind, ref, COUNT(*) AS clicks FROM report_clicks WHERE day >= ? AND day <= ? "
        "AND kind <> '' GROUP BY kind, ref", f.start, f.end)}
    tz = ZoneInfo(shop_timezone())
    start = datetime.combine(f.start, time(), tz)
    end = datetime.combine(f.end + timedelta(days=1), time(), tz)
    for r in await PostClick.filter(at__gte=start, at__lt=end).annotate(
            n=Count("id")).group_by("post_id").values("post_id", "n"):
        out["post", int(r["post_id"])] = int(r["n"])
    return out


async def _all(f: Filters) -> dict[str, Any]:
    r = (await rows("SELECT SUM(orders) AS orders, SUM(cents) AS cents FROM report_order_days "
                    "WHERE day >= ? AND day <= ?", f.start, f.end))[0]
    return {"orders": num(r["orders"]), "cents": num(r["cents"])}


def _figures(credited: dict[tuple[str, int], dict[str, int]], clicks: dict[Any, int],
             everything: dict[str, Any]) -> dict[str, Any]:
    orders = sum(c["orders"] for c in credited.values())
    cents = sum(c["cents"] for c in credited.values())
    return {"orders": orders, "revenue": money(cents), "clicks": sum(clicks.values()),
            "share": share(cents, everything["cents"]),
            "per_click": share(orders, sum(clicks.values()))}


async def _names(keys: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    out: dict[tuple[str, int], str] = {}
    seqs = [i for k, i in keys if k == "sequence"]
    casts = [i for k, i in keys if k == "broadcast"]
    for i, name in await Sequence.filter(id__in=seqs).values_list("id", "name"):
        out["sequence", int(i)] = str(name)
    for i, name in await Broadcast.filter(id__in=casts).values_list("id", "name"):
        out["broadcast", int(i)] = str(name)
    for i, text in await Post.filter(id__in=[i for k, i in keys if k == "post"]).values_list(
            "id", "text"):
        line = " ".join(str(text).split())
        out["post", int(i)] = line if len(line) <= 60 else line[:59] + "…"
    return out


@register("attribution", N_("Attribution to campaigns"), Perm.REPORTS_MARKETING,
          group="marketing", filters=(), extra=("model",))
async def attribution(f: Filters) -> Report:
    model = extra(f, "model", MODELS) or "last"
    credited, clicks = await _credited(f, model), await _clicks(f)
    old = f.previous()
    now = _figures(credited, clicks, await _all(f))
    before = _figures(await _credited(old, model), await _clicks(old), await _all(old))
    figures = figures_of(now, before,
        ("revenue", "Attributed revenue", "money"), ("orders", "Attributed orders", "int"),
        ("clicks", "Tracked clicks", "int"),
        ("share", "Share of revenue attributed", "percent"),
        ("per_click", "Orders per click", "percent"))
    keys = set(credited) | set(clicks)
    names = await _names(keys)
    campaigns = []
    for key in sorted(keys, key=lambda k: (-credited.get(k, {}).get("cents", 0), k)):
        got = credited.get(key, {"orders": 0, "cents": 0})
        campaigns.append({"kind": key[0], "campaign_id": key[1],
                          "campaign": names.get(key, f"#{key[1]}"),
                          "clicks": clicks.get(key, 0), "orders": got["orders"],
                          "revenue": money(got["cents"]),
                          "per_click": share(got["orders"], clicks.get(key, 0))})
    table = Table("campaigns", N_("Revenue per campaign"), [
        Column("kind", N_("Type"), "text"), Column("campaign_id", N_("Id")),
        Column("campaign", N_("Campaign"), "text"), Column("clicks", N_("Clicks")),
        Column("orders", N_("Orders")), Column("revenue", N_("Revenue"), "money"),
        Column("per_click", N_("Orders per click"), "percent")], campaigns)
    title = N_("Attribution to campaigns (first touch)") if model == "first" \
        else N_("Attribution to campaigns (last touch)")
    return Report("attribution", title, f, figures, [table],
                  [Chart("bar", "campaigns", "campaign", ("revenue",),
                         N_("Revenue per campaign"))])
