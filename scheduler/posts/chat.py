"""What the posts' chat front ends share (the one-line ``/post`` and the step-by-step
one): reading a time in the shop's timezone, showing one, finding where each network's
posts go, and queueing a composed post through the posts service."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.core import l10n
from bot.core.commands import Ctx
from bot.core.errors import InboxError
from bot.core.i18n import _, lazy
from bot.models import ChannelAccount, PostStatus
from scheduler.posts import networks
from scheduler.posts import service as posts
from scheduler.posts.when import WhenError, parse


def tz(ctx: Ctx) -> ZoneInfo:
    return ZoneInfo(ctx.desk.settings.shop_timezone)


def parse_when(ctx: Ctx, text: str) -> datetime:
    """A natural time in the shop's timezone; InboxError saying what is wrong with it."""
    try:
        return parse(text, tz(ctx))
    except WhenError as exc:
        raise InboxError(exc.args[0]) from None  # still lazy: translated where shown


def show(ctx: Ctx, when: datetime | None) -> str:
    """A time in the shop's timezone, as the staff member's language writes it, and the
    zone's abbreviation ("Fri, Mar 6, 9:00 AM (+07)")."""
    if when is None:
        return _("no time")
    zone = tz(ctx)
    return f"{l10n.format_moment(when, zone)} ({when.astimezone(zone).tzname()})"


async def targets(chosen: list[str]) -> list[dict[str, object]]:
    """The publishing target of each chosen network: every enabled account of it that
    has a default target (the setting its adapter declares: channel, page_id …)."""
    out: list[dict[str, object]] = []
    for network in chosen:
        found = [(a, networks.default_target(a.kind, a.settings))
                 for a in await ChannelAccount.filter(kind=network, enabled=True)]
        found = [(a, t) for a, t in found if t]
        if not found:
            raise InboxError(lazy(
                "no %(network)s channel is set up for posts (set settings.%(setting)s on "
                "the %(network)s account). Nothing was queued.", network=network,
                setting=networks.target_setting(network)))
        out += [{"channel_account_id": a.id, "target": t} for a, t in found]
    return out


async def queue_post(ctx: Ctx, text: str, media: list[dict[str, Any]], chosen: list[str],
                     when: datetime) -> str:
    """Compose and schedule; the service sends it for review instead when the approval
    policy says so, and the answer says which happened."""
    posts.future(when)  # a time gone by meanwhile leaves no draft behind
    created = await posts.compose(ctx.user, text, media, await targets(chosen))
    post = await posts.schedule(created.id, ctx.user, when,
                                ctx.desk.settings.posts_require_approval, or_review=True,
                                review_reason="from Telegram")
    if post.status == PostStatus.IN_REVIEW:
        return "📝 " + _("Post #%(id)s is waiting for an admin's approval; it is meant for "
                        "%(when)s on %(networks)s.", id=created.id, when=show(ctx, when),
                        networks=", ".join(chosen))
    return "✅ " + _("Post #%(id)s scheduled for %(when)s on %(networks)s.", id=created.id,
                    when=show(ctx, when), networks=", ".join(chosen))
