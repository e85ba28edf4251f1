"""Posts: one workflow for the web pages, the REST API and the chat commands alike
(draft → in review → approved → scheduled → publishing → published / failed / cancelled,
plus missed), where every move is recorded with who, when and why, and one approval
policy (:func:`needs_review`). Each network's limits are checked before anything is
queued (:mod:`scheduler.posts.networks`, read from the adapters' declarations).

Moves are compare-and-set updates on the current status, so two people (or a person and
the clock) racing on one post cannot both win; the loser gets a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from bot.core import said
from bot.core.i18n import N_, lazy
from bot.core.said import Said
from bot.models import ChannelAccount, Post, PostEvent, PostStatus, PostVariant, Role, User
from scheduler.posts.labels import lazy_status
from scheduler.posts.networks import PostError, by_kind, check_variant, default_target
from scheduler.posts.networks import target_setting as _target_setting

__all__ = ["PostForbidden", "PostConflict", "move", "compose", "submit", "schedule", "approve",
           "reschedule", "retry", "needs_review", "networks_of", "future"]

S = PostStatus
# Switchboard's own reasons in a post's history, shown in the reader's language (the API's
# ``reason`` stays the English text); a time is kept as its ISO text, shown as it is.
RETRY, SUBMITTED = Said(N_("retry")), Said(N_("submitted"))
BULK_RETRY, FROM_TELEGRAM = Said(N_("bulk retry")), Said(N_("from Telegram"))


def for_time(when: datetime) -> Said:
    """The reason "for <time>" of a move to a time (or of an edit that set one)."""
    return Said(N_("for %(time)s"), time=when.isoformat())


def _rescheduled(when: datetime) -> Said:
    return Said(N_("rescheduled for %(time)s"), time=when.isoformat())


def _reason(reason: said.Value) -> dict[str, Any]:
    """A history row's ``reason`` (English) and ``reason_i18n`` (the same, as data)."""
    return {"reason": said.english(reason)[:500], "reason_i18n": said.data(reason)}
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


class PostForbidden(PostError):
    status = 403


class PostConflict(PostError):
    status = 409


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


@dataclass(frozen=True)
class Moved:
    """A move that happened: the post as it is now, and the id of its record (the
    ``PostEvent``), which names this one transition (an alert is raised once per id)."""

    post: Post
    event_id: int


async def move(post_id: int, to: PostStatus, user: User | None,
               reason: said.Value = "", **changes: Any) -> Post:
    """Move a post to ``to`` if the workflow and the user's role allow it, applying
    ``changes`` (e.g. ``due_at``) in the same transaction, and record the move (with
    ``reason``: a person's words, or Switchboard's as :class:`~bot.core.said.Said`)."""
    return (await transition(post_id, to, user, reason, **changes)).post


async def transition(post_id: int, to: PostStatus, user: User | None,
                     reason: said.Value = "", **changes: Any) -> Moved:
    """:func:`move`, also saying which record it made. Every status change of a post goes
    through here: a compare-and-set on the current status, so of two racing movers (two
    people, a person and the clock, two processes) exactly one wins."""
    async with in_transaction() as conn:
        return await _step(conn, post_id, to, user, reason, **changes)


async def _step(conn: BaseDBAsyncClient, post_id: int, to: PostStatus, user: User | None,
                reason: said.Value, **changes: Any) -> Moved:
    """One move inside the caller's transaction ``conn`` (see :func:`transition`)."""
    changes = {k: utc(v) for k, v in changes.items()}
    post = await Post.filter(id=post_id).using_db(conn).first()
    if post is None:
        raise PostError(lazy("post not found"), "not_found", "post_id")
    frm = PostStatus(post.status)
    who = MOVES.get((frm, to))
    if who is None:
        raise PostError(lazy("a %(from)s post cannot become %(to)s", **{
            "from": lazy_status(frm), "to": lazy_status(to)}), "bad_transition",
                        "status")
    if not may(user, who):
        only = (N_("only an admin can make a %(from)s post %(to)s") if who == "admin"
                else N_("only a marketer or admin can make a %(from)s post %(to)s"))
        raise PostForbidden(lazy(only, **{"from": lazy_status(frm),
                                          "to": lazy_status(to)}), "forbidden", "status")
    updated = await Post.filter(id=post_id, status=frm).using_db(conn).update(
        status=to, **changes)
    if not updated:  # someone moved it first
        raise PostConflict(lazy("the post changed meanwhile; reload and try again"),
                           "conflict")
    event = await PostEvent.create(using_db=conn, post_id=post_id, from_status=frm.value,
                                   to_status=to.value, user=user, **_reason(reason))
    post.status = to
    for key, value in changes.items():
        setattr(post, key, value)
    return Moved(post, event.id)


