"""REST handlers for what listening watches: the rules and the RSS and Atom feeds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from bot.core.http import Call, Strict, json_out, omissible
from bot.core.keys import SETTINGS
from bot.models import Feed, ListeningRule
from listening import feeds, ruleset

RuleKind = Literal["brand", "product", "competitor", "keyword", "hashtag"]


class RuleIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    kind: RuleKind
    query: Annotated[str, Field(min_length=1, max_length=2000, description=(
        'Terms, "phrases" and #hashtags with AND, OR, NOT (or -) and parentheses, e.g. '
        '(acme OR #acme) AND NOT job'))]
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] = Field(
        default_factory=list, description="ISO 639-1 codes; empty: every language")
    enabled: bool = True


class RulePatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)] = omissible()
    kind: RuleKind = omissible()
    query: Annotated[str, Field(min_length=1, max_length=2000)] = omissible()
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] = omissible()
    enabled: bool = omissible()


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


async def list_listening_rules(call: Call) -> web.StreamResponse:
    return json_out([_rule_out(r) for r in await ruleset.all_rules()])


async def create_listening_rule(call: Call) -> web.StreamResponse:
    body: RuleIn = call.body
    rule = await ruleset.add_rule(body.name, body.kind, body.query, body.languages,
                                  body.enabled)
    return json_out(_rule_out(rule), status=201)


async def update_listening_rule(call: Call) -> web.StreamResponse:
    rule_id = call.param("rule_id")
    body: RulePatch = call.body
    rule = await ruleset.change_rule(rule_id, name=body.name, kind=body.kind,
                                     query=body.query, languages=body.languages,
                                     enabled=body.enabled)
    return json_out(_rule_out(rule))


async def delete_listening_rule(call: Call) -> web.StreamResponse:
    await ruleset.delete_rule(call.param("rule_id"))
    return web.Response(status=204)


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
    return json_out([_feed_out(f) for f in await feeds.all_feeds()])


async def create_feed(call: Call) -> web.StreamResponse:
    body: FeedIn = call.body
    feed = await feeds.add_feed(
        body.url, body.name, body.interval_minutes,
        refuse_private=not call.request.app[SETTINGS].allow_private_urls)
    return json_out(_feed_out(feed), status=201)


async def delete_feed(call: Call) -> web.StreamResponse:
    await feeds.remove_feed(call.param("feed_id"))
    return web.Response(status=204)
