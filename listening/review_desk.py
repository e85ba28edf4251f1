"""Reviews as staff work them (the REST API and the pages alike): the inbox (unanswered
first, by deadline), one review with its clock and a suggested reply, a reply sent back
to the source where it takes replies, and "resolved in private"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from bot.models import Review, User
from config import Settings
from listening import suggestions
from listening.errors import Missing
from listening.reviews import DEADLINE, OPEN_STATES, Replier, clock

ReviewState = Literal["unanswered", "replied", "overdue", "all"]


class ReviewOut(BaseModel):
    """A review as staff see it: its fields, where it stands on its 24-hour clock, and a
    suggested reply (a public follow-up once resolved in private)."""

    id: int
    source: str
    external_id: str
    rating: int | None
    title: str
    text: str
    author: str
    product: str
    url: str
    lang: str
    created: datetime
    sentiment: str
    reply_state: str
    reply_text: str
    replied_at: datetime | None
    deadline: datetime
    clock: str = Field(description="open, due_soon, overdue or answered")
    suggestion: str


def contact_path(settings: Settings) -> str:
    return str(settings.shop_contact or (settings.public_url.rstrip("/") + "/chat"))


def review_out(r: Review, settings: Settings, now: datetime | None = None) -> ReviewOut:
    c = clock(r, now or datetime.now(UTC))
    draft = suggestions.followup(r.id, r.locale, r.author, settings.shop_name) \
        if r.resolved_privately_at else suggestions.suggest(
            r.id, "\n".join((r.title, r.text)), r.locale, rating=r.rating,
            sentiment=r.sentiment, name=r.author, product=r.product,
            shop=settings.shop_name, contact=contact_path(settings))
    return ReviewOut(id=r.id, source=r.source, external_id=r.external_id, rating=r.rating,
                     title=r.title, text=r.text, author=r.author, product=r.product,
                     url=r.url, lang=r.lang, created=r.created, sentiment=r.sentiment,
                     reply_state=r.reply_state, reply_text=r.reply_text,
                     replied_at=r.replied_at, deadline=c["deadline"], clock=c["state"],
                     suggestion=draft)


async def find(state: ReviewState = "all", limit: int = 100) -> list[Review]:
    """Unanswered first, the oldest (closest to its deadline) first among them; replied
    ones newest first."""
    rows = Review.all()
    if state in ("unanswered", "overdue"):
        rows = rows.filter(reply_state="unanswered")
    if state == "overdue":
        rows = rows.filter(created__lt=datetime.now(UTC) - DEADLINE)
    if state == "replied":
        rows = rows.exclude(reply_state="unanswered")
        return await rows.order_by("-created").limit(limit)
    return await rows.order_by("-reply_state", "created").limit(limit)


async def on_the_clock(limit: int = 200) -> list[Review]:
    """Reviews still to answer (a failed reply included), oldest first."""
    return await Review.filter(reply_state__in=OPEN_STATES).order_by("created").limit(limit)


async def answered(limit: int = 50) -> list[Review]:
    return await Review.exclude(reply_state__in=OPEN_STATES).order_by("-created").limit(limit)


async def get_review(review_id: int) -> Review:
    review = await Review.filter(id=review_id).first()
    if review is None:
        raise Missing("review", "review_id")
    return review


async def reply(review_id: int, text: str, user: User | None,
                replier: Replier | None) -> Review:
    """Send the reply to the review's source when it takes replies ("replied"), else
    keep it ("stored": staff post it themselves). A failed send is "reply_failed":
    the review stays on the clock, with the error, to be tried again."""
    review = await get_review(review_id)
    state, error = "stored", ""
    if replier is not None:
        try:
            state = "replied" if await replier(review, text) else "stored"
        except Exception as exc:
            state, error = "reply_failed", str(exc)[:500]
    review.reply_state, review.reply_text, review.reply_error = state, text, error
    review.replied_at = datetime.now(UTC)
    review.replied_by = user
    await review.save(update_fields=["reply_state", "reply_text", "reply_error",
                                     "replied_at", "replied_by_id"])
    return review


async def resolved_privately(review_id: int) -> Review:
    """Resolved with the customer in private: the suggestion becomes a public follow-up."""
    review = await get_review(review_id)
    review.resolved_privately_at = datetime.now(UTC)
    await review.save(update_fields=["resolved_privately_at"])
    return review
