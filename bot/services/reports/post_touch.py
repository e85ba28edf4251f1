"""Orders that came from a post: the touch of a post's tracked link (``scheduler.posts.links``
adds ``utm_campaign=post-<id>`` to the link the buyer follows; the store tells us where the
buyer landed).

*An order's UTM campaign*: its payload's ``utm_campaign``, else the ``utm_campaign`` in the
query of its ``landing_url`` or ``landing_site`` (Shopify's path and query; the store
webhooks keep both, ``scheduler.marketing.webhooks``).

*The rule*: an order whose campaign is ``post-<id>`` of an existing post touched that post
at the latest click on the post's tracked links (``post_clicks``) at or before the order,
or, if no click on it was recorded before the order, at the post's first publish time (a
target done); the touch counts if it is at most ``attribution_days`` before the order (and
not after it). A click carries no contact, so the campaign the order landed with is what
ties the two; the post's touch then competes with the contact's mail clicks (the latest
wins for the last touch, the earliest for the first).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tortoise.functions import Min

from bot.models import PostClick, PostVariant


def campaign(post_id: int) -> str:
    """The UTM campaign of a post's tracked links (``post-5``)."""
    return f"post-{post_id}"


def post_of(utm_campaign: str) -> int | None:
    """The post id a UTM campaign names (``post-5`` -> 5), or None."""
    head, _, tail = utm_campaign.strip().lower().partition("-")
    return int(tail) if head == "post" and tail.isdigit() and len(tail) < 10 else None


def utm_campaign(payload: dict[str, Any]) -> str:
    """The order's UTM campaign ("" if it named none)."""
    given = payload.get("utm_campaign")
    if isinstance(given, str) and given.strip():
        return given.strip()
    for key in ("landing_url", "landing_site"):
        landing = payload.get(key)
        if not isinstance(landing, str) or "utm_campaign" not in landing:
            continue
        try:
            found = parse_qs(urlsplit(landing.strip()).query).get("utm_campaign")
        except ValueError:  # not a URL
            continue
        if found and found[0].strip():
            return found[0].strip()
    return ""


async def touches(orders: list[dict[str, Any]], window: timedelta
                  ) -> dict[int, tuple[datetime, str, int]]:
    """Order event id -> its post touch (time, "post", post id), for the orders (shop
    events with ``id``, ``payload``, ``occurred_at``) that have one within ``window``."""
    named: dict[int, tuple[int, datetime]] = {}
    for e in orders:
        post = post_of(utm_campaign(e["payload"] if isinstance(e["payload"], dict) else {}))
        if post is not None:
            named[int(e["id"])] = (post, e["occurred_at"])
    if not named:
        return {}
    posts = sorted({p for p, _ in named.values()})
    latest = max(at for _, at in named.values())
    clicks: dict[int, list[datetime]] = defaultdict(list)
    for c in await PostClick.filter(post_id__in=posts, at__lte=latest).values("post_id", "at"):
        clicks[int(c["post_id"])].append(c["at"])
    published = {int(r["post_id"]): r["first"] for r in await PostVariant.filter(
        post_id__in=posts, published_at__isnull=False).annotate(
        first=Min("published_at")).group_by("post_id").values("post_id", "first")}
    out: dict[int, tuple[datetime, str, int]] = {}
    for event, (post, at) in named.items():
        before = [c for c in clicks[post] if c <= at]
        touch = max(before) if before else published.get(post)
        if touch is not None and at - window <= touch <= at:
            out[event] = (touch, "post", post)
    return out
