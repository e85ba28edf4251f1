"""Posts: each network's limits, checked before anything is queued, and the workflow
(draft → in review → approved → scheduled → publishing → published / failed / cancelled,
plus missed), where every move is recorded with who, when and why.

Moves are compare-and-set updates on the current status, so two people (or a person and
the clock) racing on one post cannot both win; the loser gets a clear error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from bot.core.errors import InboxError
from bot.models import Post, PostEvent, PostStatus, User

S = PostStatus
# Who may move a post from one status to another: "staff" (marketer or admin), "admin",
# or "clock" (the engine itself).
MOVES: dict[tuple[PostStatus, PostStatus], str] = {
    (S.DRAFT, S.IN_REVIEW): "staff",
    (S.DRAFT, S.SCHEDULED): "staff",  # when approval is not required
    (S.DRAFT, S.CANCELLED): "staff",
    (S.IN_REVIEW, S.APPROVED): "admin",
    (S.IN_REVIEW, S.DRAFT): "admin",  # rejected, with a comment
    (S.IN_REVIEW, S.CANCELLED): "staff",
    (S.APPROVED, S.SCHEDULED): "staff",
    (S.APPROVED, S.CANCELLED): "staff",
    (S.SCHEDULED, S.DRAFT): "staff",
    (S.SCHEDULED, S.CANCELLED): "staff",
    (S.SCHEDULED, S.PUBLISHING): "clock",
    (S.SCHEDULED, S.MISSED): "clock",
    (S.PUBLISHING, S.PUBLISHED): "clock",
    (S.PUBLISHING, S.FAILED): "clock",
    (S.PUBLISHING, S.SCHEDULED): "clock",  # a retry after a 429 / 5xx
    (S.FAILED, S.SCHEDULED): "staff",  # retry
    (S.FAILED, S.CANCELLED): "staff",
    (S.MISSED, S.SCHEDULED): "staff",
    (S.MISSED, S.CANCELLED): "staff",
}


class PostError(InboxError):
    """A post that cannot be queued or moved; the message names the rule."""


class PostForbidden(PostError):
    status = 403


class PostConflict(PostError):
    status = 409


@dataclass(frozen=True)
class Limits:
    network: str
    text: int  # characters of text without media
    caption: int | None  # characters of a caption with media (None: same as text)
    needs_media: bool = False
    hashtags: int | None = None
    images: int = 10  # at most this many images in one post


LIMITS = {
    "telegram": Limits("Telegram", text=4096, caption=1024),
    "facebook": Limits("Facebook", text=63206, caption=None),
    "instagram": Limits("Instagram", text=2200, caption=2200, needs_media=True, hashtags=30),
}
_HASHTAG = re.compile(r"(?<!\w)#\w+")


def check_variant(network: str, text: str, media: list[dict[str, Any]]) -> None:
    """Raise PostError naming the network's limit the text or media break."""
    limits = LIMITS.get(network)
    if limits is None:
        raise PostError(f"unknown network {network!r}; use one of {', '.join(LIMITS)}",
                        "unknown_network", "network")
    if limits.needs_media and not media:
        raise PostError(f"{limits.network} posts need at least one image", "needs_media",
                        "media")
    if not text.strip() and not media:
        raise PostError("a post needs text or an image", "empty", "text")
    if len(media) > limits.images:
        raise PostError(f"{limits.network} allows at most {limits.images} images in a post; "
                        f"this one has {len(media)}", "too_many_images", "media")
    n = len(text)
    if media and limits.caption is not None and n > limits.caption:
        raise PostError(f"{limits.network} allows at most {limits.caption:,} characters in a "
                        f"caption; this one has {n:,}", "too_long", "text")
    if n > limits.text:
        raise PostError(f"{limits.network} allows at most {limits.text:,} characters of "
                        f"text; this one has {n:,}", "too_long", "text")
    tags = len(_HASHTAG.findall(text))
    if limits.hashtags is not None and tags > limits.hashtags:
        raise PostError(f"{limits.network} allows at most {limits.hashtags} hashtags; this "
                        f"post has {tags}", "too_many_hashtags", "text")


