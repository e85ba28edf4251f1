"""Publishing due posts, exactly once, or failing visibly.

Each clock tick claims due posts (``bot.core.due``) and runs :func:`Publisher.publish_post`
for each id. Per target (``PostVariant``) the attempt is recorded before the network call:
the variant goes ``waiting → sending`` in a compare-and-set update, then ``done`` with the
network's id, back to ``waiting`` (a 429/5xx: the post is rescheduled with backoff), or
``failed``. A variant found in ``sending`` belonged to a process that died mid-call: nobody
knows whether the network got it, so it becomes ``unknown`` and the post *failed* with a
reason asking a person to check, instead of risking a second copy.

A post claimed long after its time (the server was down) is published if within
``post_misfire_minutes``, else marked *missed*. A post that fails or is missed is an event
(``PostFailed``, ``PostMissed``) on the bus, published by the process whose move won, once
per outcome; the composition root subscribes the staff alerts to them
(:mod:`scheduler.posts.outcomes`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from bot.core import due
from bot.core.channel import (
    ChannelAdapter,
    DeliveryError,
    OutcomeUnknown,
    PermanentDeliveryError,
    Publishes,
)
from bot.core.events import Event, EventBus, PostFailed, PostMissed
from bot.core.i18n import N_
from bot.core.said import Code, Joined, Said, Value, data, english, read
from bot.core.time import utcnow
from bot.models import Post, PostEvent, PostStatus, PostVariant
from bot.services.account_cache import channel_account
from scheduler.posts.links import LinkTracker
from scheduler.posts.recurrence import Recurrence, next_after
from scheduler.posts.service import move, transition, utc

log = logging.getLogger("switchboard.publish")
POSTS_DUE = due.DueTable("posts", "due_at", where="status IN ('scheduled', 'publishing')")
S = PostStatus


class Publisher:
    def __init__(self, adapters: Mapping[str, ChannelAdapter], max_attempts: int = 5,
                 backoff_seconds: float = 30.0, misfire_minutes: float = 60.0,
                 lease_seconds: float = 120.0, concurrency: int = 8,
                 bus: EventBus | None = None, timezone: str = "UTC",
                 links: LinkTracker | None = None) -> None:
        self.adapters = adapters
        self.links = links  # tracks the links in the text (None: sent as written)
        self.tz = ZoneInfo(timezone)
        self.max_attempts, self.backoff = max_attempts, backoff_seconds
        self.grace = timedelta(minutes=misfire_minutes)
        self.lease = timedelta(seconds=lease_seconds)
        self.concurrency = concurrency
        self.lookahead = 1.5  # seconds: beyond the clock's next tick
        self.bus = bus  # where failed and missed posts are told (None: nobody listens)
        self.commits = due.GroupCommit()

    async def run_due(self, max_seconds: float | None = None) -> int:
        """Publish due posts in small claimed batches until none is due (or, if given,
        ``max_seconds`` have passed). Called by the clock. Small batches keep each lease
        short-lived and let other processes share the work. There is no time budget by
        default: ending a run while posts keep falling due would leave them waiting for
        the next tick, up to a second late."""
        loop = asyncio.get_running_loop()
        started, done = loop.time(), 0
        while max_seconds is None or loop.time() - started < max_seconds:
            ids = await due.claim(POSTS_DUE, self.lease, self.concurrency * 4)
            if ids:
                try:
                    await self.publish_batch(ids)
                except Exception:
                    log.exception("publishing a batch crashed", extra={"post_ids": ids})
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
        """Publish one claimed post and return its new status."""
        return (await self.publish_batch([post_id]))[post_id]

    async def publish_batch(self, ids: list[int]) -> dict[int, PostStatus]:
        """Publish claimed posts. The bookkeeping of the whole batch is a few statements
        in a few transactions (each commit is an fsync on SQLite); per target there are
        only the two writes exactly-once needs: "sending" committed right before its call,
        and the outcome as soon as it arrives (commits shared between concurrent calls,
        see due.GroupCommit)."""
        posts = {p.id: p for p in await Post.filter(id__in=ids)}
        out: dict[int, PostStatus] = {pid: PostStatus(p.status) for pid, p in posts.items()}
        now = utcnow()
        for p in posts.values():
            if p.status == S.SCHEDULED and p.due_at is not None and now - p.due_at > self.grace:
                out[p.id] = await self._miss(p, now)
        starting = [p.id for p in posts.values() if out[p.id] == S.SCHEDULED]
        active = [*await self._start(starting),
                  *(p.id for p in posts.values() if p.status == S.PUBLISHING)]
        variants = await PostVariant.filter(post_id__in=active).order_by("id")
        in_doubt = [v.id for v in variants if v.state in ("sending", "unknown")]
        if in_doubt:  # a process died during these calls: nobody knows if they went out
            await PostVariant.filter(id__in=in_doubt).update(state="unknown")
        gate = asyncio.Semaphore(self.concurrency)

        async def call(v: PostVariant) -> tuple[PostVariant, str | Exception | None]:
            async with gate:  # taken only when its call can start: a crash leaves in doubt
                if not await self._take(v):  # only the calls really in flight
                    return v, None
                return v, await self._send(posts[v.post_id], v)  # type: ignore[attr-defined]
        results = await asyncio.gather(*(call(v) for v in variants if v.state == "waiting"))
        outcomes = {v: r for v, r in results if r is not None}
        told: list[Event] = []  # published once the batch's transaction has committed
        async with in_transaction():
            for pid in active:
                mine = [v for v in variants if v.post_id == pid]  # type: ignore[attr-defined]
                out[pid] = await self._conclude(posts[pid], mine, outcomes, in_doubt, told)
            await Post.filter(id__in=ids).update(lease_until=None)
        for event in told:
            self._tell(event)
        for pid in active:
            if out[pid] == S.PUBLISHED:
                await self._follow_up(posts[pid])
        return out

    async def _miss(self, post: Post, now: datetime) -> PostStatus:
        assert post.due_at is not None
        said = Said(N_("due %(late)s min ago while the server was not running; later than "
                       "the %(allowed)s min allowed"),
                    late=int((now - post.due_at).total_seconds() // 60),
                    allowed=int(self.grace.total_seconds() // 60))
        reason = english(said)
        moved = await transition(post.id, S.MISSED, None, said, error=reason,
                                 error_i18n=data(said), lease_until=None)
        self._tell(PostMissed(post.id, moved.event_id, reason))
        return S.MISSED

    def _tell(self, event: Event) -> None:
        if self.bus is not None:
            self.bus.publish(event)

    async def _start(self, ids: list[int]) -> list[int]:
        """scheduled → publishing for the batch, recorded, in one transaction."""
        if not ids:
            return []
        async with in_transaction() as conn:
            ready = list(await Post.filter(id__in=ids, status=S.SCHEDULED).using_db(
                conn).values_list("id", flat=True))
            if ready:
                await Post.filter(id__in=ready, status=S.SCHEDULED).using_db(conn).update(
                    status=S.PUBLISHING)
                await PostEvent.bulk_create(
                    [PostEvent(post_id=pid, from_status="scheduled", to_status="publishing")
                     for pid in ready], using_db=conn)
        return [int(i) for i in ready]  # type: ignore[call-overload]

    async def _take(self, v: PostVariant) -> bool:
        """waiting → sending, committed right before the call (the attempt is on record)."""
        if not await self.commits.run(lambda conn: PostVariant.filter(
                id=v.id, state="waiting").using_db(conn).update(
                state="sending", attempts=F("attempts") + 1)):
            return False  # someone else has it
        v.state = "sending"
        return True

    async def _record(self, v: PostVariant, said: Value = "", **changes: Any) -> None:
        """A target's outcome, committed before the caller goes on (with others');
        ``said``: why it did not go out (kept as ``error``, in English and as data)."""
        changes.update(error=english(said)[:500], error_i18n=data(said))
        await self.commits.run(
            lambda conn: PostVariant.filter(id=v.id).using_db(conn).update(**changes))

    async def _send(self, post: Post, v: PostVariant) -> str | Exception:
        """One network call for one target; its outcome is committed at once."""
        account = await channel_account(v.channel_account_id)  # type: ignore[attr-defined]
        adapter = self.adapters.get(account.kind) if account else None
        if account is None or not isinstance(adapter, Publishes):
            err = PermanentDeliveryError(Said(N_("this channel account cannot publish posts "
                                                 "(missing or disabled)")))
            await self._record(v, err.said, state="failed")
            return err
        text = v.text if v.text is not None else post.text
        try:
            if self.links is not None:
                text = self.links.text(v.id, v.network, text, bool(post.media))
            remote = await adapter.publish(account, v.target, text, post.media)
        except PermanentDeliveryError as exc:
            await self._record(v, exc.said, state="failed")
            return exc
        except DeliveryError as exc:
            await self._record(v, exc.said, state="waiting")
            return exc
        except OutcomeUnknown as exc:  # sent, no answer: a retry could post it twice
            await self._record(v, exc.said, state="unknown")
            return exc
        except Exception as exc:  # our bug, before or after the call: do not guess
            log.exception("publish crashed", extra={"variant": v.id})
            said = Said(N_("internal error: %(error)s"), error=type(exc).__name__)
            await self._record(v, said, state="unknown")
            return PermanentDeliveryError(said)
        await self._record(v, state="done", remote_id=remote, published_at=utcnow())
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
                due_at=utc(when), recurrence=post.recurrence, evergreen_days=post.evergreen_days,
                created_by_id=post.created_by_id)  # type: ignore[attr-defined]
            for v in await PostVariant.filter(post_id=post.id).using_db(conn):
                await PostVariant.create(using_db=conn, post=copy,
                                         channel_account_id=v.channel_account_id,  # type: ignore[attr-defined]
                                         network=v.network, target=v.target, text=v.text)
            await PostEvent.create(using_db=conn, post=copy, from_status="",
                                   to_status="scheduled", reason=reason)

    async def _conclude(self, post: Post, variants: list[PostVariant],
                        outcomes: dict[PostVariant, str | Exception], in_doubt: list[int],
                        told: list[Event]) -> PostStatus:
        """The post's new status from its targets' outcomes (inside the batch's
        transaction); a failure is added to ``told``."""
        retry_after: float | None = None
        problems: list[Value] = []
        unknown: list[Value] = []
        for v in variants:
            result, network = outcomes.get(v), Code("network", v.network)
            if v.id in in_doubt:
                unknown.append(Said(N_("%(network)s (the process stopped during the call)"),
                                    network=network))
            elif isinstance(result, OutcomeUnknown):
                unknown.append(Said(N_("%(network)s (%(problem)s)"), network=network,
                                    problem=result.said))
            elif isinstance(result, DeliveryError):
                retry_after = max(retry_after or 0.0, result.retry_after or 0.0)
                problems.append(_problem(network, result.said))
            elif isinstance(result, PermanentDeliveryError):
                problems.append(_problem(network, result.said))
            elif result is None and v.state == "failed":
                problems.append(_problem(network, read(v.error_i18n) or v.error))
        if unknown:
            said: Value = Said(N_("no answer from %(targets)s: it may or may not have gone "
                                  "out. Check there, then retry or cancel."),
                               targets=Joined(", ", tuple(unknown)))
            return await self._fail(post, said, told)
        if not problems:
            await move(post.id, S.PUBLISHED, None)
            return S.PUBLISHED
        attempts = post.attempts + 1
        summary = Joined("; ", tuple(problems))
        if retry_after is not None and attempts < self.max_attempts:
            delay = max(self.backoff * 2 ** (attempts - 1), retry_after)
            await move(post.id, S.SCHEDULED, None,
                       Said(N_("retry %(attempt)s: %(problems)s"), attempt=attempts,
                            problems=summary),
                       due_at=utcnow() + timedelta(seconds=delay), attempts=attempts,
                       error=english(summary)[:500], error_i18n=data(summary))
            return S.SCHEDULED
        said = (Said(N_("gave up after %(attempts)s attempts: %(problems)s"),
                     attempts=attempts, problems=summary) if retry_after is not None
                else summary)
        return await self._fail(post, said, told, attempts=attempts)

    async def _fail(self, post: Post, said: Value, told: list[Event],
                    **changes: Any) -> PostStatus:
        """The post failed: why, kept in English and as data; ``told`` hears of it."""
        reason = english(said)
        moved = await transition(post.id, S.FAILED, None, said, error=reason[:500],
                                 error_i18n=data(said), **changes)
        told.append(PostFailed(post.id, moved.event_id, reason))
        return S.FAILED


def _problem(network: Code, problem: Value) -> Said:
    """One target's problem, after its network's name."""
    return Said(N_("%(network)s: %(problem)s"), network=network, problem=problem)
