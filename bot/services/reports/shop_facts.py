"""The roll-ups behind the marketing and listening reports, recomputed from the raw rows.

:func:`refresh` reads what is new since its watermarks (kept in ``shop_report_state``) and
rewrites the facts it touches, in batches (bounded memory), each batch with its watermark
in one transaction: run it again, or after a crash, and the facts come out the same. The
clock runs it (job ``shop-facts``, one process at a time: the per-day sums are kept by
deltas, so two refreshes must never run at once); ``bench/reports.py`` calls it until it
returns 0.

* **Commerce** (``report_contacts``, ``report_orders``, and their sums per day, cohort,
  source and currency in ``report_order_days``): for each contact with a new shop event,
  all of their events are read again and their facts rewritten (an event that arrives
  late, with an earlier time, renumbers their orders correctly).
  - *Entered*: the contact's first shop event (normally the signup; a guest's first
    checkout or order counts as entering there). *Checkout*: a checkout started, or an
    order placed (an order passed a checkout). *Cohort*: the month of the first order.
  - *Source channel*: where the customer came from: the channel kind of their first
    conversation with the shop if it started no later than their first shop event
    (``webchat``, ``instagram``, ``email`` …), else the store that sent that event
    (``api``, ``shopify``, ``woocommerce``), i.e. they came to the shop directly.
  - *Money*: an order's ``total`` (a number or text: ``1,234.50``, ``12,50`` is 12.50) as
    a Decimal rounded half-up to cents, kept in integer cents (sums are exact on both
    databases); a negative or ambiguous total counts the order without revenue
    (:func:`cents`); an order keeps the ``currency`` its payload names.
  - *Attribution*: a tracked click on a marketing mail (``mail_sends.clicked_at``: its
    first click) of a sequence or a broadcast, or an order's touch of a post
    (``post_touch``: it landed with ``utm_campaign=post-<id>``), at most
    ``attribution_days`` before the order: the latest touch is the last touch, the
    earliest the first touch. Every order is credited (the mail stats credit a mail once).
* **Clicks** (``report_clicks``): each clicked mail, by the day of its first click.
* **Sentiment** (``report_sentiment``, counted per day in ``report_sentiment_days``): each
  scored item with its latest label: messages
  (channel: the conversation's channel kind; language: the contact's locale) and reviews
  (channel ``review``; their language) from ``sentiment_scores``, and mentions from
  outside (feeds, the API: their own source, language and label, as first stored: a
  mention scored again later keeps its first label here).
* **Reviews** (``report_reviews``): each review, answered when a reply went out within 24
  hours of the review (exactly 24 hours counts).

Days, weeks (from Monday) and months are the shop's (``shop_timezone``). A change of the
timezone or of ``attribution_days`` rebuilds every roll-up from the start, done by the
process configured last (``config_at``): a process started earlier with other settings
(a rolling deploy) leaves the roll-ups alone instead of rebuilding them back. The marks
follow :mod:`bot.services.reports.marks` (late commits, a lost lease). A deleted or
merged contact leaves them in the same transaction (:func:`forget`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from bot.models import (
    CampaignClick,
    Contact,
    ContactCommerce,
    Conversation,
    MailSend,
    Mention,
    Message,
    OrderDay,
    OrderFact,
    Review,
    ReviewFact,
    SentimentDay,
    SentimentFact,
    SentimentScore,
    ShopEvent,
    ShopReportState,
)
from bot.services.reports import marks
from bot.services.reports.shop_state import (
    cents,
    check_config,
    configure,
    get,
    local_day,
    put,
    shop_timezone,
    swap,
    take,
    week_of,
    window,
)

__all__ = ["cents", "configure", "forget", "local_day", "refresh", "refresh_all",
           "shop_timezone", "week_of", "window"]
from bot.services.reports.post_touch import touches
from bot.services.reports.shop_reviews import new_reviews, replied_reviews
from bot.services.reports.sql import execute, postgres

BATCH = 2000
ANALYZE_AFTER = 20000  # rows read since the last ANALYZE (PostgreSQL)
_TABLES = (ContactCommerce, OrderFact, OrderDay, CampaignClick, SentimentFact, SentimentDay,
           ReviewFact)


_ADD_DAY = ("INSERT INTO report_order_days (day, cohort, source, currency, orders, cents, "
            "firsts, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (day, cohort, source, currency) DO UPDATE SET "
            "orders = report_order_days.orders + excluded.orders, "
            "cents = report_order_days.cents + excluded.cents, "
            "firsts = report_order_days.firsts + excluded.firsts, "
            "seconds = report_order_days.seconds + excluded.seconds")


async def refresh(limit: int | None = None) -> int:
    """Bring the roll-ups up to date with at most ``limit`` raw rows (None: a batch of
    each kind); return how many rows it read (0: up to date)."""
    if not await check_config(_TABLES):
        return 0
    size = min(limit or BATCH, BATCH)
    done = 0
    for step in (_commerce, _clicks, _scores, _mentions, new_reviews, replied_reviews):
        if limit is not None and done >= limit:
            break
        done += await step(size if limit is None else min(size, limit - done))
    await _statistics(done)
    return done


async def _statistics(done: int) -> None:
    """After a large catch-up, PostgreSQL's planner learns the roll-ups' new sizes at once
    (autovacuum would, a while later): a plan made for empty tables scans too much."""
    grown = int(await get("grown")) + done
    if done or grown < ANALYZE_AFTER or not postgres():
        if done:
            async with in_transaction() as conn:
                await put(conn, "grown", str(grown))
        return
    await connections.get("default").execute_script(
        "ANALYZE " + ", ".join(m._meta.db_table for m in _TABLES))
    async with in_transaction() as conn:
        await put(conn, "grown", "0")


async def refresh_all() -> None:
    """The clock's job: refresh until up to date."""
    while await refresh():
        pass