async def _get(post_id: int) -> Post:
    post = await Post.filter(id=post_id).first()
    if post is None:
        raise PostError(lazy("post not found"), "not_found", "post_id")
    return post


def future(due_at: datetime | None) -> datetime:
    """``due_at`` in UTC if it is a time still to come; PostError otherwise. Front ends
    that create a post and queue it at once check the time with this first, so a refused
    time leaves no draft behind."""
    if due_at is None:
        raise PostError(lazy("give a time to publish at"), "invalid", "due_at")
    if due_at.tzinfo is None:
        raise PostError(lazy("the time needs a timezone (or use the shop's local time)"),
                        "invalid", "due_at")
    if due_at <= datetime.now(UTC):
        raise PostError(lazy("that time is in the past"), "in_past", "due_at")
    return utc(due_at)  # type: ignore[no-any-return]


async def retry(post_id: int, user: User | None, reason: said.Value = RETRY,
                due_at: datetime | None = None) -> Post:
    """Queue a failed or missed post again, now (or at ``due_at``), from a fresh count of
    attempts. Targets already published stay published; failed ones, and ones whose
    outcome was unknown (a person has checked they did not go out), are tried again."""
    post = await _get(post_id)
    if post.status not in (S.FAILED, S.MISSED):
        raise PostError(lazy("only a failed or missed post can be retried; this one is "
                             "%(status)s", status=lazy_status(post.status)),
                        "bad_transition", "status")
    post = await move(post_id, S.SCHEDULED, user, reason, due_at=due_at or datetime.now(UTC),
                      attempts=0, error="", error_i18n=None)
    await PostVariant.filter(post_id=post_id, state__in=["failed", "unknown"]).update(
        state="waiting", error="", error_i18n=None)
    return post


# --- composing and scheduling: one workflow for the API, the pages and the chat commands ----

async def compose(user: User, text: str, media: list[dict[str, Any]],
                  targets: list[dict[str, Any]], *,
                  recurrence: dict[str, Any] | None = None,
                  evergreen_days: int | None = None) -> Post:
    """Create a draft with one variant per target, every variant checked first against its
    network's limits (declared on the channel's adapter).

    ``targets``: ``[{"channel_account_id", "target", "text"?}]``.
    """
    if not targets:
        raise PostError(lazy("choose at least one channel to post to"), "invalid", "variants")
    publishing = by_kind()
    rows = []
    for i, t in enumerate(targets):
        account = await ChannelAccount.filter(id=t["channel_account_id"], enabled=True).first()
        if account is None or account.kind not in publishing:
            raise PostError(lazy("variants[%(i)s]: no channel account %(id)s that can publish",
                                 i=i, id=t["channel_account_id"]), "invalid", "variants")
        network = publishing[account.kind].network
        body = str(t["text"]) if t.get("text") is not None else text
        check_variant(network, body, media)
        target = str(t.get("target") or "").strip() or default_target(account.kind,
                                                                      account.settings)
        if not target:
            raise PostError(lazy("variants[%(i)s]: say where to post on %(name)s (set "
                                 "settings.%(setting)s on the account)", i=i,
                                 name=account.name, setting=_target_setting(account.kind)),
                            "invalid", "variants")
        rows.append((account, network, target, t.get("text")))
    async with in_transaction() as conn:
        post = await Post.create(using_db=conn, text=text, media=media, created_by=user,
                                 recurrence=recurrence, evergreen_days=evergreen_days)
        for account, network, target, own_text in rows:
            await PostVariant.create(using_db=conn, post=post, channel_account=account,
                                     network=network, target=target, text=own_text)
        await PostEvent.create(using_db=conn, post=post, from_status="", to_status="draft",
                               user=user, **_reason(Said(N_("composed"))))
    return post


