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
from bot.services.reports import Chart, Column, Filters, Report, Table, register
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


_FUNNEL = ("SELECT {group} AS g, COUNT(*) AS entered, "
           "SUM(CASE WHEN signed_up THEN 1 ELSE 0 END) AS signed, "
           "SUM(CASE WHEN checkout_day <= ? THEN 1 ELSE 0 END) AS checkout, "
           "SUM(CASE WHEN first_order_day <= ? THEN 1 ELSE 0 END) AS ordered "
           "FROM report_contacts")


async def _funnel(f: Filters, group: str) -> list[dict[str, Any]]:
    where, params = _where(f, "entered_day")
    sql = _FUNNEL.format(group=group) + where + f" GROUP BY {group} ORDER BY {group}"
    return await rows(sql, f.end, f.end, *params)


def _total(found: list[dict[str, Any]]) -> dict[str, int]:
    return {k: sum(num(r[k]) for r in found) for k in ("entered", "signed", "checkout",
                                                      "ordered")}


def _rates(r: dict[str, Any]) -> dict[str, Any]:
    return {"entered": num(r["entered"]), "signed_up": num(r["signed"]),
            "checkout": num(r["checkout"]), "ordered": num(r["ordered"]),
            "checkout_rate": share(r["checkout"], r["entered"]),
            "order_rate": share(r["ordered"], r["checkout"]),
            "conversion": share(r["ordered"], r["entered"])}


_FUNNEL_COLUMNS = [Column("entered", "Entered (signed up or first seen)"),
                   Column("signed_up", "Signed up"), Column("checkout", "Reached checkout"),
                   Column("ordered", "Ordered"),
                   Column("checkout_rate", "Checkout rate", "percent"),
                   Column("order_rate", "Checkout to order", "percent"),
                   Column("conversion", "Conversion", "percent")]


@register("funnel", "Shop funnel", Perm.REPORTS_MARKETING, group="marketing", filters=(),
          extra=("source",))
async def funnel(f: Filters) -> Report:
    sources = await _funnel(f, "source")
    now, before = _rates(_total(sources)), _rates(_total(await _funnel(f.previous(),
                                                                        "source")))
    figures = figures_of(now, before,
        ("entered", "Entered the funnel", "int"), ("checkout", "Reached checkout", "int"),
        ("ordered", "Ordered", "int"), ("conversion", "Conversion", "percent"),
        ("checkout_rate", "Checkout rate", "percent"),
        ("order_rate", "Checkout to order", "percent"))
    stages = Table("stages", "Funnel", [Column("stage", "Stage", "text"),
                                         Column("contacts", "Contacts"),
                                         Column("rate", "From the stage before", "percent")],
                   [{"stage": "Entered", "contacts": now["entered"], "rate": None},
                    {"stage": "Checkout", "contacts": now["checkout"],
                     "rate": now["checkout_rate"]},
                    {"stage": "Order", "contacts": now["ordered"], "rate": now["order_rate"]}])
    per_source = Table("sources", "Per source channel",
                       [Column("source", "Source channel", "text"), *_FUNNEL_COLUMNS],
                       [{"source": r["g"], **_rates(r)} for r in sources])
    unit = bucket(f)
    periods = await _funnel(f, "entered_day" if unit == "day" else "entered_week")
    per_period = Table("periods", f"Per {unit}",
                       [Column("period", "Day" if unit == "day" else "Week of", "date"),
                        *_FUNNEL_COLUMNS],
                       [{"period": day(r["g"]), **_rates(r)} for r in periods])
    return Report("funnel", "Shop funnel", f, figures, [stages, per_source, per_period], [
        Chart("funnel", "stages", "stage", ("contacts",), "Funnel"),
        Chart("bar", "sources", "source", ("entered", "checkout", "ordered"),
              "Per source channel"),
        Chart("line", "periods", "period", ("entered", "checkout", "ordered"),
              f"Per {unit}")])


_ORDERS = ("SELECT COUNT(*) AS orders, SUM(cents) AS cents, "
           "COUNT(DISTINCT contact_id) AS customers, "
           "COUNT(DISTINCT CASE WHEN nth >= 2 THEN contact_id END) AS repeaters "
           "FROM report_orders")


async def _orders(f: Filters) -> dict[str, Any]:
    where, params = _where(f, "day")
    r = (await rows(_ORDERS + where, *params))[0]
    source = extra(f, "source")
    upto = " WHERE day <= ?" + (_SOURCE if source is not None else "")
    life = (await rows("SELECT SUM(cents) AS cents, COUNT(DISTINCT contact_id) AS customers "
                       "FROM report_orders" + upto,
                       f.end, *([source] if source is not None else [])))[0]
    return {"orders": num(r["orders"]), "revenue": money(r["cents"]),
            "aov": per(r["cents"], r["orders"]), "customers": num(r["customers"]),
            "repeat_rate": share(r["repeaters"], r["customers"]),
            "clv": per(life["cents"], life["customers"])}


