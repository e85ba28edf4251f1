"""Marketers' chat commands: queue, move and review posts from Telegram.

``/post tomorrow 9:00 #tg #fb Spring sale starts!`` composes and schedules in one line;
times are read in the shop's timezone (:mod:`scheduler.when`) and every command says what
it did. Only linked marketers and admins may use them (checked by the Desk).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.commands import Ctx, command
from bot.core.channel import StaffAnswer
from bot.core.clean import db_id
from bot.core.errors import InboxError
from bot.models import ChannelAccount, Post, PostStatus, Role
from scheduler.posts import flows
from scheduler.posts import service as posts
from scheduler.posts.when import WhenError, parse

ROLES = (Role.ADMIN, Role.MARKETER)
TAGS = {"tg": "telegram", "telegram": "telegram", "fb": "facebook", "facebook": "facebook",
        "ig": "instagram", "instagram": "instagram"}
USAGE = ("Usage: /post WHEN #tg #fb #ig TEXT, e.g. /post tomorrow 9:00 #tg Spring sale "
         "starts! (or /post alone, step by step)")


def _tz(ctx: Ctx) -> ZoneInfo:
    return ZoneInfo(ctx.desk.services["settings"].shop_timezone)


def parse_when(ctx: Ctx, text: str) -> datetime:
    """A natural time in the shop's timezone; InboxError saying what is wrong with it."""
    try:
        return parse(text, _tz(ctx))
    except WhenError as exc:
        raise InboxError(str(exc)) from None


def _when(ctx: Ctx, text: str) -> datetime:
    try:
        return parse_when(ctx, text)
    except InboxError as exc:
        raise InboxError(f"{exc}. Nothing was queued.") from None


def _show(ctx: Ctx, when: datetime | None) -> str:
    if when is None:
        return "no time"
    local = when.astimezone(_tz(ctx))
    return f"{local:%a %d %b %H:%M} ({local.tzname()})"


def _post_id(ctx: Ctx) -> int:
    post_id = db_id(ctx.args[0].lstrip("#")) if ctx.args else None
    if post_id is None:
        raise InboxError("give the post's number, e.g. 12 (see /queue)")
    return post_id


async def _targets(networks: list[str]) -> list[dict[str, object]]:
    """The publishing target of each chosen network: every enabled account of it that
    has a default target (settings.channel, page_id or ig_user_id)."""
    out: list[dict[str, object]] = []
    for network in networks:
        found = [(a, posts.default_target(a.kind, a.settings))
                 for a in await ChannelAccount.filter(kind=network, enabled=True)]
        found = [(a, t) for a, t in found if t]
        if not found:
            raise InboxError(f"no {network} channel is set up for posts (set "
                             f"settings.{posts.TARGET_SETTING[network]} on the {network} "
                             f"account). Nothing was queued.")
        out += [{"channel_account_id": a.id, "target": t} for a, t in found]
    return out


@command("post", "/post [WHEN #tg TEXT]", *ROLES)
async def post(ctx: Ctx) -> str | StaffAnswer:
    words = ctx.args
    if not words:  # step by step, with buttons
        return await flows.start_post(ctx)
    first_tag = next((i for i, w in enumerate(words) if w.startswith("#")
                      and w[1:].lower() in TAGS), None)
    if first_tag is None or first_tag == 0:
        return USAGE
    when = _when(ctx, " ".join(words[:first_tag]))
    end = first_tag
    while end < len(words) and words[end].startswith("#") and words[end][1:].lower() in TAGS:
        end += 1
    networks = list(dict.fromkeys(TAGS[w[1:].lower()] for w in words[first_tag:end]))
    return await queue_post(ctx, " ".join(words[end:]), [], networks, when)


