"""REST handlers for reviews: the inbox, one review, replies, "resolved in private", and
the signed ways in (the shop's webhook, Google Business Profile review JSON)."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, Field

from bot.core.http import Call, Strict, json_out
from bot.core.keys import SETTINGS
from listening import review_desk as desk
from listening import reviews as rv
from listening.api.signed import ACCOUNT_ID
from listening.runtime import LISTENING


class ReviewQuery(BaseModel):
    state: desk.ReviewState = "all"
    limit: Annotated[int, Field(ge=1, le=500)] = 100


async def list_reviews(call: Call) -> web.StreamResponse:
    q: ReviewQuery = call.query
    settings = call.request.app[SETTINGS]
    return json_out([desk.review_out(r, settings) for r in await desk.find(q.state, q.limit)])


async def get_review(call: Call) -> web.StreamResponse:
    review = await desk.get_review(call.param("review_id"))
    return json_out(desk.review_out(review, call.request.app[SETTINGS]))


class ReplyIn(Strict):
    text: Annotated[str, Field(min_length=1, max_length=4000)]


async def reply_review(call: Call) -> web.StreamResponse:
    review_id = call.param("review_id")
    body: ReplyIn = call.body
    review = await desk.reply(review_id, body.text, call.user,
                              call.request.app[LISTENING].replier)
    return json_out(desk.review_out(review, call.request.app[SETTINGS]))


async def resolved_privately(call: Call) -> web.StreamResponse:
    review = await desk.resolved_privately(call.param("review_id"))
    return json_out(desk.review_out(review, call.request.app[SETTINGS]))


class ReviewAccepted(BaseModel):
    id: int
    duplicate: bool
    sentiment: str


def _accepted(stored: rv.Stored) -> web.StreamResponse:
    return json_out(ReviewAccepted(id=stored.review.id, duplicate=not stored.created,
                                   sentiment=stored.review.sentiment),
                    status=201 if stored.created else 200)


async def post_review(call: Call) -> web.StreamResponse:
    body: rv.ReviewIn = call.body
    return _accepted(await rv.store(body, call.request.app[LISTENING].service,
                                    call.request[ACCOUNT_ID], body.model_dump(mode="json")))


async def post_google_review(call: Call) -> web.StreamResponse:
    body: rv.GoogleReview = call.body
    return _accepted(await rv.store(body.as_review(), call.request.app[LISTENING].service,
                                    call.request[ACCOUNT_ID], body.model_dump(mode="json"),
                                    replied=body.reviewReply))