def needs_review(user: User, status: PostStatus, require_approval: bool) -> bool:
    """THE approval policy: when the shop requires approval, a draft that is not an
    admin's goes to review before it can be scheduled (README, Architecture)."""
    return require_approval and status == S.DRAFT and user.role != Role.ADMIN


async def submit(post_id: int, user: User, reason: said.Value = SUBMITTED,
                 due_at: datetime | None = None) -> Post:
    """Send a draft for review, optionally with the time it is meant for (kept, so the
    approval schedules it then)."""
    changes: dict[str, Any] = {}
    if due_at is not None:
        changes["due_at"] = future(due_at)
        reason = reason or for_time(changes["due_at"])
    return await move(post_id, S.IN_REVIEW, user, reason, **changes)


async def schedule(post_id: int, user: User, due_at: datetime | None, require_approval: bool,
                   *, or_review: bool = False, review_reason: str = "") -> Post:
    """Queue a draft (or an approved post) for ``due_at``, which must be in the future.

    When the post needs review first (:func:`needs_review`), it is refused with
    ``needs_approval`` (403), or, with ``or_review``, submitted for review with that
    time instead (recorded with ``review_reason``, or "for <time>" without one): the
    returned post's status says which happened."""
    when = future(due_at)
    post = await _get(post_id)
    if needs_review(user, PostStatus(post.status), require_approval):
        if not or_review:
            raise PostForbidden(lazy("posts need an admin's approval first: submit it for "
                                     "review"), "needs_approval", "status")
        return await submit(post_id, user, review_reason or for_time(when), when)
    return await move(post_id, S.SCHEDULED, user, for_time(when), due_at=when)


async def approve(post_id: int, user: User, reason: said.Value = "") -> Post:
    """Approve a post in review; one submitted with a time still to come is scheduled for
    it at once, in the same transaction (otherwise it waits, approved, for a time)."""
    async with in_transaction() as conn:
        post = (await _step(conn, post_id, S.APPROVED, user, reason)).post
        if post.due_at is not None and post.due_at > datetime.now(UTC):
            post = (await _step(conn, post_id, S.SCHEDULED, user, for_time(post.due_at))).post
    return post


async def reschedule(post_id: int, user: User, due_at: datetime) -> Post:
    """Move a scheduled post to another time (recorded); a failed or missed one is queued
    again for that time, an approved one is scheduled for it."""
    due_at = future(due_at)
    post = await _get(post_id)
    if post.status in (S.FAILED, S.MISSED):
        return await retry(post_id, user, _rescheduled(due_at), due_at)
    if post.status == S.APPROVED:  # approved without a time: give it one
        return await move(post_id, S.SCHEDULED, user, for_time(due_at), due_at=due_at)
    if post.status != S.SCHEDULED:
        raise PostError(lazy("only a scheduled, approved, failed or missed post can be "
                             "rescheduled; this one is %(status)s",
                             status=lazy_status(post.status)), "bad_transition", "status")
    async with in_transaction() as conn:
        if not await Post.filter(id=post_id, status=S.SCHEDULED).using_db(conn).update(
                due_at=due_at):
            raise PostConflict(lazy("the post changed meanwhile; try again"), "conflict")
        await PostEvent.create(using_db=conn, post_id=post_id, from_status="scheduled",
                               to_status="scheduled", user=user,
                               **_reason(_rescheduled(due_at)))
    post.due_at = due_at
    return post


async def networks_of(post_ids: list[int]) -> dict[int, list[str]]:
    """The networks each post goes to (for lists, the calendar and the ICS feed)."""
    out: dict[int, list[str]] = {}
    for row in await PostVariant.filter(post_id__in=post_ids).order_by("id").values(
            "post_id", "network"):
        out.setdefault(row["post_id"], []).append(row["network"])
    return out
