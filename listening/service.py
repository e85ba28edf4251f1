"""The listening pipeline: every inbound message, review, feed entry and posted mention
is scored (stored with the model's version) and matched against the listening rules;
each match is stored as a :class:`~bot.models.Mention`.

Scores and mentions are written in shared transactions (``bot.core.due.GroupCommit``):
at a hundred messages a second the writes share fsyncs instead of queueing for them. A
message whose score never got written (the process stopped or died first) is picked up
by the sweep, which the clock runs every minute and which takes it the whole live way
(score, mentions, and the ``scored`` followup row that sentiment rules run from, written
with the score, once per message and model); ``python run.py sentiment-backfill`` scores old items.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from tortoise.expressions import Subquery

from bot.core.cache import Ttl
from bot.core.due import GroupCommit
from bot.core.events import EventBus, MessageReceived, MessageScored
from bot.core.links import web_url  # a mention links to a web page or nowhere
from bot.core.time import utcnow
from bot.models import (
    Direction,
    Followup,
    ListeningRule,
    Mention,
    Message,
    Review,
    SentimentScore,
)
from listening import lang as langs
from listening.rules import Compiled, QueryError, compile_rule
from listening.sentiment import Score

log = logging.getLogger("switchboard.listening")
_rules: Ttl[list[Compiled]] = Ttl(seconds=5.0)


async def active_rules() -> list[Compiled]:
    async def load() -> list[Compiled]:
        out = []
        for r in await ListeningRule.filter(enabled=True).order_by("id"):
            try:
                out.append(compile_rule(r.id, r.name, r.kind, r.query, r.languages))
            except QueryError:
                log.warning("listening rule does not parse", extra={"rule": r.id})
        return out
    return await _rules.get(None, load)


def forget_rules() -> None:
    _rules.clear()


@dataclass
class Item:
    """Something to score and to match: ``kind`` message / review / mention (the table
    its score points at) and where it came from (``source``, ``source_ref``)."""

    kind: str
    id: int
    text: str
    source: str
    source_ref: str
    occurred_at: datetime
    lang: str = ""
    author: str = ""
    url: str = ""
    conversation_id: int | None = None  # a message's: rules on its sentiment follow


class Scorer(Protocol):
    """The batching service's interface (``listening.sentiment.BatchingService``)."""

    @property
    def version(self) -> str: ...

    async def score_many(self, texts: Sequence[str]) -> list[Score]: ...