async def queue_post(ctx: Ctx, text: str, media: list[dict[str, Any]], networks: list[str],
                     when: datetime) -> str:
    """Compose and schedule (or send for review); the answer says what happened."""
    created = await posts.compose(ctx.user, text, media, await _targets(networks))
    settings = ctx.desk.services["settings"]
    if settings.posts_require_approval and ctx.user.role != Role.ADMIN:
        await posts.move(created.id, PostStatus.IN_REVIEW, ctx.user, "from Telegram")
        await Post.filter(id=created.id).update(due_at=posts.utc(when))
        return (f"📝 Post #{created.id} is waiting for an admin's approval; it is meant for "
                f"{_show(ctx, when)} on {', '.join(networks)}.")
    await posts.schedule(created.id, ctx.user, when, False)
    return f"✅ Post #{created.id} scheduled for {_show(ctx, when)} on {', '.join(networks)}."


@command("queue", "/queue", *ROLES)
async def queue(ctx: Ctx) -> str:
    upcoming = await Post.filter(status=PostStatus.SCHEDULED).order_by("due_at", "id").limit(10)
    if not upcoming:
        return "The queue is empty."
    nets = await posts.networks_of([p.id for p in upcoming])
    lines = [f"#{p.id} · {_show(ctx, p.due_at)} · {', '.join(nets.get(p.id, []))} · "
             f"{p.text[:50]}" for p in upcoming]
    return "Next posts:\n" + "\n".join(lines)


@command("cancel", "/cancel ID", *ROLES)
async def cancel(ctx: Ctx) -> str:
    pid = _post_id(ctx)
    await posts.move(pid, PostStatus.CANCELLED, ctx.user, "from Telegram")
    return f"🗑 Post #{pid} is cancelled."


@command("reschedule", "/reschedule ID WHEN", *ROLES)
async def reschedule(ctx: Ctx) -> str:
    pid = _post_id(ctx)
    when = _when(ctx, " ".join(ctx.args[1:]))
    await posts.reschedule(pid, ctx.user, when)
    return f"✅ Post #{pid} now goes out {_show(ctx, when)}."


@command("calendar", "/calendar [week]", *ROLES)
async def calendar(ctx: Ctx) -> str:
    days = 7 if ctx.args and ctx.args[0].lower().startswith("week") else 31
    now = datetime.now(UTC)
    rows = await Post.filter(due_at__gte=now - timedelta(days=1),
                             due_at__lt=now + timedelta(days=days)).exclude(
        status=PostStatus.CANCELLED).order_by("due_at", "id")
    if not rows:
        return f"Nothing planned in the next {days} days."
    tz = _tz(ctx)
    lines, last = [], None
    for p in rows:
        assert p.due_at is not None
        day = p.due_at.astimezone(tz).strftime("%a %d %b")
        if day != last:
            lines.append(f"📅 {day}")
            last = day
        lines.append(f"  {p.due_at.astimezone(tz):%H:%M} #{p.id} {p.status} · {p.text[:40]}")
    return "\n".join(lines)


@command("approve", "/approve ID", Role.ADMIN)
async def approve(ctx: Ctx) -> str:
    pid = _post_id(ctx)
    await posts.move(pid, PostStatus.APPROVED, ctx.user, "from Telegram")
    post = await Post.get(id=pid)
    if post.due_at is not None and post.due_at > datetime.now(UTC):
        await posts.schedule(pid, ctx.user, post.due_at, False)
        return f"✅ Post #{pid} is approved and scheduled for {_show(ctx, post.due_at)}."
    return f"✅ Post #{pid} is approved; schedule it with /reschedule {pid} WHEN."


@command("reject", "/reject ID reason", Role.ADMIN)
async def reject(ctx: Ctx) -> str:
    pid = _post_id(ctx)
    reason = " ".join(ctx.args[1:]).strip()
    if not reason:
        raise InboxError("say why, e.g. /reject 12 wrong price")
    await posts.move(pid, PostStatus.DRAFT, ctx.user, reason)
    return f"↩ Post #{pid} is back to draft: {reason}"


@command("retry", "/retry ID", *ROLES)
async def retry(ctx: Ctx) -> str:
    pid = _post_id(ctx)
    await posts.retry(pid, ctx.user, "from Telegram")
    return f"🔁 Post #{pid} is queued again, now."