def may(user: User | None, who: str) -> bool:
    if who == "clock":
        return user is None
    if user is None:
        return False
    return user.role == "admin" if who == "admin" else user.role in ("admin", "marketer")


def utc(value: Any) -> Any:
    """Datetimes are stored in UTC: on SQLite they are compared as text, and a time kept
    with another offset would sort wrongly (a post in Bangkok time would never fall due)."""
    return value.astimezone(UTC) if isinstance(value, datetime) else value


async def move(post_id: int, to: PostStatus, user: User | None, reason: str = "",
               **changes: Any) -> Post:
    """Move a post to ``to`` if the workflow and the user's role allow it, applying
    ``changes`` (e.g. ``due_at``) in the same transaction, and record the move."""
    changes = {k: utc(v) for k, v in changes.items()}
    async with in_transaction() as conn:
        post = await Post.filter(id=post_id).using_db(conn).first()
        if post is None:
            raise PostError("post not found", "not_found", "post_id")
        frm = PostStatus(post.status)
        who = MOVES.get((frm, to))
        if who is None:
            raise PostError(f"a {frm.value} post cannot become {to.value}", "bad_transition",
                            "status")
        if not may(user, who):
            raise PostForbidden(
                f"only {'an admin' if who == 'admin' else 'a marketer or admin'} can make a "
                f"{frm.value} post {to.value}", "forbidden", "status")
        updated = await Post.filter(id=post_id, status=frm).using_db(conn).update(
            status=to, **changes)
        if not updated:  # someone moved it first
            raise PostConflict("the post changed meanwhile; reload and try again", "conflict")
        await PostEvent.create(using_db=conn, post_id=post_id, from_status=frm.value,
                               to_status=to.value, user=user, reason=reason[:500])
    post.status = to
    for key, value in changes.items():
        setattr(post, key, value)
    return post


async def retry(post_id: int, user: User | None, reason: str = "retry") -> Post:
    """Queue a failed or missed post again, now, from a fresh count of attempts. Targets
    already published stay published; failed ones, and ones whose outcome was unknown
    (a person has checked they did not go out), are tried again."""
    from bot.models import PostVariant

    post = await Post.filter(id=post_id).first()
    if post is None:
        raise PostError("post not found", "not_found", "post_id")
    if post.status not in (S.FAILED, S.MISSED):
        raise PostError(f"only a failed or missed post can be retried; this one is "
                        f"{post.status}", "bad_transition", "status")
    post = await move(post_id, S.SCHEDULED, user, reason, due_at=datetime.now(UTC),
                      attempts=0, error="")
    await PostVariant.filter(post_id=post_id, state__in=["failed", "unknown"]).update(
        state="waiting", error="")
    return post


# --- composing and scheduling (shared by the API, the pages and the chat commands) -------------

NETWORK_OF_KIND = {"telegram": "telegram", "facebook": "facebook", "instagram": "instagram"}
# The account setting that names where its posts go by default.
TARGET_SETTING = {"telegram": "channel", "facebook": "page_id", "instagram": "ig_user_id"}


def default_target(kind: str, settings: dict[str, Any] | None) -> str:
    """Where an account's posts go unless a post says otherwise ("" if not set up)."""
    return str((settings or {}).get(TARGET_SETTING.get(kind, "")) or "").strip()