class Listening:
    def __init__(self, scorer: Scorer | None, bus: EventBus | None = None) -> None:
        self.scorer = scorer
        self.commits = GroupCommit()
        self.bus = bus  # MessageScored goes out on it (no subscriber now: sentiment
        # rules run from the ``scored`` followup row)

    def wants(self, _: MessageReceived) -> bool:
        """False only when it is known that there is nothing to do: no model, and the
        (fresh) cached rule list is empty."""
        if self.scorer is not None:
            return True
        cached: list[Compiled] | None = _rules.peek(None, None)  # type: ignore[arg-type]
        return cached is None or bool(cached)

    async def on_message(self, event: MessageReceived) -> None:
        if self.scorer is None and not await active_rules():
            return  # nothing to score with and nothing to listen for
        await self.message(event.message_id)

    async def message(self, message_id: int) -> bool:
        """Score an inbound message, match it against the rules, and tell the bus that
        it was scored: the live path, and the sweep's for a message it missed. True if
        this call stored its score (a message scored already is not announced again, so
        a rule on its sentiment fires once)."""
        rows = await Message.filter(id=message_id, direction=Direction.INBOUND).values(
            "text", "created_at", "conversation_id", "conversation__channel_kind",
            "author__name", "author__locale",
            "conversation__contact__name", "conversation__contact__locale")
        if not rows or not str(rows[0]["text"]).strip():
            return False
        row = rows[0]  # only the columns needed: no JSON fields parsed, no models built
        author = bool(row["author__name"] or row["author__locale"])
        name = row["author__name"] if author else row["conversation__contact__name"]
        locale = str((row["author__locale"] if author else
                      row["conversation__contact__locale"]) or "")
        text = str(row["text"])
        score, _, stored = await self._take(Item(
            "message", message_id, text, str(row["conversation__channel_kind"]),
            f"message:{message_id}", row["created_at"],
            lang=langs.guess(text, locale[:2] or "en"), author=str(name or ""),
            conversation_id=int(row["conversation_id"])))
        if score is not None and stored and self.bus is not None:
            self.bus.publish(MessageScored(message_id, int(row["conversation_id"]),
                                           score.label))
        return stored

    async def review(self, review: Review) -> None:
        """Score a review and match it against the rules: when it is stored, and the
        sweep's for a review whose scoring was lost."""
        text = "\n".join(t for t in (review.title, review.text) if t)
        if text:
            await self.take(Item("review", review.id, text, "review", f"review:{review.id}",
                                 review.created, lang=review.lang, author=review.author,
                                 url=review.url))

    async def _messages(self, ids: list[int]) -> None:
        await asyncio.gather(*(self.message(i) for i in ids))

    async def _reviews(self, ids: list[int]) -> None:
        await asyncio.gather(*(self.review(r) for r in await Review.filter(id__in=ids)))

    async def take(self, item: Item) -> tuple[Score | None, list[Mention]]:
        """Score the item (unless the scorer is off), store the score, and store a
        mention for every rule it matches."""
        score, mentions, _ = await self._take(item)
        return score, mentions

    async def _take(self, item: Item) -> tuple[Score | None, list[Mention], bool]:
        """As :meth:`take`, and whether this call stored the score."""
        item.lang = item.lang or langs.guess(item.text)
        score: Score | None = None
        if self.scorer is not None and item.text.strip():
            score = (await self.scorer.score_many([item.text]))[0]
        rules = [r for r in await active_rules() if r.matches(item.text, item.lang)]
        version = self.scorer.version if self.scorer is not None else ""
        stored = False

        async def write(conn: Any) -> list[Mention]:
            nonlocal stored
            if score is not None and item.kind != "mention":  # a mention keeps its own
                stored = await _store_score(conn, item.kind, item.id, score, version)
                if stored and item.conversation_id is not None:
                    # rules on its sentiment: owed in the transaction that stores it
                    await Followup.create(using_db=conn, kind="scored",
                                          conversation_id=item.conversation_id,
                                          message_id=item.id, payload={"label": score.label},
                                          due_at=utcnow())
            out = []
            rows = await Mention.filter(source_ref=item.source_ref).using_db(conn).values(
                "rule_id") if rules else []
            done = {int(r["rule_id"]) for r in rows}
            for rule in rules:
                if rule.id in done:
                    continue  # already stored (a redelivery); the first one stands
                out.append(await Mention.create(
                    using_db=conn, rule_id=rule.id, source=item.source,
                    source_ref=item.source_ref, author=item.author[:200],
                    url=web_url(item.url)[:1000], text=item.text, lang=item.lang,
                    sentiment=score.label if score else "",
                    sentiment_score=score.score if score else None,
                    model_version=version if score else "", occurred_at=item.occurred_at))
            return out
        mentions: list[Mention] = await self.commits.run(write) if (score or rules) else []
        return score, mentions, stored

    async def sweep(self, since: timedelta = timedelta(hours=1), limit: int = 500,
                    together: int = 64) -> int:
        """Inbound messages, reviews and mentions of the last ``since`` with no score
        from this model (their live scoring was lost: the process stopped or died
        first): the safety net behind the live path. Messages and reviews go the whole
        live way (their mentions; for a message, rules on its sentiment fire),
        ``together`` at a time, so the service batches them."""
        if self.scorer is None:
            return 0
        now = utcnow()  # the last minute is left to the live path, still scoring it
        start, end = now - since, now - timedelta(minutes=1)
        done = 0
        live: tuple[tuple[str, Callable[[list[int]], Awaitable[None]]], ...] = (
            ("message", self._messages), ("review", self._reviews))
        for kind, take in live:
            after = 0
            while done < limit:
                ids = [i for i, _ in await unscored(kind, self.scorer.version, start,
                                                    min(together, limit - done), end, after)]
                if not ids:
                    break
                await take(ids)
                done, after = done + len(ids), ids[-1]
        return done + await backfill(self.scorer, start, end, limit - done, self.commits,
                                     kinds=("mention",))


