"""Listening and reviews over time, from their roll-ups (``shop_facts``).

* **listening-sentiment**: the items scored in the range (messages by the day they came
  in, reviews by the day they were written, mentions from outside by when they were
  posted), each counted once with its latest label: negative, neutral, positive and the
  share negative, per week (from Monday; the range's first and last weeks may be part
  weeks), channel and language. Filter ``channel`` (a channel kind, ``review``, ``rss`` …)
  and ``lang``.
* **reviews**: the reviews written in the range per source and week: their count, average
  rating (of the rated ones, two decimals) and the share answered within 24 hours (a
  reply sent at most 24 hours after the review; one still unanswered counts as not).
  Filter ``source``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bot.core.auth import Perm
from bot.core.i18n import N_
from bot.models import ChannelAccount
from bot.services.reports import Chart, Column, Filters, Report, Table, register
from bot.services.reports.sql import day, extra, num, rows, share
from bot.services.reports.sql import figures as figures_of

LABELS = ("negative", "neutral", "positive")
# The sentiment's channels besides the channel accounts' kinds: reviews and the mentions'
# own sources (a feed, the API); the roll-up's channels are taken too.
OTHER_CHANNELS = ("review", "rss", "api")


async def _channels() -> list[str]:
    kinds = await ChannelAccount.all().distinct().values_list("kind", flat=True)
    found = await rows("SELECT DISTINCT channel FROM report_sentiment_days")
    return sorted({*OTHER_CHANNELS, *(str(k) for k in kinds),
                   *(str(r["channel"]) for r in found)})


def _where(f: Filters, *named: tuple[str, str | None]) -> tuple[str, list[Any]]:
    sql = " WHERE day >= ? AND day <= ?"
    params: list[Any] = [f.start, f.end]
    for column, value in named:
        if value is not None:
            sql, params = sql + f" AND {column} = ?", [*params, value]
    return sql, params


async def _sentiment(f: Filters, group: str) -> list[dict[str, Any]]:
    where, params = _where(f, ("channel", f.channel), ("lang", extra(f, "lang")))
    return await rows(f"SELECT {group}, label, SUM(n) AS n FROM report_sentiment_days{where} "
                      f"GROUP BY {group}, label", *params)


def _labels(found: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {label: sum(num(r["n"]) for r in found if r["label"] == label)
              for label in LABELS}
    total = sum(num(r["n"]) for r in found)
    return {**counts, "total": total, "share_negative": share(counts["negative"], total)}


@register("listening-sentiment", N_("Sentiment over time"), Perm.LISTENING_READ,
          group="listening", filters=("channel",), extra=("lang",), channels=_channels)
async def sentiment(f: Filters) -> Report:
    found = await _sentiment(f, "week, channel, lang")
    now, before = _labels(found), _labels(await _sentiment(f.previous(), "channel"))
    figures = figures_of(now, before,
        ("total", "Items scored", "int"), ("negative", "Negative", "int"),
        ("share_negative", "Share negative", "percent"), ("positive", "Positive", "int"))
    groups: dict[tuple[Any, str, str], list[dict[str, Any]]] = {}
    for r in found:
        groups.setdefault((day(r["week"]), str(r["channel"]), str(r["lang"])), []).append(r)
    table = Table("weeks", N_("Per week, channel and language"), [
        Column("week", N_("Week of"), "date"), Column("channel", N_("Channel"), "text"),
        Column("lang", N_("Language"), "text"), Column("negative", N_("Negative")),
        Column("neutral", N_("Neutral")), Column("positive", N_("Positive")),
        Column("share_negative", N_("Share negative"), "percent")],
        [{"week": k[0], "channel": k[1], "lang": k[2],
          **{x: v for x, v in _labels(g).items() if x != "total"}}
         for k, g in sorted(groups.items())])
    weekly: dict[Any, list[dict[str, Any]]] = {}
    for r in found:
        weekly.setdefault(day(r["week"]), []).append(r)
    trend = Table("trend", N_("Per week"), [
        Column("week", N_("Week of"), "date"), Column("negative", N_("Negative")),
        Column("neutral", N_("Neutral")), Column("positive", N_("Positive")),
        Column("share_negative", N_("Share negative"), "percent")],
        [{"week": w, **{x: v for x, v in _labels(g).items() if x != "total"}}
         for w, g in sorted(weekly.items())])
    return Report("listening-sentiment", N_("Sentiment over time"), f, figures, [trend, table],
                  [Chart("stacked", "trend", "week", LABELS, N_("Sentiment per week"))])


def _average(total: Any, count: Any) -> Decimal | None:
    if not num(count):
        return None
    return (Decimal(num(total)) / num(count)).quantize(Decimal("0.01"), ROUND_HALF_UP)


async def _reviews(f: Filters, group: str) -> list[dict[str, Any]]:
    where, params = _where(f, ("source", extra(f, "source")))
    return await rows(f"SELECT {group}, COUNT(*) AS n, SUM(rating) AS stars, "
                      "COUNT(rating) AS rated, "
                      "SUM(CASE WHEN answered THEN 1 ELSE 0 END) AS answered "
                      f"FROM report_reviews{where} GROUP BY {group} ORDER BY {group}", *params)


def _review_figures(found: list[dict[str, Any]]) -> dict[str, Any]:
    n, answered = sum(num(r["n"]) for r in found), sum(num(r["answered"]) for r in found)
    return {"reviews": n,
            "rating": _average(sum(num(r["stars"]) for r in found),
                               sum(num(r["rated"]) for r in found)),
            "answered": share(answered, n)}


def _review_row(r: dict[str, Any]) -> dict[str, Any]:
    return {"reviews": num(r["n"]), "rating": _average(r["stars"], r["rated"]),
            "answered": share(r["answered"], r["n"])}


_REVIEW_COLUMNS = [Column("reviews", N_("Reviews")),
                   Column("rating", N_("Average rating"), "rating"),
                   Column("answered", N_("Answered within 24 hours"), "percent")]


@register("reviews", N_("Reviews over time"), Perm.REVIEWS_READ, group="listening", filters=(),
          extra=("source",))
async def reviews(f: Filters) -> Report:
    found = await _reviews(f, "week, source")
    now = _review_figures(found)
    before = _review_figures(await _reviews(f.previous(), "source"))
    figures = figures_of(now, before,
        ("reviews", "Reviews", "int"), ("rating", "Average rating", "rating"),
        ("answered", "Answered within 24 hours", "percent"))
    sources: dict[str, list[dict[str, Any]]] = {}
    weeks: dict[Any, list[dict[str, Any]]] = {}
    for r in found:
        sources.setdefault(str(r["source"]), []).append(r)
        weeks.setdefault(day(r["week"]), []).append(r)

    def merged(group: list[dict[str, Any]]) -> dict[str, Any]:
        return _review_row({k: sum(num(r[k]) for r in group)
                            for k in ("n", "stars", "rated", "answered")})
    per_source = Table("sources", N_("Per source"), [Column("source", N_("Source"), "text"),
                                                 *_REVIEW_COLUMNS],
                       [{"source": s, **merged(g)} for s, g in sorted(sources.items())])
    per_week = Table("weeks", N_("Per week and source"), [
        Column("week", N_("Week of"), "date"), Column("source", N_("Source"), "text"),
        *_REVIEW_COLUMNS],
        [{"week": day(r["week"]), "source": str(r["source"]), **_review_row(r)}
         for r in found])
    trend = Table("trend", N_("Per week"),
                  [Column("week", N_("Week of"), "date"), *_REVIEW_COLUMNS],
                  [{"week": w, **merged(g)} for w, g in sorted(weeks.items())])
    return Report("reviews", N_("Reviews over time"), f, figures, [trend, per_source, per_week], [
        Chart("bar", "trend", "week", ("reviews",), N_("Reviews per week")),
        Chart("line", "trend", "week", ("answered",), N_("Answered within 24 hours"))])
