"""Staff pages for publishing: the posts list with a compose form, a post's page with its
workflow buttons and history, and the month/week calendar."""

from __future__ import annotations

import calendar as cal
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.core import l10n
from bot.core.auth import FORM, USER, Perm
from bot.core.clean import db_id
from bot.core.errors import InboxError
from bot.core.i18n import _, lazy
from bot.core.keys import SETTINGS
from bot.core.pages import form_str, page, path_id, render
from bot.models import ChannelAccount, Post, PostEvent, PostStatus, PostVariant
from scheduler.posts import labels, links, networks, web_edit
from scheduler.posts import service as posts
from scheduler.posts.when import WhenError, parse

S = PostStatus
URL = re.compile(r"^https?://\S+$")
# The days the calendar shows: past these, its weeks and its previous / next arrows
# would leave the years a date can have (a Sunday-start week of 0001-01-05 starts in year 0).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)


def _tz(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[SETTINGS].shop_timezone)


def _when(request: web.Request, text: str) -> datetime:
    try:
        return parse(text, _tz(request))
    except WhenError as exc:
        raise InboxError(lazy("%(problem)s. Nothing was scheduled.", problem=exc.args[0]),
                         "invalid", "when") from None


@page(Perm.POSTS_READ)
async def posts_page(request: web.Request) -> web.Response:
    status = request.query.get("status", "")
    qs = Post.all() if status not in {s.value for s in S} else Post.filter(status=status)
    rows = await qs.order_by("-id").limit(100)
    publishing = networks.by_kind()
    accounts = [a for a in await ChannelAccount.filter(enabled=True, kind__in=list(publishing))
                .order_by("id")]
    return render(request, "web/posts.html", posts=rows, nets=await posts.networks_of(
        [p.id for p in rows]), accounts=accounts, statuses=[s.value for s in S],
        current=status, tz=_tz(request),
        hints={kind: p.target_hint for kind, p in publishing.items()},
        targets={a.id: networks.default_target(a.kind, a.settings) for a in accounts})


@page(Perm.POSTS_WRITE)
async def post_compose(request: web.Request) -> web.StreamResponse:
    form = request[FORM]
    targets = []
    for key, value in form.items():
        if not key.startswith("target_"):
            continue
        suffix = key[len("target_"):]
        account_id = db_id(suffix)
        if account_id is None:
            raise InboxError(lazy("no such channel account"), "invalid", key)
        if str(value).strip() and form.get(f"use_{suffix}") == "on":
            targets.append({"channel_account_id": account_id, "target": str(value).strip(),
                            "text": form_str(form, f"text_{suffix}") or None})
    media = [{"url": u} for u in
             (line.strip() for line in f"{form_str(form, 'images')}\n{form_str(form, 'image_url')}"
              .splitlines()) if u]
    for m in media:
        if not URL.match(m["url"]):
            raise InboxError(lazy("not an image URL: %(url)r (use http:// or https://, or "
                                  "upload the image)", url=m["url"][:100]),
                             "invalid", "images")
    when = _when(request, form_str(form, "when")) if form_str(form, "when") else None
    action = form_str(form, "action")
    if action == "schedule" or (action == "submit" and when is not None):
        posts.future(when)  # a refused time leaves no draft behind
    post = await posts.compose(request[USER], form_str(form, "text"), media, targets)
    if action == "submit":
        await posts.submit(post.id, request[USER], posts.SUBMITTED, when)
    elif action == "schedule":
        await posts.schedule(post.id, request[USER], when,
                             request.app[SETTINGS].posts_require_approval)
    raise web.HTTPFound(f"/posts/{post.id}")


@page(Perm.POSTS_READ)
async def post_page(request: web.Request) -> web.Response:
    pid = path_id(request, "pid")
    post = await Post.filter(id=pid).first()
    if post is None:
        raise web.HTTPNotFound(text="post not found")
    return render(request, "web/post.html", post=post, tz=_tz(request),
                  variants=await PostVariant.filter(post_id=pid).order_by("id"),
                  events=await PostEvent.filter(post_id=pid).order_by("id").prefetch_related(
                      "user"))


@page(Perm.POSTS_WRITE)
async def post_action(request: web.Request) -> web.StreamResponse:
    pid, form, user = path_id(request, "pid"), request[FORM], request[USER]
    action, reason = form_str(form, "action"), form_str(form, "reason")
    if action == "schedule":
        await posts.schedule(pid, user, _when(request, form_str(form, "when")),
                             request.app[SETTINGS].posts_require_approval)
    elif action == "reschedule":
        await posts.reschedule(pid, user, _when(request, form_str(form, "when")))
    elif action == "retry":
        await posts.retry(pid, user)
    elif action == "submit":
        await posts.submit(pid, user, reason)
    elif action == "approve":
        await posts.approve(pid, user, reason)
    elif action == "reject":
        if not reason:
            raise InboxError(lazy("say why it is rejected"), "invalid", "reason")
        await posts.move(pid, S.DRAFT, user, reason)
    else:
        to = {"cancel": S.CANCELLED, "unschedule": S.DRAFT}.get(action)
        if to is None:
            raise InboxError(lazy("unknown action %(action)r", action=action), "invalid",
                             "action")
        await posts.move(pid, to, user, reason)
    raise web.HTTPFound(f"/posts/{pid}")


