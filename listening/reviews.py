"""Reviews as an inbox: the ways in (a signed webhook, Google Business Profile review
JSON, CSV import), the 24-hour response clock, and replies.

A review is stored once per (source, id): a redelivered webhook or a re-imported file
changes nothing. Every new review is scored and matched against the listening rules like
any other item. Staff answer within ``DEADLINE``; ``warn_due`` alerts before it.
"""

from __future__ import annotations

import csv
import functools
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import aiohttp
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from tortoise.exceptions import IntegrityError

from bot.core.clean import fit, without_nul
from bot.core.links import check_web_url
from bot.core.outbound import url_path
from bot.models import Review
from bot.services.account_cache import channel_account
from bot.services.quarantine import store_or_quarantine
from channels.api.client import post_signed
from listening.alerts import Alerter
from listening.service import Listening

log = logging.getLogger("switchboard.reviews")
DEADLINE = timedelta(hours=24)
OPEN_STATES = ("unanswered", "reply_failed")  # still on the clock
GOOGLE_STARS = {"ONE": 1, "TWO": 2, "THREE": 3, "FOUR": 4, "FIVE": 5}
# Sends a staff reply back to the review's source: True if it did, False when the source
# takes no replies (see SourceReplies).
Replier = Callable[[Review, str], Awaitable[bool]]


NAME_LEN, TEXT_LEN = 200, 20000
ERROR_BYTES = 64 * 1024  # of an error answer: no more is read


class ReviewIn(BaseModel):
    """A review from the shop's platform (the generic webhook, a CSV row)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: Annotated[str, Field(min_length=1, max_length=300,
                             description="Your id of the review: the same id again is a "
                                         "redelivery and changes nothing.")]
    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    title: Annotated[str, Field(max_length=300)] = ""
    text: Annotated[str, Field(max_length=TEXT_LEN)] = ""
    author: Annotated[str, Field(max_length=NAME_LEN)] = ""
    product: Annotated[str, Field(max_length=200)] = ""
    url: Annotated[str, Field(max_length=1000), AfterValidator(check_web_url)] = ""
    lang: Annotated[str, Field(max_length=8)] = ""
    created_at: datetime | None = None
    source: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_.-]+$")] = \
        "webhook"


class GoogleReviewer(BaseModel):
    model_config = ConfigDict(extra="allow")
    displayName: str = ""  # noqa: N815 (Google's field names)
    isAnonymous: bool = False  # noqa: N815


class GoogleReply(BaseModel):
    model_config = ConfigDict(extra="allow")
    comment: str = ""
    updateTime: datetime | None = None  # noqa: N815


class GoogleReview(BaseModel):
    """Google Business Profile's Review resource (its documented fields)."""

    model_config = ConfigDict(extra="allow")
    name: str = ""
    reviewId: Annotated[str, Field(min_length=1, max_length=300)]  # noqa: N815
    reviewer: GoogleReviewer = Field(default_factory=GoogleReviewer)
    starRating: str = "STAR_RATING_UNSPECIFIED"  # noqa: N815
    comment: str = ""
    createTime: datetime  # noqa: N815
    updateTime: datetime | None = None  # noqa: N815
    reviewReply: GoogleReply | None = None  # noqa: N815

    def as_review(self) -> ReviewIn:
        # Google's own fields have no length we check: fitted, not refused with a 500
        name = "" if self.reviewer.isAnonymous else self.reviewer.displayName.strip()
        return ReviewIn(id=self.reviewId, rating=GOOGLE_STARS.get(self.starRating),
                        text=fit(_google_original(self.comment), TEXT_LEN),
                        author=fit(name, NAME_LEN),
                        created_at=self.createTime, source="google")


def _google_original(comment: str) -> str:
    """Google adds its own translation: keep the customer's words."""
    if "(Original)" in comment:
        return comment.split("(Original)", 1)[1].strip()
    return comment.strip()


@dataclass
class Stored:
    review: Review
    created: bool


async def store(body: ReviewIn, listening: Listening | None, account_id: int | None = None,
                payload: dict[str, Any] | None = None, replied: GoogleReply | None = None,
                locale: str = "") -> Stored:
    """Keep the review (once per source and id), then score it and match the rules."""
    existing = await Review.filter(source=body.source, external_id=body.id).first()
    if existing is not None:
        return Stored(existing, False)
    from listening import lang as langs
    text = "\n".join(t for t in (body.title, body.text) if t)
    lang = body.lang or langs.guess(text) if text else body.lang
    fields: dict[str, Any] = dict(  # each fitted to its column, whatever the way in
        source=body.source, external_id=body.id, channel_account_id=account_id,
        rating=body.rating, title=fit(body.title, 300), text=body.text,
        author=fit(body.author, NAME_LEN), product=fit(body.product, NAME_LEN),
        url=body.url if len(body.url) <= 1000 else "", lang=fit(lang or "", 8, ""),
        locale=fit(locale or lang or "en", 8, ""),
        created=body.created_at or datetime.now(UTC), payload=payload or {})
    if replied is not None and replied.comment:
        fields.update(reply_state="replied", reply_text=replied.comment,
                      replied_at=replied.updateTime or datetime.now(UTC))
    try:
        review = await Review.create(**fields)
    except IntegrityError:  # stored meanwhile by a concurrent redelivery
        found = await Review.get(source=body.source, external_id=body.id)
        return Stored(found, False)
    if listening is not None and text:
        await listening.review(review)
        await review.refresh_from_db(fields=["sentiment"])
    return Stored(review, True)