async def _commerce(size: int) -> int:
    old_mark, mark, batch = await take("events", ShopEvent, size, "contact_id")
    queued = [str(q) for q in await ShopReportState.filter(name__startswith=RECOMPUTE).limit(
        size).values_list("name", flat=True)]
    people = sorted({int(r[2]) for r in batch.rows} | {int(q[len(RECOMPUTE):]) for q in queued})
    if not people and batch.mark == mark:
        return 0
    events: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in await ShopEvent.filter(contact_id__in=people).order_by(
            "occurred_at", "id").values("id", "contact_id", "kind", "source", "payload",
                                        "occurred_at"):
        events[int(e["contact_id"])].append(e)
    chats: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for c in await Conversation.filter(contact_id__in=people).order_by(
            "created_at", "id").values("contact_id", "created_at", "channel_kind"):
        chats[int(c["contact_id"])].append((c["created_at"], str(c["channel_kind"])))
    mails: dict[int, list[tuple[datetime, str, int]]] = defaultdict(list)
    for m in await MailSend.filter(contact_id__in=people, clicked_at__isnull=False).values(
            "contact_id", "clicked_at", "broadcast_id", "enrollment__sequence_id"):
        touch = _campaign(m)
        if touch is not None:
            mails[int(m["contact_id"])].append((m["clicked_at"], *touch))
    posts = await touches([e for es in events.values() for e in es
                           if e["kind"] == "order_placed"], window())
    facts, orders = [], []
    for person in people:
        got = _contact(person, events[person], chats[person], mails[person], posts)
        if got is not None:
            facts.append(got[0])
            orders.extend(got[1])
    async with in_transaction() as conn:
        await swap(conn, "events", old_mark, batch.mark)  # locks it: no other writer now
        await ShopReportState.filter(name__in=list(queued)).using_db(conn).delete()
        await _apply(conn, people, facts, orders)
    return len(batch.rows) + len(queued)


RECOMPUTE = "recompute:"  # a state row naming a contact whose facts are to be recomputed


async def _apply(conn: Any, people: list[int], facts: list[ContactCommerce],
                 orders: list[OrderFact]) -> None:
    """Replace these contacts' facts, moving the day sums by the difference; the old facts
    are read here, after the state row was locked. A contact deleted meanwhile
    (:func:`forget`) gets none."""
    alive = {int(str(i)) for i in await Contact.filter(id__in=people).using_db(conn).values_list(
        "id", flat=True)}
    facts = [f for f in facts if f.contact_id in alive]
    orders = [o for o in orders if o.contact_id in alive]
    sums: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    old = await OrderFact.filter(contact_id__in=people).using_db(conn).values(
        "day", "cohort", "source", "currency", "cents", "nth")
    new = [{"day": o.day, "cohort": o.cohort, "source": o.source, "currency": o.currency,
            "cents": o.cents, "nth": o.nth} for o in orders]
    for sign, batch in ((-1, old), (1, new)):
        for row in batch:
            add = sums[row["day"], row["cohort"], row["source"], row["currency"]]
            for i, v in enumerate((1, row["cents"], row["nth"] == 1, row["nth"] == 2)):
                add[i] += sign * int(v)
    await execute(conn, _ADD_DAY, [[*k, *v] for k, v in sums.items() if any(v)])
    await OrderFact.filter(contact_id__in=people).using_db(conn).delete()
    await ContactCommerce.filter(contact_id__in=people).using_db(conn).delete()
    await ContactCommerce.bulk_create(facts, using_db=conn)
    await OrderFact.bulk_create(orders, using_db=conn)


