"""Marketers' chat commands: queue, move and review posts from Telegram.

``/post tomorrow 9:00 #tg #fb Spring sale starts!`` composes and schedules in one line;
times are read in the shop's timezone (:mod:`scheduler.posts.when`) and every command says what
it did. Only linked marketers and admins may use them (checked by the Desk).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core import l10n
from bot.core.channel import StaffAnswer
from bot.core.clean import db_id
from bot.core.commands import Ctx, command
from bot.core.errors import InboxError
from bot.core.i18n import N_, _, lazy, ngettext
from bot.models import Post, PostStatus, Role
from scheduler.posts import flows, labels, networks
from scheduler.posts import service as posts
from scheduler.posts.chat import parse_when, queue_post, show, tz

ROLES = (Role.ADMIN, Role.MARKETER)
USAGE = N_("Usage: /post WHEN #tg #fb #ig TEXT, e.g. /post tomorrow 9:00 #tg Spring sale "
           "starts! (or /post alone, step by step)")



def _when(ctx: Ctx, text: str) -> datetime:
    try:
        return parse_when(ctx, text)
    except InboxError as exc:
        raise InboxError(lazy("%(problem)s. Nothing was queued.", problem=exc.args[0])) \
            from None


def _post_id(ctx: Ctx) -> int:
    post_id = db_id(ctx.args[0].lstrip("#")) if ctx.args else None
    if post_id is None:
        raise InboxError(lazy("give the post's number, e.g. 12 (see /queue)"))
    return post_id


@command("post", "/post [WHEN #tg TEXT]", *ROLES)
async def post(ctx: Ctx) -> str | StaffAnswer:
    words, tags = ctx.args, networks.by_tag()
    if not words:  # step by step, with buttons
        return await flows.start_post(ctx)
    first_tag = next((i for i, w in enumerate(words) if w.startswith("#")
                      and w[1:].lower() in tags), None)
    if first_tag is None or first_tag == 0:
        return _(USAGE)
    when = _when(ctx, " ".join(words[:first_tag]))
    end = first_tag
    while end < len(words) and words[end].startswith("#") and words[end][1:].lower() in tags:
        end += 1
    chosen = list(dict.fromkeys(tags[w[1:].lower()] for w in words[first_tag:end]))
    return await queue_post(ctx, " ".join(words[end:]), [], chosen, when)


@command("queue", "/queue", *ROLES)
async def queue(ctx: Ctx) -> str:
    upcoming = await Post.filter(status=PostStatus.SCHEDULED).order_by("due_at", "id").limit(10)
    if not upcoming:
        return _("The queue is empty.")
    nets = await posts.networks_of([p.id for p in upcoming])
    lines = [f"#{p.id} · {show(ctx, p.due_at)} · {', '.join(nets.get(p.id, []))} · "
             f"{p.text[:50]}" for p in upcoming]
    return _("Next posts:") + "\n" + "\n".join(lines)


@command("cancel", "/cancel ID", *ROLES)
async def cancel(ctx: Ctx) -> str:
    pid = _post_id(ctx)
    await posts.move(pid, PostStatus.CANCELLED, ctx.user, posts.FROM_TELEGRAM)
    return "🗑 " + _("Post #%(id)s is cancelled.", id=pid)


@command("reschedule", "/reschedule ID WHEN", *ROLES)
async def reschedule(ctx: Ctx) -> str:
    pid = _post_id(ctx)
    when = _when(ctx, " ".join(ctx.args[1:]))
    await posts.reschedule(pid, ctx.user, when)
    return "✅ " + _("Post #%(id)s now goes out %(when)s.", id=pid, when=show(ctx, when))


@command("calendar", "/calendar [week]", *ROLES)
async def calendar(ctx: Ctx) -> str:
    days = 7 if ctx.args and ctx.args[0].lower().startswith("week") else 31
    now = datetime.now(UTC)
    rows = await Post.filter(due_at__gte=now - timedelta(days=1),
                             due_at__lt=now + timedelta(days=days)).exclude(
        status=PostStatus.CANCELLED).order_by("due_at", "id")
    if not rows:
        return ngettext("Nothing planned in the next %(num)d day.",
                        "Nothing planned in the next %(num)d days.", days)
    zone = tz(ctx)
    lines, last = [], None
    for p in rows:
        assert p.due_at is not None
        day = l10n.format_date(p.due_at.astimezone(zone).date(), "EEEE d MMMM")
        if day != last:
            lines.append(f"📅 {day}")
            last = day
        lines.append(f"  {p.due_at.astimezone(zone):%H:%M} #{p.id} "
                     f"{labels.status(p.status)} · {p.text[:40]}")
    return "\n".join(lines)


@command("approve", "/approve ID", Role.ADMIN)
async def approve(ctx: Ctx) -> str:
    pid = _post_id(ctx)
    post = await posts.approve(pid, ctx.user, posts.FROM_TELEGRAM)
    if post.status == PostStatus.SCHEDULED:
        return "✅ " + _("Post #%(id)s is approved and scheduled for %(when)s.", id=pid,
                        when=show(ctx, post.due_at))
    return "✅ " + _("Post #%(id)s is approved; schedule it with /reschedule %(id)s WHEN.",
                    id=pid)


@command("reject", "/reject ID reason", Role.ADMIN)
async def reject(ctx: Ctx) -> str:
    pid = _post_id(ctx)
    reason = " ".join(ctx.args[1:]).strip()
    if not reason:
        raise InboxError(lazy("say why, e.g. /reject 12 wrong price"))
    await posts.move(pid, PostStatus.DRAFT, ctx.user, reason)
    return "↩ " + _("Post #%(id)s is back to draft: %(reason)s", id=pid, reason=reason)


@command("retry", "/retry ID", *ROLES)
async def retry(ctx: Ctx) -> str:
    pid = _post_id(ctx)
    await posts.retry(pid, ctx.user, posts.FROM_TELEGRAM)
    return "🔁 " + _("Post #%(id)s is queued again, now.", id=pid)