_TOP = ("SELECT o.contact_id AS contact_id, COUNT(*) AS orders, SUM(o.cents) AS cents, "
        "MAX(c.orders) AS life_orders, MAX(c.cents) AS life_cents, "
        "MAX(p.name) AS name, MAX(p.email) AS email "
        "FROM report_orders o JOIN report_contacts c ON c.contact_id = o.contact_id "
        "JOIN contacts p ON p.id = o.contact_id "
        "WHERE o.day >= ? AND o.day <= ?{source} "
        "GROUP BY o.contact_id ORDER BY SUM(o.cents) DESC, o.contact_id LIMIT 20")
_COHORTS = ("SELECT cohort, COUNT(DISTINCT contact_id) AS customers, COUNT(*) AS orders, "
            "SUM(cents) AS cents, "
            "COUNT(DISTINCT CASE WHEN nth >= 2 THEN contact_id END) AS repeaters "
            "FROM report_orders WHERE cohort >= ? AND cohort <= ? AND day <= ?{source} "
            "GROUP BY cohort ORDER BY cohort")


@register("revenue", "Revenue and customers", Perm.REPORTS_MARKETING, group="marketing",
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
    cond = " AND o.source = ?" if source is not None else ""
    top = Table("customers", "Top customers", [
        Column("contact_id", "Contact"), Column("name", "Name", "text"),
        Column("orders", "Orders in the range"), Column("revenue", "Revenue in the range",
                                                        "money"),
        Column("lifetime_orders", "Orders, all time"),
        Column("lifetime_value", "Lifetime value", "money")], [
        {"contact_id": num(r["contact_id"]), "name": r["name"] or r["email"] or "",
         "orders": num(r["orders"]), "revenue": money(r["cents"]),
         "lifetime_orders": num(r["life_orders"]), "lifetime_value": money(r["life_cents"])}
        for r in await rows(_TOP.format(source=cond), f.start, f.end, *more)])
    cohorts = Table("cohorts", "Monthly cohorts (month of the first order)", [
        Column("cohort", "Cohort", "date"), Column("customers", "Customers"),
        Column("orders", "Orders"), Column("revenue", "Revenue", "money"),
        Column("clv", "Lifetime value per customer", "money"),
        Column("repeat_rate", "Repeat-purchase rate", "percent")], [
        {"cohort": day(r["cohort"]), "customers": num(r["customers"]),
         "orders": num(r["orders"]), "revenue": money(r["cents"]),
         "clv": per(r["cents"], r["customers"]),
         "repeat_rate": share(r["repeaters"], r["customers"])}
        for r in await rows(_COHORTS.format(source=_SOURCE if source is not None else ""),
                            f.start.replace(day=1), f.end, f.end, *more)])
    where, params = _where(f, "day")
    currencies = Table("currencies", "Orders per currency", [
        Column("currency", "Currency", "text"), Column("orders", "Orders"),
        Column("revenue", "Revenue", "money")], [
        {"currency": r["currency"] or "", "orders": num(r["orders"]),
         "revenue": money(r["cents"])}
        for r in await rows("SELECT currency, COUNT(*) AS orders, SUM(cents) AS cents "
                            "FROM report_orders" + where +
                            " GROUP BY currency ORDER BY currency", *params)])
    unit = bucket(f)
    periods = Table("periods", f"Per {unit}", [
        Column("period", "Day" if unit == "day" else "Week of", "date"),
        Column("orders", "Orders"), Column("revenue", "Revenue", "money"),
        Column("aov", "Average order value", "money")], [
        {"period": day(r["g"]), "orders": num(r["orders"]), "revenue": money(r["cents"]),
         "aov": per(r["cents"], r["orders"])}
        for r in await rows(f"SELECT {unit} AS g, COUNT(*) AS orders, SUM(cents) AS cents "
                            "FROM report_orders" + where + f" GROUP BY {unit} ORDER BY {unit}",
                            *params)])
    return Report("revenue", "Revenue and customers", f, figures,
                  [periods, cohorts, top, currencies], [
                      Chart("bar", "periods", "period", ("revenue",), "Revenue"),
                      Chart("bar", "cohorts", "cohort", ("clv",),
                            "Lifetime value per cohort")])
