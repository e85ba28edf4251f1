"""REST API for posts: compose, edit, delete, the workflow moves, retries and the
calendar."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from bot.core.auth import Perm, same
from bot.core.http import ApiError, Call, Endpoint, Instant, Strict, json_out, omissible
from bot.core.keys import SETTINGS
from bot.models import Post, PostEvent, PostStatus, PostVariant
from scheduler.posts import edit, ics
from scheduler.posts import service as posts
from scheduler.posts.networks import PostError
from scheduler.posts.recurrence import Recurrence

S = PostStatus


class Media(Strict):
    url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)]


class TargetIn(Strict):
    channel_account_id: int
    target: Annotated[str, Field(max_length=128,
                                 description="Telegram: @channel or chat id; Facebook: Page "
                                             "id; Instagram: business account id. Empty: "
                                             "the account's own (settings.channel, page_id "
                                             "or ig_user_id).")] = ""
    text: Annotated[str, Field(max_length=70000)] | None = Field(
        None, description="This channel's own text (default: the post's).")


class PostIn(Strict):
    text: Annotated[str, Field(max_length=70000)] = ""
    media: list[Media] = Field(default_factory=list)
    variants: list[TargetIn] = Field(min_length=1)
    due_at: datetime | None = Field(None, description="Schedule at once for this time.")
    recurrence: Recurrence | None = Field(
        None, description="Repeat: daily, weekly on days, or monthly on a day, at a time in "
                          "the shop's timezone. Each occurrence is its own post.")
    evergreen_days: Annotated[int, Field(ge=1, le=3650)] | None = Field(
        None, description="Publish it again this many days after it went out.")


class VariantEdit(Strict):
    id: int
    text: Annotated[str, Field(max_length=70000)] | None = Field(
        description="This channel's own text (null: the post's).")


class PostPatch(Strict):
    """Only the fields sent change. A published post (or one being published) cannot be
    edited (409); an edit by a non-admin sends an approved post back to review when the
    shop requires approval."""

    text: Annotated[str, Field(max_length=70000)] = omissible()
    media: list[Media] = omissible()
    variants: list[VariantEdit] = omissible()
    due_at: datetime = omissible(description="A new time, still to come.")
    recurrence: Recurrence | None = None
    evergreen_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class ScheduleIn(Strict):
    due_at: datetime = Field(description="ISO 8601 with a timezone offset.")


class ReasonIn(Strict):
    reason: Annotated[str, Field(max_length=500)] = ""


class RejectIn(Strict):
    reason: Annotated[str, Field(max_length=500, pattern=r"\S",
                                 description="Why (told to the author).")]


class RetryManyIn(Strict):
    ids: list[int] = Field(min_length=1, max_length=500)


class VariantOut(BaseModel):
    id: int
    channel_account_id: int
    network: str
    target: str
    text: str | None
    state: str
    remote_id: str | None
    error: str
    published_at: datetime | None


class PostOut(BaseModel):
    id: int
    text: str
    media: list[dict[str, Any]]
    status: PostStatus
    due_at: datetime | None
    attempts: int
    error: str = Field(description="Why it failed or was missed, shown to staff.")
    recurrence: dict[str, Any] | None = None
    evergreen_days: int | None = None
    variants: list[VariantOut]
    events: list[dict[str, Any]] = Field(description="Every move: who, when, from, to, why.")


class PostQuery(BaseModel):
    status: PostStatus | Literal["all"] = "all"
    start: Instant | None = Field(None, description="Due at or after (calendar range).")
    end: Instant | None = Field(None, description="Due before.")
    limit: Annotated[int, Field(ge=1, le=1000)] = 200


async def post_out(post_id: int) -> dict[str, Any]:
    post = await Post.filter(id=post_id).first()
    if post is None:
        raise ApiError(404, "not_found", "post not found", "post_id")
    variants = await PostVariant.filter(post_id=post_id).order_by("id").values(
        "id", "channel_account_id", "network", "target", "text", "state", "remote_id",
        "error", "published_at")
    events = await PostEvent.filter(post_id=post_id).order_by("id").values(
        "from_status", "to_status", "user_id", "reason", "created_at")
    return {"id": post.id, "text": post.text, "media": post.media, "status": post.status,
            "due_at": post.due_at, "attempts": post.attempts, "error": post.error,
            "recurrence": post.recurrence, "evergreen_days": post.evergreen_days,
            "variants": variants, "events": events}


async def create_post(call: Call) -> web.Response:
    b: PostIn = call.body
    assert call.user is not None
    post = await posts.compose(
        call.user, b.text, [m.model_dump() for m in b.media],
        [v.model_dump() for v in b.variants],
        recurrence=b.recurrence.model_dump(exclude_none=True) if b.recurrence else None,
        evergreen_days=b.evergreen_days)
    if b.due_at is not None:
        await posts.schedule(post.id, call.user, b.due_at, _approval(call))
    return json_out(await post_out(post.id), 201)


def _approval(call: Call) -> bool:
    return bool(call.request.app[SETTINGS].posts_require_approval)


async def list_posts(call: Call) -> web.Response:
    q: PostQuery = call.query
    qs = Post.all()
    if q.status != "all":
        qs = qs.filter(status=q.status)
    if q.start is not None:
        qs = qs.filter(due_at__gte=q.start)
    if q.end is not None:
        qs = qs.filter(due_at__lt=q.end)
    ids = await qs.order_by("due_at", "id").limit(q.limit).values_list("id", flat=True)
    return json_out([await post_out(int(i)) for i in ids])  # type: ignore[call-overload]


async def get_post(call: Call) -> web.Response:
    return json_out(await post_out(call.param("post_id")))


async def update_post(call: Call) -> web.Response:
    b: PostPatch = call.body
    assert call.user is not None
    sent = b.model_fields_set
    await edit.edit(
        call.param("post_id"), call.user, _approval(call), text=b.text,
        media=[m.model_dump() for m in b.media] if b.media is not None else None,
        variant_texts={v.id: v.text for v in b.variants} if b.variants is not None else None,
        due_at=b.due_at,
        recurrence=(b.recurrence.model_dump(exclude_none=True) if b.recurrence else None)
        if "recurrence" in sent else edit.KEEP,
        evergreen_days=b.evergreen_days if "evergreen_days" in sent else edit.KEEP)
    return json_out(await post_out(call.param("post_id")))


async def delete_post(call: Call) -> web.Response:
    assert call.user is not None
    await edit.delete(call.param("post_id"), call.user)
    return json_out({"deleted": True})


async def _moved(call: Call, to: PostStatus, reason: str = "") -> web.Response:
    await posts.move(call.param("post_id"), to, call.user, reason)
    return json_out(await post_out(call.param("post_id")))


async def submit(call: Call) -> web.Response:
    assert call.user is not None
    await posts.submit(call.param("post_id"), call.user, call.body.reason)
    return json_out(await post_out(call.param("post_id")))


async def approve(call: Call) -> web.Response:
    assert call.user is not None
    await posts.approve(call.param("post_id"), call.user, call.body.reason)
    return json_out(await post_out(call.param("post_id")))


async def reject(call: Call) -> web.Response:
    if not call.body.reason.strip():
        raise ApiError(422, "invalid", "say why it is rejected", "reason")
    return await _moved(call, S.DRAFT, call.body.reason)


async def cancel(call: Call) -> web.Response:
    return await _moved(call, S.CANCELLED, call.body.reason)


async def schedule(call: Call) -> web.Response:
    assert call.user is not None
    await posts.schedule(call.param("post_id"), call.user, call.body.due_at, _approval(call))
    return json_out(await post_out(call.param("post_id")))


async def retry(call: Call) -> web.Response:
    await posts.retry(call.param("post_id"), call.user)
    return json_out(await post_out(call.param("post_id")))


async def retry_many(call: Call) -> web.Response:
    """Bulk retry: every failed or missed post among ``ids``; the others are listed."""
    done, skipped = [], []
    for pid in call.body.ids:
        try:
            await posts.retry(pid, call.user, posts.BULK_RETRY)
            done.append(pid)
        except PostError as exc:
            skipped.append({"id": pid, "reason": str(exc)})
    return json_out({"retried": done, "skipped": skipped})


def feed_token(secret: str) -> str:
    """The secret part of the shop's ICS URL (anyone with the URL can read the calendar,
    as with Google's own secret addresses; a new secret key changes it)."""
    return hmac.new(secret.encode(), b"switchboard:ics-feed", hashlib.sha256).hexdigest()[:32]


