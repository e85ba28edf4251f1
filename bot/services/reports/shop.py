"""The shop's funnel and revenue, from the commerce roll-ups (``shop_facts``: what a
contact's entry, checkout, order, source channel and cohort mean is defined there).

* **funnel**: the contacts who entered the funnel in the range (their first shop event),
  how many of them reached a checkout and an order by the range's end, and the rates;
  per source channel and per day (ranges up to 31 days) or week.
* **revenue**: the orders placed in the range: their count and revenue, the average order
  value, the repeat-purchase rate (of the customers who ordered in the range, the share
  who had ordered at least twice by its end), the customer lifetime value (revenue per
  customer, all orders up to the range's end), the top customers and the monthly cohorts
  (by the month of the first order; the cohorts starting in the range, their orders up to
  the range's end). Money is exact to the cent (sums of integer cents; averages rounded
  half-up); one currency is assumed, and orders per currency are listed so a mix shows.

Filter ``source`` (a source channel, e.g. ``webchat`` or ``shopify``) narrows both.
"""

from __future__ import annotations

from typing import Any

from bot.core.auth import Perm
from bot.core.i18n import N_, lazy_p
from bot.services.reports import Chart, Column, Filters, Report, Table, register
from bot.services.reports.shop_facts import week_of
from bot.services.reports.sql import bucket, day, extra, money, num, per, rows, share
from bot.services.reports.sql import figures as figures_of

_SOURCE = " AND source = ?"


def _where(f: Filters, column: str) -> tuple[str, list[Any]]:
    sql = f" WHERE {column} >= ? AND {column} <= ?"
    params: list[Any] = [f.start, f.end]
    source = extra(f, "source")
    if source is not None:
        sql, params = sql + _SOURCE, [*params, source]
    return sql, params


_FUNNEL = ("SELECT entered_day, source, COUNT(*) AS entered, "
           "SUM(CASE WHEN signed_up THEN 1 ELSE 0 END) AS signed, "
           "SUM(CASE WHEN checkout_day <= ? THEN 1 ELSE 0 END) AS checkout, "
           "SUM(CASE WHEN first_order_day <= ? THEN 1 ELSE 0 END) AS ordered "
           "FROM report_contacts{where} GROUP BY entered_day, source")
_STAGES = ("entered", "signed", "checkout", "ordered")


async def _funnel(f: Filters) -> list[dict[str, Any]]:
    """Per day and source: one scan of the range (the covering index rc_entered)."""
    where, params = _where(f, "entered_day")
    return await rows(_FUNNEL.format(where=where), f.end, f.end, *params)


def _by(found: list[dict[str, Any]], key: Any) -> list[tuple[Any, dict[str, int]]]:
    out: dict[Any, dict[str, int]] = {}
    for r in found:
        got = out.setdefault(key(r), dict.fromkeys(_STAGES, 0))
        for k in _STAGES:
            got[k] += num(r[k])
    return sorted(out.items())


def _total(found: list[dict[str, Any]]) -> dict[str, int]:
    return {k: sum(num(r[k]) for r in found) for k in _STAGES}


def _rates(r: dict[str, Any]) -> dict[str, Any]:
    return {"entered": num(r["entered"]), "signed_up": num(r["signed"]),
            "checkout": num(r["checkout"]), "ordered": num(r["ordered"]),
            "checkout_rate": share(r["checkout"], r["entered"]),
            "order_rate": share(r["ordered"], r["checkout"]),
            "conversion": share(r["ordered"], r["entered"])}


_FUNNEL_COLUMNS = [Column("entered", N_("Entered (signed up or first seen)")),
                   Column("signed_up", N_("Signed up")),
                   Column("checkout", N_("Reached checkout")),
                   Column("ordered", N_("Ordered")),
                   Column("checkout_rate", N_("Checkout rate"), "percent"),
                   Column("order_rate", N_("Checkout to order"), "percent"),
                   Column("conversion", N_("Conversion"), "percent")]


@register("funnel", N_("Shop funnel"), Perm.REPORTS_MARKETING, group="marketing", filters=(),
          extra=("source",))