async def compose(user: User, text: str, media: list[dict[str, Any]],
                  targets: list[dict[str, Any]]) -> Post:
    """Create a draft with one variant per target, every variant checked first.

    ``targets``: ``[{"channel_account_id", "target", "text"?}]``.
    """
    from bot.models import ChannelAccount, PostVariant

    if not targets:
        raise PostError("choose at least one channel to post to", "invalid", "variants")
    rows = []
    for i, t in enumerate(targets):
        account = await ChannelAccount.filter(id=t["channel_account_id"], enabled=True).first()
        if account is None or account.kind not in NETWORK_OF_KIND:
            raise PostError(f"variants[{i}]: no channel account {t['channel_account_id']} "
                            f"that can publish", "invalid", "variants")
        network = NETWORK_OF_KIND[account.kind]
        body = str(t["text"]) if t.get("text") is not None else text
        check_variant(network, body, media)
        target = str(t.get("target") or "").strip() or default_target(account.kind,
                                                                      account.settings)
        if not target:
            raise PostError(f"variants[{i}]: say where to post on {account.name} (set "
                            f"settings.{TARGET_SETTING[account.kind]} on the account)",
                            "invalid", "variants")
        rows.append((account, network, target, t.get("text")))
    async with in_transaction() as conn:
        post = await Post.create(using_db=conn, text=text, media=media, created_by=user)
        for account, network, target, own_text in rows:
            await PostVariant.create(using_db=conn, post=post, channel_account=account,
                                     network=network, target=target, text=own_text)
        await PostEvent.create(using_db=conn, post=post, from_status="", to_status="draft",
                               user=user, reason="composed")
    return post


async def schedule(post_id: int, user: User, due_at: Any, require_approval: bool) -> Post:
    """Queue a draft (or an approved post) for ``due_at``, which must be in the future."""
    if due_at is None:
        raise PostError("give a time to publish at", "invalid", "due_at")
    if due_at.tzinfo is None:
        raise PostError("the time needs a timezone (or use the shop's local time)",
                        "invalid", "due_at")
    if due_at <= datetime.now(UTC):
        raise PostError("that time is in the past", "in_past", "due_at")
    post = await Post.filter(id=post_id).first()
    if post is None:
        raise PostError("post not found", "not_found", "post_id")
    if (require_approval and post.status == S.DRAFT and user.role != "admin"):
        raise PostForbidden("posts need an admin's approval first: submit it for review",
                            "needs_approval", "status")
    return await move(post_id, S.SCHEDULED, user, f"for {due_at.isoformat()}", due_at=due_at)


async def reschedule(post_id: int, user: User, due_at: Any) -> Post:
    """Move a scheduled post to another time (recorded); a failed or missed one is queued
    again for that time."""
    if due_at <= datetime.now(UTC):
        raise PostError("that time is in the past", "in_past", "due_at")
    due_at = utc(due_at)
    post = await Post.filter(id=post_id).first()
    if post is None:
        raise PostError("post not found", "not_found", "post_id")
    if post.status in (S.FAILED, S.MISSED):
        post = await retry(post_id, user, f"rescheduled for {due_at.isoformat()}")
        await Post.filter(id=post_id).update(due_at=due_at)
        post.due_at = due_at
        return post
    if post.status != S.SCHEDULED:
        raise PostError(f"only a scheduled, failed or missed post can be rescheduled; this "
                        f"one is {post.status}", "bad_transition", "status")
    async with in_transaction() as conn:
        if not await Post.filter(id=post_id, status=S.SCHEDULED).using_db(conn).update(
                due_at=due_at):
            raise PostConflict("the post changed meanwhile; try again", "conflict")
        await PostEvent.create(using_db=conn, post_id=post_id, from_status="scheduled",
                               to_status="scheduled", user=user,
                               reason=f"rescheduled for {due_at.isoformat()}")
    post.due_at = due_at
    return post


async def networks_of(post_ids: list[int]) -> dict[int, list[str]]:
    """The networks each post goes to (for lists, the calendar and the ICS feed)."""
    from bot.models import PostVariant

    out: dict[int, list[str]] = {}
    for row in await PostVariant.filter(post_id__in=post_ids).order_by("id").values(
            "post_id", "network"):
        out.setdefault(row["post_id"], []).append(row["network"])
    return out