@page(Perm.POSTS_WRITE)
async def posts_retry_failed(request: web.Request) -> web.StreamResponse:
    """Bulk retry: every failed post."""
    for pid in await Post.filter(status=S.FAILED).values_list("id", flat=True):
        await posts.retry(int(pid), request[USER], posts.BULK_RETRY)  # type: ignore[call-overload]
    raise web.HTTPFound("/posts?status=scheduled")


@page(Perm.POSTS_READ)
async def calendar_page(request: web.Request) -> web.Response:
    """Month or week grid of posts by local day, per channel, with their status."""
    tz = _tz(request)
    view = "week" if request.query.get("view") == "week" else "month"
    try:
        anchor = date.fromisoformat(request.query.get("date", "")) if request.query.get(
            "date") else datetime.now(tz).date()
    except ValueError:
        raise InboxError(lazy("date must look like 2026-12-01"), "invalid", "date") from None
    if not FIRST_DAY <= anchor <= LAST_DAY:  # the grid and its arrows stay in years 1..9999
        raise InboxError(lazy("date must be from %(first)s to %(last)s",
                              first=FIRST_DAY.isoformat(), last=LAST_DAY.isoformat()),
                         "invalid", "date")
    start_day = l10n.first_week_day()  # the reader's locale's: Monday, or Sunday in Thai
    if view == "week":
        first = anchor - timedelta(days=(anchor.weekday() - start_day) % 7)
        days = [first + timedelta(days=i) for i in range(7)]
        prev, nxt = first - timedelta(days=7), first + timedelta(days=7)
    else:
        weeks = cal.Calendar(start_day).monthdatescalendar(anchor.year, anchor.month)
        days = [d for week in weeks for d in week]
        prev = (anchor.replace(day=1) - timedelta(days=1)).replace(day=1)
        nxt = (anchor.replace(day=28) + timedelta(days=4)).replace(day=1)
    start = datetime.combine(days[0], datetime.min.time(), tz).astimezone(UTC)
    end = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(), tz).astimezone(UTC)
    rows = await Post.filter(due_at__gte=start, due_at__lt=end).exclude(
        status=S.DRAFT).order_by("due_at")
    nets = await posts.networks_of([p.id for p in rows])
    network, known = request.query.get("network", ""), list(networks.by_network())
    if network:  # one channel's calendar
        if network not in known:
            raise InboxError(lazy("network must be one of %(known)s", known=", ".join(known)),
                             "invalid", "network")
        rows = [p for p in rows if network in nets.get(p.id, [])]
    by_day: dict[date, list[dict[str, Any]]] = {d: [] for d in days}
    for p in rows:
        assert p.due_at is not None
        local = p.due_at.astimezone(tz)
        by_day.setdefault(local.date(), []).append(
            {"id": p.id, "time": local.strftime("%H:%M"), "status": str(p.status),
             "status_label": labels.status(p.status), "text": p.text[:40],
             "networks": nets.get(p.id, [])})
    names = l10n.day_names()
    return render(request, "web/calendar.html", view=view, days=days, by_day=by_day,
                  weekdays=[names[(start_day + i) % 7] for i in range(7)],
                  anchor=anchor, prev=prev, nxt=nxt, tz=str(tz), today=datetime.now(tz).date(),
                  network=network, networks=known)


async def post_click(request: web.Request) -> web.StreamResponse:
    """A tracked link of a published post (``scheduler.posts.links``): counted, then on
    to the link with the post's UTM parameters. Only links we signed redirect."""
    variant, url = request.match_info["variant"], request.query.get("u", "")
    if links.read(request.app[SETTINGS].secret_key.get(), variant,
                  request.match_info["mac"], url) is None:
        return render(request, "web/subscribe.html", status=404, ok=False,
                      message=_("This link is not valid."))
    raise web.HTTPFound(await links.clicked(int(variant), url),
                        headers={"Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/p/{variant}/{mac}", post_click)
    r.add_get("/posts", posts_page)
    r.add_post("/posts", post_compose)
    r.add_post("/posts/retry-failed", posts_retry_failed)
    r.add_get("/posts/{pid}", post_page)
    r.add_post("/posts/{pid}", post_action)
    r.add_get("/calendar", calendar_page)
    web_edit.setup(app)