async def funnel(f: Filters) -> Report:
    found = await _funnel(f)
    now, before = _rates(_total(found)), _rates(_total(await _funnel(f.previous())))
    figures = figures_of(now, before,
        ("entered", "Entered the funnel", "int"), ("checkout", "Reached checkout", "int"),
        ("ordered", "Ordered", "int"), ("conversion", "Conversion", "percent"),
        ("checkout_rate", "Checkout rate", "percent"),
        ("order_rate", "Checkout to order", "percent"))
    stages = Table("stages", N_("Funnel"), [Column("stage", N_("Stage"), "text"),
                                         Column("contacts", N_("Contacts")),
                                         Column("rate", N_("From the stage before"), "percent")],
                   [{"stage": N_("Entered"), "contacts": now["entered"], "rate": None},
                    {"stage": N_("Checkout"), "contacts": now["checkout"],
                     "rate": now["checkout_rate"]},
                    {"stage": lazy_p("funnel stage", "Order"), "contacts": now["ordered"],
                     "rate": now["order_rate"]}])
    per_source = Table("sources", N_("Per source channel"),
                       [Column("source", N_("Source channel"), "text"), *_FUNNEL_COLUMNS],
                       [{"source": k, **_rates(r)}
                        for k, r in _by(found, lambda r: str(r["source"]))])
    unit = bucket(f)
    per_period = Table("periods", _per(unit),
                       [Column("period", N_("Day") if unit == "day" else N_("Week of"), "date"),
                        *_FUNNEL_COLUMNS],
                       [{"period": k, **_rates(r)} for k, r in _by(
                           found, lambda r: day(r["entered_day"]) if unit == "day"
                           else week_of(day(r["entered_day"])))])
    return Report("funnel", N_("Shop funnel"), f, figures, [stages, per_source, per_period], [
        Chart("funnel", "stages", "stage", ("contacts",), N_("Funnel")),
        Chart("bar", "sources", "source", ("entered", "checkout", "ordered"),
              N_("Per source channel")),
        Chart("line", "periods", "period", ("entered", "checkout", "ordered"),
              _per(unit))])


def _per(unit: str) -> str:
    """The title of a table or chart per ``unit`` (a day or a week)."""
    return N_("Per day") if unit == "day" else N_("Per week")


_SUMS = "SELECT SUM(orders) AS orders, SUM(cents) AS cents FROM report_order_days"
# A customer is counted at their first order in the range (none before it there), and is a
# repeat customer at their last order in the range if it is their second or later.
_CUSTOMERS = ("SELECT SUM(CASE WHEN prev_day IS NULL OR prev_day < ? THEN 1 ELSE 0 END) "
              "AS customers, SUM(CASE WHEN nth >= 2 AND (next_day IS NULL OR next_day > ?) "
              "THEN 1 ELSE 0 END) AS repeaters FROM report_orders")


async def _orders(f: Filters) -> dict[str, Any]:
    where, params = _where(f, "day")
    r = (await rows(_SUMS + where, *params))[0]
    c = (await rows(_CUSTOMERS + where, f.start, f.end, *params))[0]
    source = extra(f, "source")
    upto = " WHERE day <= ?" + (_SOURCE if source is not None else "")
    life = (await rows("SELECT SUM(cents) AS cents, SUM(firsts) AS customers "
                       "FROM report_order_days" + upto,
                       f.end, *([source] if source is not None else [])))[0]
    return {"orders": num(r["orders"]), "revenue": money(r["cents"]),
            "aov": per(r["cents"], r["orders"]), "customers": num(c["customers"]),
            "repeat_rate": share(c["repeaters"], c["customers"]),
            "clv": per(life["cents"], life["customers"])}


_TOP = ("SELECT c.contact_id AS contact_id, c.orders AS life_orders, c.cents AS life_cents, "
        "p.name AS name, p.email AS email FROM report_contacts c "
        "JOIN contacts p ON p.id = c.contact_id "
        "WHERE c.last_order_day >= ? AND c.first_order_day <= ?{source} "
        "ORDER BY c.cents DESC, c.contact_id DESC LIMIT ? OFFSET ?")
_IN_RANGE = ("SELECT contact_id, COUNT(*) AS orders, SUM(cents) AS cents FROM report_orders "
             "WHERE contact_id IN ({ids}) AND day >= ? AND day <= ? GROUP BY contact_id")
_COHORTS = ("SELECT cohort, SUM(firsts) AS customers, SUM(orders) AS orders, "
            "SUM(cents) AS cents, SUM(seconds) AS repeaters "
            "FROM report_order_days WHERE cohort >= ? AND cohort <= ? AND day <= ?{source} "
            "GROUP BY cohort HAVING SUM(firsts) > 0 ORDER BY cohort")
TOP = 20


