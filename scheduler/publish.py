"""Publishing due posts, exactly once, or failing visibly.

Each clock tick claims due posts (``scheduler.due``) and runs :func:`Publisher.publish_post`
for each id. Per target (``PostVariant``) the attempt is recorded before the network call:
the variant goes ``waiting → sending`` in a compare-and-set update, then ``done`` with the
network's id, back to ``waiting`` (a 429/5xx: the post is rescheduled with backoff), or
``failed``. A variant found in ``sending`` belonged to a process that died mid-call: nobody
knows whether the network got it, so it becomes ``unknown`` and the post *failed* with a
reason asking a person to check, instead of risking a second copy.

A post claimed long after its time (the server was down) is published if within
``post_misfire_minutes``, else marked *missed* and staff are told.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from tortoise.transactions import in_transaction

from bot.inbox import utcnow
from bot.models import ChannelAccount, Post, PostEvent, PostStatus, PostVariant
from bot.replies import account_info
from channels.base import ChannelAdapter, DeliveryError, PermanentDeliveryError, Publishes
from scheduler import due
from scheduler.posts import move
from scheduler.recurrence import Recurrence, next_after

log = logging.getLogger("switchboard.publish")
POSTS_DUE = due.DueTable("posts", "due_at", where="status IN ('scheduled', 'publishing')")
S = PostStatus


class Publisher:
    def __init__(self, adapters: Mapping[str, ChannelAdapter], max_attempts: int = 5,
                 backoff_seconds: float = 30.0, misfire_minutes: float = 60.0,
                 lease_seconds: float = 120.0, concurrency: int = 8,
                 notify: Any = None, timezone: str = "UTC") -> None:
        from zoneinfo import ZoneInfo

        self.adapters = adapters
        self.tz = ZoneInfo(timezone)
        self.max_attempts, self.backoff = max_attempts, backoff_seconds
        self.grace = timedelta(minutes=misfire_minutes)
        self.lease = timedelta(seconds=lease_seconds)
        self.concurrency = concurrency
        self.lookahead = 1.5  # seconds: beyond the clock's next tick
        self.notify = notify  # async (text) -> None: tells staff about missed posts

    async def run_due(self, max_seconds: float = 30.0) -> int:
        """Publish due posts in small claimed batches until none is due. Called by the
        clock. Small batches keep each lease short-lived and let other processes share
        the work."""
        started = asyncio.get_running_loop().time()
        gate = asyncio.Semaphore(self.concurrency)
        done = 0

        async def one(post_id: int) -> None:
            async with gate:
                try:
                    await self.publish_post(post_id)
                except Exception:
                    log.exception("publishing crashed", extra={"post_id": post_id})
        loop = asyncio.get_running_loop()
        while loop.time() - started < max_seconds:
            ids = await due.claim(POSTS_DUE, self.lease, self.concurrency * 4)
            if ids:
                await asyncio.gather(*(one(i) for i in ids))
                done += len(ids)
                continue
            # Nothing due now. If the next post is due before the next tick, wait for it
            # here: posts go out on time, not up to a tick late.
            nxt = await Post.filter(status=S.SCHEDULED, due_at__isnull=False).order_by(
                "due_at").first().values_list("due_at", flat=True)
            wait = (nxt - utcnow()).total_seconds() if nxt else None  # type: ignore[operator]
            if wait is None or wait > self.lookahead:
                break
            await asyncio.sleep(max(0.0, wait))
        return done

    async def publish_post(self, post_id: int) -> PostStatus:
        """Publish one claimed post to its targets and record the outcome."""
        try:
            return await self._publish(post_id)
        finally:
            await Post.filter(id=post_id).update(lease_until=None)

    async def _publish(self, post_id: int) -> PostStatus:
        post = await Post.get(id=post_id)
        now = utcnow()
        if post.status == S.SCHEDULED:
            if post.due_at is not None and now - post.due_at > self.grace:
                late = int((now - post.due_at).total_seconds() // 60)
                reason = (f"due {late} min ago while the server was not running; later than "
                          f"the {int(self.grace.total_seconds() // 60)} min allowed")
                await move(post_id, S.MISSED, None, reason, error=reason)
                if self.notify is not None:
                    await self.notify(f"⏰ Post #{post_id} was missed: {reason}. Reschedule "
                                      f"it or cancel it.")
                return S.MISSED
            await move(post_id, S.PUBLISHING, None)
        elif post.status != S.PUBLISHING:
            return PostStatus(post.status)  # cancelled or moved meanwhile
        retry_after: float | None = None
        problems: list[str] = []
        unknown: list[str] = []
        for v in await PostVariant.filter(post_id=post_id).order_by("id"):
            if v.state == "done":
                continue
            if v.state in ("sending", "unknown"):  # a process died during this call
                await PostVariant.filter(id=v.id).update(state="unknown")
                unknown.append(v.network)
                continue
            if v.state == "failed":
                problems.append(f"{v.network}: {v.error}")
                continue
            outcome = await self._send(post, v)
            if isinstance(outcome, DeliveryError):
                wait = outcome.retry_after or 0.0
                retry_after = max(retry_after or 0.0, wait)
                problems.append(f"{v.network}: {outcome.reason}")
            elif isinstance(outcome, PermanentDeliveryError):
                problems.append(f"{v.network}: {outcome.reason}")
        return await self._conclude(post, retry_after, problems, unknown)

    async def _send(self, post: Post, v: PostVariant) -> str | Exception | None:
        """One network call for one target, recorded before and after."""
        if not await PostVariant.filter(id=v.id, state="waiting").update(
                state="sending", attempts=v.attempts + 1):
            return None  # someone else has it
        account = await ChannelAccount.get(id=v.channel_account_id)  # type: ignore[attr-defined]
        adapter = self.adapters.get(account.kind)
        if not isinstance(adapter, Publishes):
            err = PermanentDeliveryError(f"{account.kind} accounts cannot publish posts")
            await PostVariant.filter(id=v.id).update(state="failed", error=err.reason)
            return err
        try:
            remote = await adapter.publish(account_info(account), v.target,
                                           v.text if v.text is not None else post.text,
                                           post.media)
        except PermanentDeliveryError as exc:
            await PostVariant.filter(id=v.id).update(state="failed", error=exc.reason[:500])
            return exc
        except DeliveryError as exc:
            await PostVariant.filter(id=v.id).update(state="waiting", error=exc.reason[:500])
            return exc
        except Exception as exc:  # our bug, before or after the call: do not guess
            log.exception("publish crashed", extra={"variant": v.id})
            await PostVariant.filter(id=v.id).update(
                state="unknown", error=f"internal error: {type(exc).__name__}")
            return PermanentDeliveryError(f"internal error: {type(exc).__name__}")
        await PostVariant.filter(id=v.id).update(state="done", remote_id=remote, error="",
                                                 published_at=utcnow())
        return remote

    async def _follow_up(self, post: Post) -> None:
        """A recurring post gets its next occurrence; an evergreen one comes back after
        its days. Either is a new post (so the calendar keeps each occurrence)."""
        when = None
        reason = ""
        if post.recurrence:
            rule = Recurrence.model_validate(post.recurrence)
            when = next_after(rule, max(post.due_at or utcnow(), utcnow()), self.tz)
            reason = f"next {rule.freq} occurrence after #{post.id}"
        elif post.evergreen_days:
            when = utcnow() + timedelta(days=post.evergreen_days)
            reason = f"evergreen: #{post.id} again after {post.evergreen_days} days"
        if when is None:
            return
        async with in_transaction() as conn:
            copy = await Post.create(
                using_db=conn, text=post.text, media=post.media, status=S.SCHEDULED,
                due_at=when, recurrence=post.recurrence, evergreen_days=post.evergreen_days,
                created_by_id=post.created_by_id)  # type: ignore[attr-defined]
            for v in await PostVariant.filter(post_id=post.id).using_db(conn):
                await PostVariant.create(using_db=conn, post=copy,
                                         channel_account_id=v.channel_account_id,  # type: ignore[attr-defined]
                                         network=v.network, target=v.target, text=v.text)
            await PostEvent.create(using_db=conn, post=copy, from_status="",
                                   to_status="scheduled", reason=reason)

    async def _conclude(self, post: Post, retry_after: float | None, problems: list[str],
                        unknown: list[str]) -> PostStatus:
        if unknown:
            reason = (f"the process stopped while publishing to {', '.join(unknown)}; it may "
                      f"or may not have gone out. Check there, then retry or cancel.")
            await move(post.id, S.FAILED, None, reason, error=reason[:500])
            return S.FAILED
        if not problems:
            await move(post.id, S.PUBLISHED, None)
            await self._follow_up(post)
            return S.PUBLISHED
        attempts = post.attempts + 1
        summary = "; ".join(problems)[:500]
        if retry_after is not None and attempts < self.max_attempts:
            delay = max(self.backoff * 2 ** (attempts - 1), retry_after)
            await move(post.id, S.SCHEDULED, None, f"retry {attempts}: {summary}",
                       due_at=utcnow() + timedelta(seconds=delay), attempts=attempts,
                       error=summary)
            return S.SCHEDULED
        reason = (f"gave up after {attempts} attempts: {summary}" if retry_after is not None
                  else summary)
        await move(post.id, S.FAILED, None, reason, attempts=attempts, error=reason[:500])
        return S.FAILED