async def _store_score(conn: Any, kind: str, item_id: int, score: Score,
                       version: str) -> bool:
    """The score row; a review also shows its label on itself (the review inbox lists
    and filters by it). False if this model had scored the item already."""
    # Looked up first, inside the shared transaction: on PostgreSQL a failed INSERT
    # would abort the whole transaction, and with it the other writes sharing it.
    if await SentimentScore.filter(item_kind=kind, item_id=item_id,
                                   model_version=version).using_db(conn).exists():
        return False  # scored already by this model
    await SentimentScore.create(using_db=conn, item_kind=kind, item_id=item_id,
                                label=score.label, score=score.score,
                                scores=score.scores, model_version=version)
    if kind == "review":
        await Review.filter(id=item_id).using_db(conn).update(sentiment=score.label)
    return True


async def unscored(kind: str, version: str, since: datetime | None, limit: int,
                   until: datetime | None = None, after: int = 0) -> list[tuple[int, str]]:
    """(id, text) of items of ``kind`` with no score from ``version``, in id order from
    after ``after``."""
    done = Subquery(SentimentScore.filter(item_kind=kind, model_version=version).values(
        "item_id"))
    window = {**({"created_at__gte": since} if since else {}),
              **({"created_at__lt": until} if until else {}),
              **({"id__gt": after} if after else {})}
    if kind == "mention":
        rows = await Mention.exclude(model_version=version).filter(**window).order_by(
            "id").limit(limit).values_list("id", "text")
        return [(int(i), str(t)) for i, t in rows]
    if kind == "message":
        q = Message.filter(direction=Direction.INBOUND).exclude(id__in=done).exclude(text="")
    elif kind == "review":
        q = Review.exclude(id__in=done).exclude(text="")  # type: ignore[assignment]
    rows = await q.filter(**window).order_by("id").limit(limit).values_list("id", "text")
    return [(int(i), str(t)) for i, t in rows]


async def backfill(scorer: Scorer, since: datetime | None = None,
                   until: datetime | None = None, limit: int | None = None,
                   commits: GroupCommit | None = None, batch: int = 256,
                   progress: Callable[[int], None] | None = None,
                   kinds: Sequence[str] = ("message", "review", "mention")) -> int:
    """Score every message, review and mention (of ``kinds``) that has no score from
    this model."""
    commits = commits or GroupCommit()
    done = 0
    for kind in kinds:
        while limit is None or done < limit:
            rows = await unscored(kind, scorer.version, since,
                                  batch if limit is None else min(batch, limit - done), until)
            if not rows:
                break
            scores = await scorer.score_many([t for _, t in rows])

            async def write(conn: Any, rows: list[tuple[int, str]] = rows,
                            scores: list[Score] = scores, kind: str = kind) -> None:
                for (item_id, _), s in zip(rows, scores, strict=True):
                    if kind == "mention":
                        await Mention.filter(id=item_id).using_db(conn).update(
                            sentiment=s.label, sentiment_score=s.score,
                            model_version=scorer.version)
                        continue
                    await _store_score(conn, kind, item_id, s, scorer.version)
            await commits.run(write)
            done += len(rows)
            if progress:
                progress(len(rows))
    return done