async def _top(f: Filters) -> list[dict[str, Any]]:
    """The customers with the highest lifetime value (to date) among those who ordered in
    the range, with their orders and revenue in it."""
    source = extra(f, "source")
    sql = _TOP.format(source=" AND c.source = ?" if source is not None else "")
    out: list[dict[str, Any]] = []
    page = 0
    while len(out) < TOP:
        found = await rows(sql, f.start, f.end, *([source] if source is not None else []),
                           TOP * 2, page * TOP * 2)
        if not found:
            break
        page += 1
        ids = [num(r["contact_id"]) for r in found]
        inside = {num(r["contact_id"]): r for r in await rows(
            _IN_RANGE.format(ids=", ".join("?" * len(ids))), *ids, f.start, f.end)}
        out.extend(
            {"contact_id": num(r["contact_id"]), "name": r["name"] or r["email"] or "",
             "orders": num(inside[num(r["contact_id"])]["orders"]),
             "revenue": money(inside[num(r["contact_id"])]["cents"]),
             "lifetime_orders": num(r["life_orders"]), "lifetime_value": money(r["life_cents"])}
            for r in found if num(r["contact_id"]) in inside)
    return out[:TOP]


@register("revenue", N_("Revenue and customers"), Perm.REPORTS_MARKETING, group="marketing",
          filters=(), extra=("source",))
async def revenue(f: Filters) -> Report:
    now, before = await _orders(f), await _orders(f.previous())
    figures = figures_of(now, before,
        ("revenue", "Revenue", "money"), ("orders", "Orders", "int"),
        ("aov", "Average order value", "money"), ("customers", "Customers", "int"),
        ("repeat_rate", "Repeat-purchase rate", "percent"),
        ("clv", "Customer lifetime value", "money"))
    source = extra(f, "source")
    more = [source] if source is not None else []
    top = Table("customers", N_("Top customers (by lifetime value, who ordered in the range)"), [
        Column("contact_id", N_("Contact")), Column("name", N_("Name"), "text"),
        Column("orders", N_("Orders in the range")), Column("revenue", N_("Revenue in the range"),
                                                        "money"),
        Column("lifetime_orders", N_("Orders, all time")),
        Column("lifetime_value", N_("Lifetime value"), "money")], await _top(f))
    cohorts = Table("cohorts", N_("Monthly cohorts (month of the first order)"), [
        Column("cohort", N_("Cohort"), "date"), Column("customers", N_("Customers")),
        Column("orders", N_("Orders")), Column("revenue", N_("Revenue"), "money"),
        Column("clv", N_("Lifetime value per customer"), "money"),
        Column("repeat_rate", N_("Repeat-purchase rate"), "percent")], [
        {"cohort": day(r["cohort"]), "customers": num(r["customers"]),
         "orders": num(r["orders"]), "revenue": money(r["cents"]),
         "clv": per(r["cents"], r["customers"]),
         "repeat_rate": share(r["repeaters"], r["customers"])}
        for r in await rows(_COHORTS.format(source=_SOURCE if source is not None else ""),
                            f.start.replace(day=1), f.end, f.end, *more)])
    where, params = _where(f, "day")
    currencies = Table("currencies", N_("Orders per currency"), [
        Column("currency", N_("Currency"), "text"), Column("orders", N_("Orders")),
        Column("revenue", N_("Revenue"), "money")], [
        {"currency": r["currency"] or "", "orders": num(r["orders"]),
         "revenue": money(r["cents"])}
        for r in await rows("SELECT currency, SUM(orders) AS orders, SUM(cents) AS cents "
                            "FROM report_order_days" + where +
                            " GROUP BY currency ORDER BY currency", *params)])
    unit = bucket(f)
    sums: dict[Any, list[int]] = {}
    for r in await rows("SELECT day, SUM(orders) AS orders, SUM(cents) AS cents "
                        "FROM report_order_days" + where + " GROUP BY day", *params):
        at = day(r["day"])
        got = sums.setdefault(at if unit == "day" else week_of(at), [0, 0])
        got[0], got[1] = got[0] + num(r["orders"]), got[1] + num(r["cents"])
    periods = Table("periods", _per(unit), [
        Column("period", N_("Day") if unit == "day" else N_("Week of"), "date"),
        Column("orders", N_("Orders")), Column("revenue", N_("Revenue"), "money"),
        Column("aov", N_("Average order value"), "money")], [
        {"period": p, "orders": n, "revenue": money(c), "aov": per(c, n)}
        for p, (n, c) in sorted(sums.items())])
    return Report("revenue", N_("Revenue and customers"), f, figures,
                  [periods, cohorts, top, currencies], [
                      Chart("bar", "periods", "period", ("revenue",), N_("Revenue")),
                      Chart("bar", "cohorts", "cohort", ("clv",),
                            N_("Lifetime value per cohort"))])
