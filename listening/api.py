"""REST API for listening and reviews: rules, feeds, mentions (and the signed mention
ingest), trends, reviews (the signed webhook, Google Business Profile review JSON,
replies), sentiment corrections, and staff alerts.

The signed entry points use an API-channel account's secret, exactly like
``POST /api/v1/inbound/{account_id}``: ``X-Switchboard-Signature: sha256=<hex
HMAC-SHA256 of the raw body>``; a wrong or missing signature gets 403 and nothing is
stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field, field_validator

from bot.core.auth import Perm
from bot.core.http import ApiError, Call, Endpoint, Strict, json_out
from bot.core.keys import SETTINGS
from bot.models import (
    Feed,
    ListeningRule,
    Mention,
    Message,
    Review,
    SentimentCorrection,
    SentimentScore,
    StaffAlert,
)
from bot.services.accounts import channel_account
from channels.webhooks import signed_by_api_account
from listening import reviews as rv
from listening import suggestions, trends
from listening.rules import KINDS, QueryError, compile_rule
from listening.runtime import LISTENING
from listening.service import Item, forget_rules

ACCOUNT_ID = web.RequestKey("listening_account", int)
Label = Literal["negative", "neutral", "positive"]


# --- rules ------------------------------------------------------------------------------

class RuleIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    kind: Literal["brand", "product", "competitor", "keyword", "hashtag"]
    query: Annotated[str, Field(min_length=1, max_length=2000, description=(
        'Terms, "phrases" and #hashtags with AND, OR, NOT (or -) and parentheses, e.g. '
        '(acme OR #acme) AND NOT job'))]
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] = Field(
        default_factory=list, description="ISO 639-1 codes; empty: every language")
    enabled: bool = True


class RulePatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    kind: Literal["brand", "product", "competitor", "keyword", "hashtag"] | None = None
    query: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] | None = None
    enabled: bool | None = None


class RuleOut(BaseModel):
    id: int
    name: str
    kind: str
    query: str
    languages: list[str]
    enabled: bool


def _rule_out(r: ListeningRule) -> RuleOut:
    return RuleOut(id=r.id, name=r.name, kind=r.kind, query=r.query, languages=r.languages,
                   enabled=r.enabled)


def _check_query(kind: str, query: str, languages: list[str]) -> None:
    try:
        compile_rule(0, "", kind, query, languages)
    except QueryError as exc:
        raise ApiError(422, "bad_query", str(exc), "query") from exc


async def list_listening_rules(call: Call) -> web.StreamResponse:
    return json_out([_rule_out(r) for r in await ListeningRule.all().order_by("id")])


async def create_listening_rule(call: Call) -> web.StreamResponse:
    body: RuleIn = call.body
    _check_query(body.kind, body.query, body.languages)
    if await ListeningRule.filter(name=body.name).exists():
        raise ApiError(409, "exists", f"a rule named {body.name!r} exists", "name")
    rule = await ListeningRule.create(**body.model_dump())
    forget_rules()
    return json_out(_rule_out(rule), status=201)


async def _one(model: Any, call: Call, param: str, what: str) -> Any:
    """The row whose id is ``{param}`` in the path, else 404."""
    row = await model.filter(id=call.param(param)).first()
    if row is None:
        raise ApiError(404, "not_found", f"no such {what}", param)
    return row


async def _rule(call: Call) -> ListeningRule:
    rule: ListeningRule = await _one(ListeningRule, call, "rule_id", "rule")
    return rule


async def update_listening_rule(call: Call) -> web.StreamResponse:
    rule = await _rule(call)
    body: RulePatch = call.body
    for key, value in body.model_dump(exclude_none=True).items():
        setattr(rule, key, value)
    _check_query(rule.kind, rule.query, rule.languages)
    await rule.save()
    forget_rules()
    return json_out(_rule_out(rule))


async def delete_listening_rule(call: Call) -> web.StreamResponse:
    rule = await _rule(call)
    await rule.delete()
    forget_rules()
    return web.Response(status=204)


# --- feeds ------------------------------------------------------------------------------

class FeedIn(Strict):
    url: Annotated[str, Field(pattern=r"^https?://", max_length=1000)]
    name: Annotated[str, Field(max_length=200)] = ""
    interval_minutes: Annotated[int, Field(ge=1, le=1440)] = 15


class FeedOut(BaseModel):
    id: int
    url: str
    name: str
    interval_minutes: int
    polled_at: datetime | None
    last_status: int | None
    last_error: str
    enabled: bool


def _feed_out(f: Feed) -> FeedOut:
    return FeedOut(id=f.id, url=f.url, name=f.name, interval_minutes=f.interval_minutes,
                   polled_at=f.polled_at, last_status=f.last_status, last_error=f.last_error,
                   enabled=f.enabled)


async def list_feeds(call: Call) -> web.StreamResponse:
    return json_out([_feed_out(f) for f in await Feed.all().order_by("id")])


async def create_feed(call: Call) -> web.StreamResponse:
    body: FeedIn = call.body
    if await Feed.filter(url=body.url).exists():
        raise ApiError(409, "exists", "this feed is already polled", "url")
    feed = await Feed.create(url=body.url, name=body.name,
                             interval_minutes=body.interval_minutes,
                             due_at=datetime.now(UTC))
    return json_out(_feed_out(feed), status=201)


async def delete_feed(call: Call) -> web.StreamResponse:
    deleted = await Feed.filter(id=call.param("feed_id")).delete()
    if not deleted:
        raise ApiError(404, "not_found", "no such feed", "feed_id")
    return web.Response(status=204)


# --- mentions ---------------------------------------------------------------------------

class MentionQuery(BaseModel):
    rule_id: int | None = None
    sentiment: Label | None = None
    since: datetime | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class MentionOut(BaseModel):
    id: int
    rule_id: int
    source: str
    author: str
    url: str
    text: str
    lang: str
    sentiment: str
    sentiment_score: float | None
    occurred_at: datetime


def _mention_out(m: Mention) -> MentionOut:
    return MentionOut(id=m.id, rule_id=m.rule_id, source=m.source,  # type: ignore[attr-defined]
                      author=m.author, url=m.url, text=m.text, lang=m.lang,
                      sentiment=m.sentiment, sentiment_score=m.sentiment_score,
                      occurred_at=m.occurred_at)


async def list_mentions(call: Call) -> web.StreamResponse:
    q: MentionQuery = call.query
    rows = Mention.all()
    if q.rule_id is not None:
        rows = rows.filter(rule_id=q.rule_id)
    if q.sentiment:
        rows = rows.filter(sentiment=q.sentiment)
    if q.since:
        rows = rows.filter(occurred_at__gte=q.since)
    return json_out([_mention_out(m) for m in await rows.order_by("-occurred_at", "-id")
                     .limit(q.limit)])


class MentionIn(Strict):
    id: Annotated[str, Field(min_length=1, max_length=200,
                             description="Your id of the item: the same id again is a "
                                         "redelivery and stores nothing new.")]
    text: Annotated[str, Field(min_length=1, max_length=20000)]
    source: Annotated[str, Field(min_length=1, max_length=24, pattern=r"^[a-z0-9_.-]+$")] = \
        "api"
    author: Annotated[str, Field(max_length=200)] = ""
    url: Annotated[str, Field(max_length=1000)] = ""
    lang: Annotated[str, Field(pattern=r"^([a-z]{2})?$")] = ""
    occurred_at: datetime | None = None


class MentionAccepted(BaseModel):
    matched: list[int] = Field(description="The rules the item matched")
    sentiment: str
    mentions: list[int]


async def _check_signature(request: web.Request, raw: bytes) -> None:
    request[ACCOUNT_ID] = (await signed_by_api_account(channel_account, request, raw)).id


async def post_mention(call: Call) -> web.StreamResponse:
    body: MentionIn = call.body
    listening = call.request.app[LISTENING]
    ref = f"{body.source}:{call.request[ACCOUNT_ID]}:{body.id}"
    score, mentions = await listening.service.take(Item(
        "mention", 0, body.text, body.source, ref, body.occurred_at or datetime.now(UTC),
        lang=body.lang, author=body.author, url=body.url))
    stored = await Mention.filter(source_ref=ref).values_list("id", "rule_id")
    return json_out(MentionAccepted(matched=sorted({r for _, r in stored}),
                                    sentiment=score.label if score else "",
                                    mentions=sorted(i for i, _ in stored)),
                    status=201 if mentions else 200)


# --- trends -----------------------------------------------------------------------------

class TrendQuery(BaseModel):
    bucket: Literal["hour", "day"] = "day"
    since: datetime | None = Field(None, description="Default: 7 days (hour) or 30 days "
                                                     "(day) ago")
    until: datetime | None = None
    rule_id: list[int] = Field(default_factory=list)

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v


async def get_trends(call: Call) -> web.StreamResponse:
    q: TrendQuery = call.query
    until = q.until or datetime.now(UTC)
    since = q.since or until - timedelta(days=7 if q.bucket == "hour" else 30)
    if since >= until:
        raise ApiError(422, "bad_range", "since must be before until", "since")
    segment = call.request.app[LISTENING].segmenter()
    return json_out({
        "since": since, "until": until, "bucket": q.bucket,
        "volume": await trends.volume(since, until, q.bucket, q.rule_id or None),
        "share_of_voice": await trends.share_of_voice(since, until),
        "negative_terms": await trends.top_negative_terms(since, until, segment=segment)})


# --- reviews ----------------------------------------------------------------------------

class ReviewQuery(BaseModel):
    state: Literal["unanswered", "replied", "overdue", "all"] = "all"
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class ReviewOut(BaseModel):
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


def review_out(r: Review, settings: Any, now: datetime | None = None) -> ReviewOut:
    c = rv.clock(r, now or datetime.now(UTC))
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


def contact_path(settings: Any) -> str:
    return str(settings.shop_contact or (settings.public_url.rstrip("/") + "/chat"))


async def list_reviews(call: Call) -> web.StreamResponse:
    q: ReviewQuery = call.query
    rows = Review.all()
    if q.state in ("unanswered", "overdue"):
        rows = rows.filter(reply_state="unanswered")
    if q.state == "overdue":
        rows = rows.filter(created__lt=datetime.now(UTC) - rv.DEADLINE)
    if q.state == "replied":
        rows = rows.exclude(reply_state="unanswered")
    settings = call.request.app[SETTINGS]
    # Unanswered first, the oldest (closest to its deadline) first among them.
    found = await rows.order_by("-reply_state", "created").limit(q.limit) \
        if q.state != "replied" else await rows.order_by("-created").limit(q.limit)
    return json_out([review_out(r, settings) for r in found])


async def _review(call: Call) -> Review:
    review: Review = await _one(Review, call, "review_id", "review")
    return review


async def get_review(call: Call) -> web.StreamResponse:
    return json_out(review_out(await _review(call), call.request.app[SETTINGS]))


class ReplyIn(Strict):
    text: Annotated[str, Field(min_length=1, max_length=4000)]


async def reply_review(call: Call) -> web.StreamResponse:
    review = await _review(call)
    body: ReplyIn = call.body
    listening = call.request.app[LISTENING]
    await listening.reply_to_review(review, body.text, call.user)
    return json_out(review_out(review, call.request.app[SETTINGS]))


async def resolved_privately(call: Call) -> web.StreamResponse:
    review = await _review(call)
    review.resolved_privately_at = datetime.now(UTC)
    await review.save(update_fields=["resolved_privately_at"])
    return json_out(review_out(review, call.request.app[SETTINGS]))


class ReviewAccepted(BaseModel):
    id: int
    duplicate: bool
    sentiment: str


async def post_review(call: Call) -> web.StreamResponse:
    stored = await rv.store(call.body, call.request.app[LISTENING].service,
                            call.request[ACCOUNT_ID], call.body.model_dump(mode="json"))
    return json_out(ReviewAccepted(id=stored.review.id, duplicate=not stored.created,
                                   sentiment=stored.review.sentiment),
                    status=201 if stored.created else 200)


async def post_google_review(call: Call) -> web.StreamResponse:
    body: rv.GoogleReview = call.body
    stored = await rv.store(body.as_review(), call.request.app[LISTENING].service,
                            call.request[ACCOUNT_ID], body.model_dump(mode="json"),
                            replied=body.reviewReply)
    return json_out(ReviewAccepted(id=stored.review.id, duplicate=not stored.created,
                                   sentiment=stored.review.sentiment),
                    status=201 if stored.created else 200)


# --- sentiment corrections and alerts ------------------------------------------------------

class CorrectionIn(Strict):
    item_kind: Literal["message", "review", "mention"]
    item_id: int
    label: Label


class CorrectionOut(BaseModel):
    item_kind: str
    item_id: int
    text: str
    lang: str
    label: str
    model_label: str
    model_version: str


async def _item_text(kind: str, item_id: int) -> tuple[str, str]:
    if kind == "message":
        msg = await Message.filter(id=item_id).first()
        if msg is None:
            raise ApiError(404, "not_found", "no such message", "item_id")
        from listening import lang as langs
        return msg.text, langs.guess(msg.text)
    row: Review | Mention | None = await (Review if kind == "review" else Mention).filter(
        id=item_id).first()
    if row is None:
        raise ApiError(404, "not_found", f"no such {kind}", "item_id")
    text = "\n".join(t for t in (getattr(row, "title", ""), row.text) if t)
    return text, row.lang


async def correct(call: Call) -> web.StreamResponse:
    body: CorrectionIn = call.body
    text, lang = await _item_text(body.item_kind, body.item_id)
    latest = await SentimentScore.filter(item_kind=body.item_kind,
                                         item_id=body.item_id).order_by("-id").first()
    fields = {"text": text, "lang": lang, "label": body.label,
              "model_label": latest.label if latest else "",
              "model_version": latest.model_version if latest else "", "user": call.user}
    row, _ = await SentimentCorrection.update_or_create(
        defaults=fields, item_kind=body.item_kind, item_id=body.item_id)
    if body.item_kind == "review":
        await Review.filter(id=body.item_id).update(sentiment=body.label)
    if body.item_kind == "mention":
        await Mention.filter(id=body.item_id).update(sentiment=body.label)
    return json_out(_correction_out(row), status=201)


def _correction_out(r: SentimentCorrection) -> CorrectionOut:
    return CorrectionOut(item_kind=r.item_kind, item_id=r.item_id, text=r.text, lang=r.lang,
                         label=r.label, model_label=r.model_label,
                         model_version=r.model_version)


async def list_corrections(call: Call) -> web.StreamResponse:
    return json_out([_correction_out(r) for r in
                     await SentimentCorrection.all().order_by("id")])


class AlertOut(BaseModel):
    id: int
    kind: str
    title: str
    text: str
    link: str
    sent_to: list[str]
    created_at: datetime
    ended_at: datetime | None
    read: bool


async def list_alerts(call: Call) -> web.StreamResponse:
    return json_out([AlertOut(id=a.id, kind=a.kind, title=a.title, text=a.text, link=a.link,
                              sent_to=a.sent_to, created_at=a.created_at,
                              ended_at=a.ended_at, read=a.read_at is not None)
                     for a in await StaffAlert.all().order_by("-id").limit(100)])


async def read_alert(call: Call) -> web.StreamResponse:
    done = await StaffAlert.filter(id=call.param("alert_id")).update(
        read_at=datetime.now(UTC))
    if not done:
        raise ApiError(404, "not_found", "no such alert", "alert_id")
    return web.Response(status=204)


def endpoints() -> list[Endpoint]:
    E, P, T, R = Endpoint, Perm, "Listening", "Reviews"
    signed = {403: "bad or missing signature", 404: "unknown API channel account"}
    return [
        E("GET", "/api/v1/listening/rules", list_listening_rules, "Listening rules", T,
          P.LISTENING_READ, response=RuleOut),
        E("POST", "/api/v1/listening/rules", create_listening_rule, "Add a listening rule", T,
          P.LISTENING_WRITE, body=RuleIn, response=RuleOut, status=201,
          responses={409: "the name is taken", 422: "the query does not parse"}),
        E("PATCH", "/api/v1/listening/rules/{rule_id}", update_listening_rule, "Change a rule", T,
          P.LISTENING_WRITE, body=RulePatch, response=RuleOut),
        E("DELETE", "/api/v1/listening/rules/{rule_id}", delete_listening_rule,
          "Delete a rule and its mentions", T, P.LISTENING_WRITE, status=204),
        E("GET", "/api/v1/listening/feeds", list_feeds, "RSS and Atom feeds polled", T,
          P.LISTENING_READ, response=FeedOut),
        E("POST", "/api/v1/listening/feeds", create_feed, "Poll a feed for mentions", T,
          P.LISTENING_WRITE, body=FeedIn, response=FeedOut, status=201),
        E("DELETE", "/api/v1/listening/feeds/{feed_id}", delete_feed, "Stop polling a feed",
          T, P.LISTENING_WRITE, status=204),
        E("GET", "/api/v1/listening/mentions", list_mentions, "Mentions, newest first", T,
          P.LISTENING_READ, query=MentionQuery, response=MentionOut),
        E("POST", "/api/v1/mentions/{account_id}", post_mention, "Feed an item (a post, a "
          "comment, an article) to the listening rules, signed with an API channel "
          "account's secret", T, None, body=MentionIn, response=MentionAccepted,
          status=201, raw_check=_check_signature, security="signature",
          responses={200: "matched no rule, or already stored", **signed}),
        E("GET", "/api/v1/listening/trends", get_trends, "Volume and sentiment per rule, "
          "share of voice, and the top terms of negative mentions per language", T,
          P.LISTENING_READ, query=TrendQuery),
        E("GET", "/api/v1/reviews", list_reviews, "Reviews, unanswered first by deadline", R,
          P.REVIEWS_READ, query=ReviewQuery, response=ReviewOut),
        E("GET", "/api/v1/reviews/{review_id}", get_review, "A review with its clock and a "
          "suggested reply", R, P.REVIEWS_READ, response=ReviewOut),
        E("POST", "/api/v1/reviews/{review_id}/reply", reply_review, "Answer a review: "
          "sent back to the source where it takes replies, else stored", R,
          P.REVIEWS_WRITE, body=ReplyIn, response=ReviewOut),
        E("POST", "/api/v1/reviews/{review_id}/resolved-privately", resolved_privately,
          "Mark a review resolved in private (the suggestion becomes a public follow-up)",
          R, P.REVIEWS_WRITE, response=ReviewOut),
        E("POST", "/api/v1/reviews/inbound/{account_id}", post_review, "A review from the "
          "shop's platform, signed with an API channel account's secret", R, None,
          body=rv.ReviewIn, response=ReviewAccepted, status=201,
          raw_check=_check_signature, security="signature",
          responses={200: "already stored (same source and id)", **signed}),
        E("POST", "/api/v1/reviews/google/{account_id}", post_google_review, "A Google "
          "Business Profile review (its Review JSON), signed with an API channel "
          "account's secret", R, None, body=rv.GoogleReview, response=ReviewAccepted,
          status=201, raw_check=_check_signature, security="signature",
          responses={200: "already stored (same reviewId)", **signed}),
        E("POST", "/api/v1/sentiment/corrections", correct, "Correct the sentiment of a "
          "message, review or mention (kept for the eval and as training rows)", T,
          P.INBOX_WRITE, body=CorrectionIn, response=CorrectionOut, status=201),
        E("GET", "/api/v1/sentiment/corrections", list_corrections, "Staff corrections, "
          "as training rows", T, P.LISTENING_READ, response=CorrectionOut),
        E("GET", "/api/v1/alerts", list_alerts, "Staff alerts (spikes, reviews near their "
          "deadline)", T, P.INBOX_READ, response=AlertOut),
        E("POST", "/api/v1/alerts/{alert_id}/read", read_alert, "Mark an alert read", T,
          P.INBOX_READ, status=204),
    ]


__all__ = ["KINDS", "endpoints"]
