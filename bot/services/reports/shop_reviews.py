"""The reviews' roll-up (``report_reviews``, see :mod:`bot.services.reports.shop_facts`):
each review, answered when a reply went out within 24 hours of the review (exactly 24
hours counts); rewritten whole from the review, so reading one again changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from bot.models import Review, ReviewFact
from bot.services.reports.shop_state import local_day, swap, take, week_of


def _review_fact(r: dict[str, Any]) -> ReviewFact:
    day = local_day(r["created"])
    answered = r["replied_at"] is not None and \
        r["replied_at"] - r["created"] <= timedelta(hours=24)
    return ReviewFact(review_id=int(r["id"]), source=str(r["source"]), day=day,
                      week=week_of(day), rating=r["rating"], answered=answered,
                      replied=r["replied_at"] is not None)


_REVIEW = ("id", "source", "created", "rating", "replied_at")


async def _put_reviews(rows: list[dict[str, Any]], marked: tuple[Any, ...] = ()) -> None:
    ids = [int(r["id"]) for r in rows]
    async with in_transaction() as conn:
        if marked:
            await swap(conn, *marked)
        await ReviewFact.filter(review_id__in=ids).using_db(conn).delete()
        await ReviewFact.bulk_create([_review_fact(r) for r in rows], using_db=conn)


async def new_reviews(size: int) -> int:
    old_mark, mark, batch = await take("reviews", Review, size)
    if not batch.rows and batch.mark == mark:
        return 0
    rows = await Review.filter(id__in=[int(r[0]) for r in batch.rows]).values(*_REVIEW)
    await _put_reviews(rows, ("reviews", old_mark, batch.mark))
    return len(batch.rows)


async def replied_reviews(size: int) -> int:
    """Reviews answered since their facts were written."""
    waiting = Subquery(ReviewFact.filter(replied=False).values("review_id"))
    rows = await Review.filter(replied_at__isnull=False, id__in=waiting).order_by(
        "id").limit(size).values(*_REVIEW)
    if rows:
        await _put_reviews(rows)
    return len(rows)
