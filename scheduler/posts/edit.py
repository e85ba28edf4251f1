"""Editing a post until it goes out: its text, each network's own text, its images, its
time, its recurrence and its evergreen interval. One service for the REST API and the
pages (:func:`edit`).

A post being published (claimed by the publisher) or published cannot be edited
(:class:`~scheduler.posts.service.PostConflict`, 409); nor can a cancelled one. The edit is
a compare-and-set on the status, like every move, so an edit racing the publisher's
claim either lands before it (and the new text goes out) or is refused.

A post that has not gone out to any network can be deleted (:func:`delete`), with its
targets and its history; one being published or published cannot (it stays on record,
like every mail and message that went out). The delete is a compare-and-set on the status
*and* on the publisher's lease: a post that a publisher process has just claimed (its
lease is running, its status still ``scheduled``) is refused, so the publisher never
finds its post gone halfway and publishing stays exactly once.

The approval policy holds for edits too: when the shop requires approval and the editor
is not an admin, an approved, scheduled, failed or missed post goes back to review (its
new content was not approved); a draft stays a draft and a post in review stays there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.core.i18n import N_, _
from bot.core.said import Joined, Said, data, english
from bot.core.time import utcnow
from bot.models import Post, PostEvent, PostStatus, PostVariant, Role, User
from scheduler.posts import labels
from scheduler.posts.networks import PostError, check_variant
from scheduler.posts.service import PostConflict, PostForbidden, for_time, future, may

__all__ = ["KEEP", "EDITABLE", "DELETABLE", "edit", "delete", "delete_refusal"]

S = PostStatus
KEEP: Any = object()  # "leave this as it is" for the fields that can be set to None
EDITABLE = (S.DRAFT, S.IN_REVIEW, S.APPROVED, S.SCHEDULED, S.FAILED, S.MISSED)
APPROVED_ALREADY = (S.APPROVED, S.SCHEDULED, S.FAILED, S.MISSED)
DELETABLE = (*EDITABLE, S.CANCELLED)
WENT_OUT = ("done", "sending", "unknown")  # a target that went (or may have gone) out


def refusal(status: PostStatus) -> PostConflict | None:
    """Why a post in ``status`` cannot be edited, or None if it can."""
    if status in EDITABLE:
        return None
    if status in (S.PUBLISHING, S.PUBLISHED):
        return PostConflict(_("This post is published (or being published) and can no "
                              "longer be edited."), "published", "status")
    return PostConflict(_("A %(status)s post cannot be edited.", status=labels.status(status)),
                        "bad_transition", "status")


async def edit(post_id: int, user: User, require_approval: bool, *,
               text: str | None = None, media: list[dict[str, Any]] | None = None,
               variant_texts: dict[int, str | None] | None = None,
               due_at: datetime | None = None, recurrence: Any = KEEP,
               evergreen_days: Any = KEEP) -> Post:
    """Change what is given (None or KEEP: left as it is) and record the edit.

    ``variant_texts``: variant id -> that network's own text (None: the post's text).
    ``due_at`` must be still to come. Every variant still to go out is checked against
    its network's limits with the new text and images."""
    if not may(user, "staff"):
        raise PostForbidden(_("only a marketer or admin can edit a post"), "forbidden")
    when = future(due_at) if due_at is not None else None
    async with in_transaction() as conn:
        post, frm = await _post_allowing(conn, post_id, refusal)
        variants = await PostVariant.filter(post_id=post_id).using_db(conn).order_by("id")
        by_id = {v.id: v for v in variants}
        own = dict(variant_texts or {})
        for vid in own:
            if vid not in by_id:
                raise PostError(_("post #%(post)s has no variant %(variant)s",
                                  post=post_id, variant=vid), "invalid", "variants")
        body = post.text if text is None else text
        images = post.media if media is None else media
        for v in variants:
            new = own[v.id] if v.id in own else v.text
            if v.state == "published":
                if new != v.text:
                    raise PostError(_("it is already published on %(network)s",
                                      network=v.network), "invalid", "variants")
                continue
            check_variant(v.network, body if new is None else new, images)
        back = require_approval and user.role != Role.ADMIN and frm in APPROVED_ALREADY
        to = S.IN_REVIEW if back else frm
        changes: dict[str, Any] = {"text": body, "media": images}
        if when is not None:
            changes["due_at"] = when
        if recurrence is not KEEP:
            changes["recurrence"] = recurrence
        if evergreen_days is not KEEP:
            changes["evergreen_days"] = evergreen_days
        if not await Post.filter(id=post_id, status=frm).using_db(conn).update(
                status=to, **changes):
            raise PostConflict(_("the post changed meanwhile; reload and try again"),
                               "conflict")
        for vid, value in own.items():
            await PostVariant.filter(id=vid).using_db(conn).update(text=value)
        reason = Joined("; ", (Said(N_("edited")),
                               *([Said(N_("needs approval again"))] if back else []),
                               *([for_time(when)] if when is not None else [])))
        await PostEvent.create(using_db=conn, post_id=post_id, from_status=frm.value,
                               to_status=to.value, user=user, reason=english(reason)[:500],
                               reason_i18n=data(reason))
    post.status = to
    for key, value in changes.items():
        setattr(post, key, value)
    return post


async def _post_allowing(conn: Any, post_id: int,
                         refuse: Callable[[PostStatus], PostConflict | None]
                         ) -> tuple[Post, PostStatus]:
    """The post and its status, read in ``conn``: not found (404), or ``refuse``'s 409."""
    post = await Post.filter(id=post_id).using_db(conn).first()
    if post is None:
        raise PostError(_("post not found"), "not_found", "post_id")
    frm = PostStatus(post.status)
    if (why := refuse(frm)) is not None:
        raise why
    return post, frm


def delete_refusal(status: PostStatus) -> PostConflict | None:
    """Why a post in ``status`` cannot be deleted, or None if it may be (its targets are
    checked by :func:`delete`)."""
    if status in DELETABLE:
        return None
    return PostConflict(_("Published posts cannot be deleted: they stay on record. (A "
                          "post being published cannot be deleted either.)"),
                        "published", "status")


async def delete(post_id: int, user: User) -> None:
    """Delete a post that has not gone out to any network, with its targets and history.

    Refused (409) when it is published or being published, when one of its targets went
    out or may have (a failed post published on one network of two: cancel it instead),
    and when a publisher process holds its lease (it has just claimed it)."""
    if not may(user, "staff"):
        raise PostForbidden(_("only a marketer or admin can delete a post"), "forbidden")
    async with in_transaction() as conn:
        post, frm = await _post_allowing(conn, post_id, delete_refusal)
        out = await PostVariant.filter(post_id=post_id, state__in=WENT_OUT).using_db(
            conn).values_list("network", flat=True)
        if out:
            raise PostConflict(_(
                "This post went out (or may have gone out) on %(networks)s, so it cannot "
                "be deleted; cancel it instead.",
                networks=", ".join(sorted({str(n) for n in out}))), "published", "status")
        await PostEvent.filter(post_id=post_id).using_db(conn).delete()
        await PostVariant.filter(post_id=post_id).using_db(conn).delete()
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=utcnow())
        if not await Post.filter(free, id=post_id, status=frm).using_db(conn).delete():
            # the publisher claimed it (or someone moved it) since it was read: the
            # exception rolls the targets and history back
            raise PostConflict(_("This post is being published right now (or it changed "
                                 "meanwhile), so it was not deleted. Reload the page."),
                               "conflict", "status")
