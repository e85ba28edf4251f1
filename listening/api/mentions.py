"""REST handlers for what listening hears: mentions (and the signed mention ingest),
trends, sentiment corrections, and staff alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, BaseModel, Field, field_validator

from bot.core.auth import Perm
from bot.core.fields import readable
from bot.core.http import Call, Instant, Strict, json_out
from bot.core.links import check_web_url
from bot.models import Mention, SentimentCorrection
from listening import alerts, corrections, mentions, trends
from listening.api.signed import ACCOUNT_ID
from listening.runtime import LISTENING

Label = Literal["negative", "neutral", "positive"]


class MentionQuery(BaseModel):
    rule_id: int | None = None
    sentiment: Label | None = None
    since: Instant | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100


_INBOX_TEXT: dict[str, Any] = {"x-permission": Perm.INBOX_READ.value, "description": (
    "Of a mention taken from a customer's message (from_inbox): the inbox's, left out for "
    "roles that may not read conversations.")}


class MentionOut(BaseModel):
    id: int
    rule_id: int
    source: str
    from_inbox: bool = Field(False, description="Taken from a message in the inbox.")
    author: str = Field("", json_schema_extra=_INBOX_TEXT)
    url: str
    text: str = Field("", json_schema_extra=_INBOX_TEXT)
    lang: str
    sentiment: str
    sentiment_score: float | None
    occurred_at: datetime


def _mention_out(m: Mention) -> MentionOut:
    return MentionOut(id=m.id, rule_id=m.rule_id, source=m.source,  # type: ignore[attr-defined]
                      from_inbox=mentions.from_inbox(m), author=m.author,
                      url=m.url, text=m.text, lang=m.lang,
                      sentiment=m.sentiment, sentiment_score=m.sentiment_score,
                      occurred_at=m.occurred_at)


async def list_mentions(call: Call) -> web.StreamResponse:
    q: MentionQuery = call.query
    found = await mentions.find(None if q.rule_id is None else [q.rule_id], q.sentiment,
                                q.since, q.limit)
    return json_out([mentions.for_reader(m, _mention_out(m).model_dump(), call.user)
                     for m in found])


class MentionIn(Strict):
    id: Annotated[str, Field(min_length=1, max_length=200,
                             description="Your id of the item: the same id again is a "
                                         "redelivery and stores nothing new.")]
    text: Annotated[str, Field(min_length=1, max_length=20000)]
    source: Annotated[str, Field(min_length=1, max_length=24, pattern=r"^[a-z0-9_.-]+$")] = \
        "api"
    author: Annotated[str, Field(max_length=200)] = ""
    url: Annotated[str, Field(max_length=1000), AfterValidator(check_web_url)] = ""
    lang: Annotated[str, Field(pattern=r"^([a-z]{2})?$")] = ""
    occurred_at: datetime | None = None


class MentionAccepted(BaseModel):
    matched: list[int] = Field(description="The rules the item matched")
    sentiment: str
    mentions: list[int]


async def post_mention(call: Call) -> web.StreamResponse:
    body: MentionIn = call.body
    got = await mentions.take(call.request.app[LISTENING].service, call.request[ACCOUNT_ID],
                              body.id, body.text, body.source, body.author, body.url,
                              body.lang, body.occurred_at)
    return json_out(MentionAccepted(matched=got.matched, sentiment=got.sentiment,
                                    mentions=got.mentions),
                    status=201 if got.new else 200)


class TrendQuery(BaseModel):
    bucket: Literal["hour", "day"] = "day"
    since: Instant | None = Field(None, description="Default: 7 days (hour) or 30 days "
                                                     "(day) ago")
    until: Instant | None = None
    rule_id: list[int] = Field(default_factory=list)

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v


async def get_trends(call: Call) -> web.StreamResponse:
    q: TrendQuery = call.query
    until = q.until or datetime.now(UTC)
    since = q.since or until - timedelta(days=7 if q.bucket == "hour" else 30)
    found = await trends.overview(since, until, q.bucket, q.rule_id or None,
                                  call.request.app[LISTENING].segmenter())
    return json_out({"since": since, "until": until, "bucket": q.bucket, **found})


class CorrectionIn(Strict):
    item_kind: corrections.ItemKind
    item_id: int
    label: Label


class CorrectionOut(BaseModel):
    item_kind: str
    item_id: int
    text: str = Field("", json_schema_extra={
        "x-permission": Perm.INBOX_READ.value,
        "description": "A message's text (item_kind message) is the inbox's: left out for "
                       "roles that may not read conversations."})
    lang: str
    label: str
    model_label: str
    model_version: str


def _correction_out(r: SentimentCorrection) -> CorrectionOut:
    return CorrectionOut(item_kind=r.item_kind, item_id=r.item_id, text=r.text, lang=r.lang,
                         label=r.label, model_label=r.model_label,
                         model_version=r.model_version)


async def correct(call: Call) -> web.StreamResponse:
    body: CorrectionIn = call.body
    row = await corrections.correct(body.item_kind, body.item_id, body.label, call.user)
    return json_out(_correction_out(row), status=201)


# a corrected message's text is the inbox's (bot.core.fields)
_MESSAGE_PERMS = {"text": Perm.INBOX_READ}


async def list_corrections(call: Call) -> web.StreamResponse:
    rows = [_correction_out(r).model_dump() for r in await corrections.all_corrections()]
    return json_out([readable(r, _MESSAGE_PERMS, call.user) if r["item_kind"] == "message"
                     else r for r in rows])


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
                     for a in await alerts.recent()])


async def read_alert(call: Call) -> web.StreamResponse:
    await alerts.mark_read(call.param("alert_id"))
    return web.Response(status=204)