async def feed_url(call: Call) -> web.Response:
    settings = call.request.app[SETTINGS]
    base = settings.public_url.rstrip("/") or f"http://{call.request.host}"
    return json_out({"url": f"{base}/calendar/{feed_token(settings.secret_key.get())}.ics"})


async def ics_feed(request: web.Request) -> web.Response:
    """GET /calendar/{token}.ics: the posts of the last 90 days and all to come."""
    settings = request.app[SETTINGS]
    if not same(request.match_info["token"], feed_token(settings.secret_key.get())):
        raise web.HTTPNotFound(text="no such calendar")
    since = datetime.now(UTC) - timedelta(days=90)
    rows = await Post.filter(due_at__gte=since).exclude(status=S.DRAFT).order_by("due_at")
    nets = await posts.networks_of([p.id for p in rows])
    body = ics.feed(({"id": p.id, "text": p.text, "status": str(p.status), "due_at": p.due_at,
                      "networks": nets.get(p.id, []), "error": p.error,
                      "updated_at": p.updated_at} for p in rows),
                    f"{settings.shop_name} · posts", request.host.split(":")[0] or "switchboard")
    return web.Response(text=body, content_type="text/calendar", charset="utf-8",
                        headers={"Cache-Control": "private, max-age=300"})


def endpoints() -> list[Endpoint]:
    E, P, one = Endpoint, Perm, "/api/v1/posts/{post_id}"
    moved = {400: "not allowed from the post's status", 409: "changed meanwhile"}
    return [
        E("POST", "/api/v1/posts", create_post, "Compose a post (checked against each "
          "network's limits); with due_at, schedule it", "Posts", P.POSTS_WRITE, body=PostIn,
          response=PostOut, status=201),
        E("GET", "/api/v1/posts", list_posts, "Posts, by status and due-time range (the "
          "calendar)", "Posts", P.POSTS_READ, query=PostQuery, response=PostOut, many=True),
        E("GET", one, get_post, "A post with its targets and its history", "Posts",
          P.POSTS_READ, response=PostOut),
        E("PATCH", one, update_post, "Edit a post until it is published (text, variants, "
          "images, time, recurrence, evergreen)", "Posts", P.POSTS_WRITE, body=PostPatch,
          response=PostOut, responses={409: "published, cancelled or changed meanwhile"}),
        E("DELETE", one, delete_post, "Delete a post that has not gone out to any network "
          "(with its targets and history)", "Posts", P.POSTS_WRITE,
          responses={409: "published, being published, gone out on a network, or just "
                          "claimed by the publisher"}),
        E("POST", one + "/submit", submit, "Submit for review", "Posts", P.POSTS_WRITE,
          body=ReasonIn, response=PostOut, responses=moved),
        E("POST", one + "/approve", approve, "Approve (admins)", "Posts", P.POSTS_WRITE,
          body=ReasonIn, response=PostOut, responses=moved),
        E("POST", one + "/reject", reject, "Reject with a comment (admins)", "Posts",
          P.POSTS_WRITE, body=RejectIn, response=PostOut, responses=moved),
        E("POST", one + "/schedule", schedule, "Schedule for a time", "Posts",
          P.POSTS_WRITE, body=ScheduleIn, response=PostOut, responses=moved),
        E("POST", one + "/cancel", cancel, "Cancel", "Posts", P.POSTS_WRITE, body=ReasonIn,
          response=PostOut, responses=moved),
        E("POST", one + "/retry", retry, "Retry a failed or missed post now", "Posts",
          P.POSTS_WRITE, response=PostOut, responses=moved),
        E("POST", "/api/v1/posts/retry", retry_many, "Retry many failed posts", "Posts",
          P.POSTS_WRITE, body=RetryManyIn),
        E("GET", "/api/v1/calendar/feed", feed_url, "The shop's ICS feed URL (subscribe to "
          "it in Google Calendar or Outlook)", "Posts", P.POSTS_READ),
    ]
