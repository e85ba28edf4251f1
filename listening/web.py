"""Listening and review pages: rules, feeds and trends (with charts drawn as SVG on the
server, no chart library), the review inbox with its 24-hour clock, one review with its
suggested reply, and staff alerts. The pages call the same services as the REST API
(``listening.api``), never the API itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bot.core.auth import USER, Perm
from bot.core.clean import db_id
from bot.core.errors import InboxError, NotFound
from bot.core.i18n import lazy
from bot.core.keys import SETTINGS
from bot.core.pages import page, path_id, render
from listening import alerts, feeds, mentions, rule_page, ruleset, trends
from listening import review_desk as desk
from listening.errors import Missing
from listening.runtime import LISTENING


def bars(rows: list[dict[str, Any]], width: int = 720, height: int = 160) -> dict[str, Any]:
    """Stacked bars (negative, neutral, positive) per bucket, as SVG rectangles."""
    if not rows:
        return {"width": width, "height": height, "bars": [], "max": 0}
    by_start: dict[datetime, dict[str, int]] = {}
    for r in rows:
        slot = by_start.setdefault(r["start"], {"negative": 0, "neutral": 0, "positive": 0})
        for k in slot:
            slot[k] += r[k]
    starts = sorted(by_start)
    peak = max(sum(v.values()) for v in by_start.values()) or 1
    step = width / len(starts)
    out = []
    for i, s in enumerate(starts):
        y = float(height)
        for label in ("negative", "neutral", "positive"):
            h = by_start[s][label] / peak * (height - 20)
            y -= h
            out.append({"x": round(i * step + 1, 1), "y": round(y, 1),
                        "w": round(max(step - 2, 1), 1), "h": round(h, 1), "label": label,
                        "title": f"{s:%Y-%m-%d %H:%M}: {by_start[s][label]} {label}"})
    return {"width": width, "height": height, "bars": out, "max": peak,
            "first": starts[0], "last": starts[-1]}


@page(Perm.LISTENING_READ)
async def listening_page(request: web.Request) -> web.Response:
    bucket = "hour" if request.query.get("bucket") == "hour" else "day"
    rule_id = request.query.get("rule", "")
    rule = db_id(rule_id)
    if rule_id and rule is None:
        raise InboxError(lazy("rule must be a rule's id"), "invalid", "rule")
    until = datetime.now(UTC)
    since = until - timedelta(days=2 if bucket == "hour" else 30)
    ids = [rule] if rule is not None else None
    found = await trends.overview(since, until, bucket, ids,
                                  request.app[LISTENING].segmenter())
    return render(
        request, "web/listening.html", bucket=bucket, rule_id=rule_id,
        rules=await ruleset.all_rules(), feeds=await feeds.all_feeds(),
        chart=bars(found["volume"]), share=found["share_of_voice"],
        terms=found["negative_terms"], mentions=[
            mentions.for_reader(m, {k: getattr(m, k) for k in _SHOWN}, request.get(USER))
            for m in await mentions.find(ids, limit=50)])


_SHOWN = ("occurred_at", "source", "author", "text", "url", "sentiment")


@page(Perm.REVIEWS_READ)
async def reviews_page(request: web.Request) -> web.Response:
    now = datetime.now(UTC)
    settings = request.app[SETTINGS]
    open_, done = await desk.on_the_clock(), await desk.answered()
    return render(request, "web/reviews.html", now=now,
                  open_reviews=[desk.review_out(r, settings, now) for r in open_],
                  answered=[desk.review_out(r, settings, now) for r in done])


@page(Perm.REVIEWS_READ)
async def review_page(request: web.Request) -> web.Response:
    rid = db_id(request.match_info["rid"])
    if rid is None:
        raise NotFound("review", "review_id")
    try:
        review = await desk.get_review(rid)
    except Missing:
        raise NotFound("review", "review_id") from None
    return render(request, "web/review.html",
                  review=desk.review_out(review, request.app[SETTINGS]))


@page(Perm.INBOX_READ)
async def alerts_page(request: web.Request) -> web.Response:
    return render(request, "web/alerts.html",
                  alerts=await alerts.recent(), unread=await alerts.unread_count())


@page(Perm.INBOX_READ)  # as the API's POST /api/v1/alerts/{id}/read
async def alert_read(request: web.Request) -> web.StreamResponse:
    try:
        await alerts.mark_read(path_id(request, "aid"))
    except Missing:
        raise NotFound("alert", "alert_id") from None
    raise web.HTTPFound("/alerts")


@page(Perm.INBOX_READ)
async def alerts_read_all(request: web.Request) -> web.StreamResponse:
    await alerts.mark_all_read()
    raise web.HTTPFound("/alerts")


@page(Perm.LISTENING_WRITE)  # as adding one (POST /api/v1/listening/feeds)
async def feed_remove(request: web.Request) -> web.StreamResponse:
    try:
        await feeds.remove_feed(path_id(request, "fid"))
    except Missing:
        raise NotFound("feed", "feed_id") from None
    raise web.HTTPFound("/listening#feeds")


def setup(app: web.Application) -> None:
    app.router.add_get("/listening", listening_page)
    app.router.add_get("/reviews", reviews_page)
    app.router.add_get("/reviews/{rid}", review_page)
    app.router.add_get("/alerts", alerts_page)
    app.router.add_post("/alerts/read", alerts_read_all)
    app.router.add_post("/alerts/{aid}/read", alert_read)
    app.router.add_post("/listening/feeds/{fid}/delete", feed_remove)
    rule_page.setup(app)