async def forget(conn: Any, contact_ids: list[int], recompute: int | None = None) -> None:
    """In the transaction ``conn`` that deletes these contacts: take their facts out of the
    roll-ups now; ``recompute``: a contact they were merged into, recomputed next run."""
    await execute(conn, "UPDATE shop_report_state SET value = value WHERE name = ?",
                  [["events"]])  # PostgreSQL: waits for, then holds off, a refresh's write
    await _apply(conn, sorted(set(contact_ids)), [], [])
    if recompute is not None:
        name = f"{RECOMPUTE}{recompute}"
        if not await ShopReportState.filter(name=name).using_db(conn).exists():
            await ShopReportState.create(using_db=conn, name=name, value="")


def _campaign(m: dict[str, Any]) -> tuple[str, int] | None:
    if m["broadcast_id"] is not None:
        return "broadcast", int(m["broadcast_id"])
    if m["enrollment__sequence_id"] is not None:
        return "sequence", int(m["enrollment__sequence_id"])
    return None


def _contact(person: int, events: list[dict[str, Any]], chats: list[tuple[datetime, str]],
             clicks: list[tuple[datetime, str, int]],
             posts: dict[int, tuple[datetime, str, int]]
             ) -> tuple[ContactCommerce, list[OrderFact]] | None:
    if not events:
        return None
    first = events[0]
    source = next((kind for at, kind in chats if at <= first["occurred_at"]),
                  str(first["source"]))
    placed = [e for e in events if e["kind"] == "order_placed"]
    reached = [e for e in events if e["kind"] in ("checkout_started", "checkout_updated",
                                                  "order_placed")]
    cohort = local_day(placed[0]["occurred_at"]).replace(day=1) if placed else None
    orders = []
    days = [local_day(e["occurred_at"]) for e in placed]
    for nth, e in enumerate(placed, 1):
        at: datetime = e["occurred_at"]
        day = days[nth - 1]
        payload = e["payload"] if isinstance(e["payload"], dict) else {}
        post = [posts[int(e["id"])]] if int(e["id"]) in posts else []
        inside = sorted([c for c in clicks if at - window() <= c[0] <= at] + post)
        last, earliest = (inside[-1], inside[0]) if inside else (None, None)
        assert cohort is not None
        orders.append(OrderFact(
            event_id=int(e["id"]), contact_id=person, at=at, day=day, week=week_of(day),
            nth=nth, prev_day=days[nth - 2] if nth > 1 else None,
            next_day=days[nth] if nth < len(days) else None, cohort=cohort,
            cents=cents(payload.get("total")),
            currency=str(payload.get("currency") or "")[:8].upper(), source=source,
            last_kind=last[1] if last else "", last_ref=last[2] if last else None,
            first_kind=earliest[1] if earliest else "",
            first_ref=earliest[2] if earliest else None))
    entered = local_day(first["occurred_at"])
    return ContactCommerce(
        contact_id=person, source=source, entered_day=entered, entered_week=week_of(entered),
        signed_up=any(e["kind"] == "signup" for e in events),
        checkout_day=local_day(reached[0]["occurred_at"]) if reached else None,
        first_order_day=days[0] if days else None, last_order_day=days[-1] if days else None,
        cohort=cohort, orders=len(orders), cents=sum(o.cents for o in orders)), orders


async def _clicks(size: int) -> int:
    """Mails clicked and not counted yet (a mail's first click never changes)."""
    counted = Subquery(CampaignClick.all().values("mail_id"))
    rows = await MailSend.filter(clicked_at__isnull=False).exclude(id__in=counted).order_by(
        "id").limit(size).values("id", "clicked_at", "broadcast_id", "enrollment__sequence_id")
    facts = []
    for m in rows:
        touch = _campaign(m) or ("", 0)  # a transactional mail: kept, so read once
        facts.append(CampaignClick(mail_id=int(m["id"]), kind=touch[0], ref=touch[1],
                                   day=local_day(m["clicked_at"])))
    await CampaignClick.bulk_create(facts)
    return len(rows)