CSV_COLUMNS = ("id", "rating", "title", "text", "author", "product", "url", "created_at",
               "lang", "source")


def read_csv(path: Path) -> Iterator[tuple[int, ReviewIn | str]]:
    """(row number, review or why the row is bad), row 2 being the first after the
    header. Columns by name: id and text (or title) are required, the rest optional."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
        if unknown:
            yield 1, f"unknown columns: {', '.join(sorted(unknown))} (known: " \
                     f"{', '.join(CSV_COLUMNS)})"
            return
        for n, row in enumerate(reader, 2):
            values = {k: v for k, v in without_nul(row).items()  # see bot.clean
                      if k and v not in (None, "")}
            if "source" not in values:
                values["source"] = "csv"
            try:
                yield n, ReviewIn.model_validate(values)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                yield n, f"{where}: {err['msg']}"


async def import_csv(path: Path, listening: Listening | None,
                     progress: Callable[[int], None] | None = None, *, tries: int = 3,
                     ) -> tuple[int, int, list[tuple[int, str]]]:
    """(added, already there, bad rows with reasons). A row that cannot be stored is a
    bad row and the import goes on; after ``tries`` imports that failed it, it is
    quarantined (kept raw, listed for an admin) and later imports pass over it."""
    added = same = 0
    bad: list[tuple[int, str]] = []
    for n, row in read_csv(path):
        if isinstance(row, str):
            bad.append((n, row))
        else:
            kept: list[Stored] = []
            done = await store_or_quarantine(
                "reviews", 0, f"{row.source}:{row.id}", row.model_dump_json(),
                functools.partial(_keep, kept, row, listening), tries=tries)
            if kept:
                added += int(kept[0].created)
                same += int(not kept[0].created)
            else:
                bad.append((n, "could not be stored; " + (
                    "quarantined (see could not import)" if done else "import it again")))
        if progress:
            progress(1)
    return added, same, bad


async def _keep(kept: list[Stored], row: ReviewIn, listening: Listening | None) -> None:
    kept.append(await store(row, listening))


def clock(review: Review, now: datetime) -> dict[str, Any]:
    """Where the review stands on its 24-hour clock."""
    deadline = review.created + DEADLINE
    left = (deadline - now).total_seconds()
    answered = review.reply_state in ("replied", "stored")
    state = "answered" if answered else "overdue" if left < 0 else \
        "due_soon" if left < 4 * 3600 else "open"
    return {"deadline": deadline, "seconds_left": int(left), "state": state}


async def warn_due(alerter: Alerter, now: datetime, warn_before: timedelta) -> int:
    """Alert once per unanswered review whose deadline is within ``warn_before`` (or
    passed unwarned). Claimed by setting ``warned_at`` first, so each warns once."""
    edge = now - (DEADLINE - warn_before)
    sent = 0
    for review in await Review.filter(reply_state__in=OPEN_STATES, warned_at=None,
                                      created__lte=edge).order_by("created").limit(100):
        claimed = await Review.filter(id=review.id, warned_at=None).update(warned_at=now)
        if not claimed:
            continue
        left = clock(review, now)["seconds_left"]
        when = f"in {max(left, 0) // 3600} h {max(left, 0) % 3600 // 60} min" if left > 0 \
            else "now (overdue)"
        stars = f"{review.rating}★ " if review.rating else ""
        alert = await alerter.raise_(
            "review", f"review:{review.id}",
            f"Review to answer {when}: {stars}{review.author or 'a customer'}"
            f"{' on ' + review.product if review.product else ''}",
            (review.title + "\n" if review.title else "") + review.text[:400],
            f"/reviews/{review.id}", {"review": review.id})
        sent += int(alert is not None)
    return sent


class SourceReplies:
    """Sends a reply back where the review came from, when that source takes replies:

    * Google: ``PUT {google_api_url}/v4/{review name}/reply`` with ``{"comment"}`` and the
      account's ``google_access_token`` (both in the API channel account's settings);
    * the generic webhook: a signed POST to the account's callback URL,
      ``{"type": "review_reply", "review_id", "text"}`` (like staff replies on the API
      channel).

    Returns False when the source takes no replies (the reply is kept, for staff to post).
    """

    def __init__(self, http: aiohttp.ClientSession, timeout: float = 10.0) -> None:
        self.http, self.timeout = http, timeout

    async def __call__(self, review: Review, text: str) -> bool:
        account = await channel_account(review.channel_account_id)  # type: ignore[attr-defined]
        if account is None:
            return False
        settings = account.settings or {}
        if review.source == "google":
            base, token = settings.get("google_api_url"), settings.get("google_access_token")
            name = str(review.payload.get("name") or "")
            if not (base and token and name):
                return False
            try:  # the name came in a webhook: it stays inside the API's path
                path = url_path(name)
            except ValueError as exc:
                raise ValueError(f"not a Google review name: {name[:100]!r}") from exc
            async with self.http.put(
                    f"{str(base).rstrip('/')}/v4/{path}/reply", json={"comment": text},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                if resp.status >= 400:  # a huge or endless answer is let go
                    said = (await resp.content.read(ERROR_BYTES)).decode(errors="replace")
                    raise RuntimeError(f"Google answered {resp.status}: {said[:200]}")
            return True
        if account.callback_url:
            await post_signed(self.http, account.callback_url, account.secret,
                              {"type": "review_reply", "review_id": review.external_id,
                               "text": text}, self.timeout, {})
            return True
        return False