async def _scores(size: int) -> int:
    old_mark, mark, batch = await take("scores", SentimentScore, size, "item_kind", "item_id")
    if not batch.rows and batch.mark == mark:
        return 0
    items = {(str(r[2]), int(r[3])) for r in batch.rows if r[2] in ("message", "review")}
    latest: dict[tuple[str, int], str] = {}  # the item's latest score now: safe to re-read
    for kind in ("message", "review"):
        for r in await SentimentScore.filter(
                item_kind=kind, item_id__in=[i for k, i in items if k == kind]).order_by(
                "id").values("item_id", "label"):
            latest[kind, int(r["item_id"])] = str(r["label"])
    facts: dict[str, SentimentFact] = {}
    msgs = [i for k, i in latest if k == "message"]
    for m in await Message.filter(id__in=msgs).values(
            "id", "created_at", "conversation__channel_kind",
            "conversation__contact__locale"):
        day = local_day(m["created_at"])
        key = f"message:{m['id']}"
        facts[key] = SentimentFact(
            item=key, day=day, week=week_of(day), channel=str(m["conversation__channel_kind"]),
            lang=str(m["conversation__contact__locale"] or "")[:2].lower(),
            label=latest["message", int(m["id"])])
    revs = [i for k, i in latest if k == "review"]
    for r in await Review.filter(id__in=revs).values("id", "created", "lang"):
        day = local_day(r["created"])
        key = f"review:{r['id']}"
        facts[key] = SentimentFact(item=key, day=day, week=week_of(day), channel="review",
                                   lang=str(r["lang"] or "")[:8].lower(),
                                   label=latest["review", int(r["id"])])
    await _put_sentiment(facts, "scores", old_mark, batch.mark)
    return len(batch.rows)


_ADD_SENTIMENT = ("INSERT INTO report_sentiment_days (day, week, channel, lang, label, n) "
                  "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (day, channel, lang, label) "
                  "DO UPDATE SET n = report_sentiment_days.n + excluded.n")


async def _put_sentiment(facts: dict[str, SentimentFact], name: str, old_mark: str | None,
                         mark: marks.Mark, first: bool = False) -> None:
    """Write these facts, moving the day counts by the difference (``first``: an item
    that has a fact keeps it)."""
    counts: dict[tuple[Any, ...], int] = defaultdict(int)
    async with in_transaction() as conn:
        await swap(conn, name, old_mark, mark)  # then read the old facts
        old = await SentimentFact.filter(item__in=list(facts)).using_db(conn).values(
            "item", "day", "week", "channel", "lang", "label") if facts else []
        if first:
            facts = {k: f for k, f in facts.items() if k not in {r["item"] for r in old}}
            old = []
        for row in old:
            counts[row["day"], row["week"], row["channel"], row["lang"], row["label"]] -= 1
        for f in facts.values():
            counts[f.day, f.week, f.channel, f.lang, f.label] += 1
        await execute(conn, _ADD_SENTIMENT, [[*k, n] for k, n in counts.items() if n])
        if facts:
            await SentimentFact.filter(item__in=list(facts)).using_db(conn).delete()
            await SentimentFact.bulk_create(list(facts.values()), using_db=conn)


async def _mentions(size: int) -> int:
    old_mark, mark, batch = await take("mentions", Mention, size, "source_ref", "source",
                                        "lang", "sentiment", "occurred_at")
    if not batch.rows and batch.mark == mark:
        return 0
    facts: dict[str, SentimentFact] = {}
    for _, _, ref, source, lang, sentiment, occurred_at in batch.rows:
        if not sentiment or str(ref).startswith(("message:", "review:")):
            continue  # not scored, or counted with its message's or review's score
        day = local_day(occurred_at)
        key = f"mention:{ref}"[:300]
        facts.setdefault(key, SentimentFact(item=key, day=day, week=week_of(day),
                                            channel=str(source)[:32],
                                            lang=str(lang or "")[:8].lower(),
                                            label=str(sentiment)))
    await _put_sentiment(facts, "mentions", old_mark, batch.mark, first=True)
    return len(batch.rows)
