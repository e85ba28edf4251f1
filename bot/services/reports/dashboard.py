"""The home dashboard: a few tiles per role, each a handful of numbers and a short list that
link to the page behind them. Built by :func:`build_dashboard` from models only.

Every query is bounded and index-backed, none reads the messages table beyond the rows of
the conversations it names (the ``msg_conv`` index on ``(conversation_id, id)``):

* open conversations: ``conv_status_last`` ``(status, last_message_at)``; who waits longest
  looks, per open conversation, for the first inbound message after a person's last
  answer: two probes of ``msg_conv_dir`` ``(conversation_id, direction, id, sender_id,
  created_at)``, which answers both from the index alone (cost grows with the open
  conversations, never with the history); the database counts and ranks them, so only
  the five longest come back;
* first response today: the conversations created today in the shop's timezone, found
  through ``conv_status_last`` (a conversation created today had its last message today);
* reviews: ``review_clock`` ``(reply_state, created)``; posts: ``post_due``
  ``(status, due_at)``; spikes: the staff alerts of the last 24 hours (a small table);
* drip mails and attributed revenue read ``mail_sends`` by ``(state, sent_at)`` and by
  ``converted_at``, spikes ``staff_alerts`` by ``(kind, created_at)`` (migration 0016).

Measured with ``bench/reports.py --only dashboard`` (docs/benchmarks.md). Who waits
longest stays the one tile whose cost grows with the shop (about 6,000 open
conversations in the bench): a column kept at write time would make it constant.

A person's answer is an outbound message with a sender (a staff member in the inbox, the
API or the staff chat); the bot's and the rules' messages are not. First response times
count business hours when ``office_hours`` is set, as the inbox reports do (the same
:func:`~bot.services.reports.inbox_facts.business_seconds`), else calendar time; the
tile's note says which.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import connections
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

import bot.services.reports.catalog  # noqa: F401  (fills REPORTS: the tiles link to them)
from bot.core import l10n, said
from bot.core.auth import Perm, has_perm
from bot.core.i18n import LABELS, N_, _, label, ngettext
from bot.core.links import same_site_path
from bot.models import Conversation, MailSend, Post, Review, StaffAlert, User
from bot.models.inbox import ConversationStatus
from bot.models.posts import PostStatus
from bot.services.reports import REPORTS, Column, Figure, Table
from bot.services.reports.inbox_facts import business_seconds
from bot.services.reports.inbox_query import nearest
from config import Settings
from config import hours as hours_config
from config import sla as sla_config

# The review desk's rules (listening.reviews: DEADLINE, OPEN_STATES), which this layer may
# not import; tests/web/test_dashboard.py checks they agree.
REVIEW_DEADLINE = timedelta(hours=24)
REVIEW_OPEN_STATES = ("unanswered", "reply_failed")
WAITING_SHOWN = 5
LIST_SHOWN = 5
FAILED_DAYS = 7  # failed posts shown: those due in the last week
SPIKE_HOURS = 24
SEQUENCES_PAGE = "/sequences"


@dataclass
class Tile:
    key: str
    title: str
    link: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    note: str = ""


@dataclass
class Dashboard:
    generated_at: datetime
    timezone: str
    today: date
    tiles: list[Tile] = field(default_factory=list)

    def tile(self, key: str) -> Tile:
        for t in self.tiles:
            if t.key == key:
                return t
        raise KeyError(key)


# Which permissions a tile needs (all of them): what it is about, and for the marketing
# tiles the marketing reports (so an agent, who may read the calendar, sees no posts tile).
TILE_PERMS: dict[str, tuple[Perm, ...]] = {
    "conversations": (Perm.INBOX_READ,),
    "first_response": (Perm.INBOX_READ, Perm.REPORTS_INBOX),
    "reviews": (Perm.REVIEWS_READ,),
    "spikes": (Perm.LISTENING_READ,),
    "posts": (Perm.POSTS_READ, Perm.REPORTS_MARKETING),
    "drip": (Perm.MARKETING_READ, Perm.REPORTS_MARKETING),
    "revenue": (Perm.MARKETING_READ, Perm.REPORTS_MARKETING),
}


def tiles_for(user: User) -> list[str]:
    return [k for k, perms in TILE_PERMS.items() if all(has_perm(user, p) for p in perms)]


def report_link(user: User, key: str, fallback: str) -> str:
    """The report page ``key`` if ``user`` may read it, else ``fallback``."""
    spec = REPORTS.get(key)
    return f"/reports/{key}" if spec is not None and has_perm(user, spec.perm) else fallback


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A day in the shop's timezone as a UTC half-open range (23 or 25 hours on a DST day)."""
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


def _dialect() -> str:
    return str(connections.get("default").capabilities.dialect)


def _param(dt: datetime) -> Any:
    # SQLite keeps Tortoise's text form of an aware UTC datetime: compare in that form.
    return str(dt.astimezone(UTC)) if _dialect() == "sqlite" else dt


def _sql(text: str) -> str:
    if _dialect() != "postgres":
        return text
    parts = text.split("?")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "")
                   for i, p in enumerate(parts))


def _when(value: Any) -> datetime | None:
    """A timestamp from a raw row (text on SQLite) as an aware UTC datetime."""
    if value is None:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.astimezone(UTC)


async def _rows(text: str, params: list[Any]) -> list[dict[str, Any]]:
    if _dialect() != "postgres":
        return list(await connections.get("default").execute_query_dict(text, params))
    # The planner's cost of many small index probes passes jit_above_cost, and compiling
    # the query then takes longer than running it.
    async with in_transaction() as conn:
        await conn.execute_query("SET LOCAL jit = off")
        return list(await conn.execute_query_dict(_sql(text), params))


def _duration(td: timedelta) -> str:
    """A target in words of the reader's language ("1 hour", "24 giờ")."""
    return l10n.format_duration(td)


# --- the inbox --------------------------------------------------------------------------

# Per open conversation: the first inbound message after the last answer by a person
# (two index-only probes of msg_conv_dir each), materialized once so that filtering and
# ranking do not run the probes again; the longest waiting and how many wait in all.
# (SQLite compares its text timestamps, all in UTC and of one form: in time order.)
_WAITING = """
WITH w AS MATERIALIZED (
  SELECT c.id AS id,
    (SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = c.id
       AND m.direction = 'in' AND m.id > COALESCE(
         (SELECT MAX(o.id) FROM messages o WHERE o.conversation_id = c.id
            AND o.direction = 'out' AND o.sender_id IS NOT NULL), 0)) AS since
  FROM conversations c WHERE c.status = ?)
SELECT id, since, COUNT(*) OVER () AS n FROM w WHERE since IS NOT NULL
ORDER BY since, id LIMIT ?
"""


async def conversations_tile() -> Tile:
    open_count = await Conversation.filter(status=ConversationStatus.OPEN).count()
    rows = await _rows(_WAITING, [ConversationStatus.OPEN.value, WAITING_SHOWN])
    top = [(when, int(r["id"])) for r in rows if (when := _when(r["since"])) is not None]
    waiting = int(rows[0]["n"]) if rows else 0
    about = {r["id"]: r for r in await Conversation.filter(id__in=[i for _, i in top]).values(
        "id", "channel_kind", "contact_id", "contact__name", "contact__email")}
    table = Table("waiting", N_("Waiting longest for an answer"), [
        Column("conversation", N_("Conversation"), "link"),
        Column("contact", N_("Contact"), "text"),
        Column("channel", N_("Channel"), "text"), Column("waiting_since", N_("Waiting since"),
                                                     "datetime")])
    for since, cid in top:
        r = about[cid]
        table.rows.append({
            "conversation": f"#{cid}", "link": f"/inbox/{cid}",
            "contact": r["contact__name"] or r["contact__email"] or f"#{r['contact_id']}",
            "channel": r["channel_kind"], "waiting_since": since})
    return Tile("conversations", N_("Open conversations"), "/inbox?status=open", [
        Figure("open", N_("Open"), open_count, "int", link="/inbox?status=open"),
        Figure("waiting", N_("Waiting for a person's answer"), waiting, "int")], [table])


# Conversations created today (through conv_status_last: their last message is today too),
# their first inbound message, and the first answer by a person after it.
_TODAY = """
SELECT t.id AS id, t.kind AS kind, t.status AS status, fi.created_at AS asked,
  (SELECT MIN(o.created_at) FROM messages o WHERE o.conversation_id = t.id
     AND o.direction = 'out' AND o.sender_id IS NOT NULL AND o.id > t.fid) AS answered
FROM (SELECT c.id AS id, c.channel_kind AS kind, c.status AS status,
        (SELECT MIN(m.id) FROM messages m WHERE m.conversation_id = c.id
           AND m.direction = 'in') AS fid
      FROM conversations c WHERE c.status IN (?, ?, ?, ?) AND c.last_message_at >= ?
        AND c.created_at >= ? AND c.created_at < ?) t
JOIN messages fi ON fi.id = t.fid
"""


def response_seconds(asked: datetime, answered: datetime, office: hours_config.OfficeHours
                     ) -> int:
    """How long a question waited for its answer, in whole seconds between whole epoch
    seconds (as the inbox reports count them): business seconds when the shop has office
    hours, else calendar seconds."""
    start, end = int(asked.timestamp() // 1), int(answered.timestamp() // 1)
    return end - start if office.always_open else business_seconds(start, end, office)


async def first_response_tile(settings: Settings, start: datetime, end: datetime,
                              now: datetime, link: str = "/inbox") -> Tile:
    targets = sla_config.parse(settings.sla_targets)
    office = hours_config.parse(settings.office_hours, settings.shop_timezone)
    rows = await _rows(_TODAY, [*(s.value for s in ConversationStatus), _param(start),
                                _param(start), _param(end)])
    times: list[int] = []
    breached = 0
    for r in rows:
        asked, answered = _when(r["asked"]), _when(r["answered"])
        assert asked is not None
        target = targets.for_channel(str(r["kind"])).first_response
        if answered is not None:
            took = response_seconds(asked, answered, office)
            times.append(took)
            breached += took > target.total_seconds()
        elif str(r["status"]) != ConversationStatus.RESOLVED.value:
            # still waiting, already past its target
            breached += response_seconds(asked, now, office) > target.total_seconds()
    median = nearest(sorted(times), 50)  # nearest rank, as the response-times report
    default = targets.default.first_response
    per = ", ".join(f"{k} {_duration(t.first_response)}"
                    for k, t in sorted(targets.per_channel.items()))
    return Tile("first_response", N_("First response today"), link, [
        Figure("median", N_("Median first response"), median, "seconds",
               note=_("target %(time)s", time=_duration(default))),
        Figure("target", N_("Target"), int(default.total_seconds()), "seconds",
               note=per and _("per channel: %(targets)s", targets=per)),
        Figure("breached", N_("Past their target"), breached, "int"),
        Figure("answered", N_("Answered"), len(times), "int"),
        Figure("conversations", N_("Conversations today"), len(rows), "int")],
        note=_("A person's first answer to today's conversations, in calendar time.")
        if office.always_open else _(
            "A person's first answer to today's conversations, in business hours "
            "(%(hours)s), as the inbox reports count.", hours=settings.office_hours.strip()))


# --- listening --------------------------------------------------------------------------

async def reviews_tile(settings: Settings, now: datetime) -> Tile:
    warn = timedelta(hours=settings.review_warn_hours)
    soon = Review.filter(reply_state__in=REVIEW_OPEN_STATES,
                         created__lte=now - (REVIEW_DEADLINE - warn))
    overdue = await soon.filter(created__lt=now - REVIEW_DEADLINE).count()
    total = await soon.count()
    rows = await soon.order_by("created", "id").limit(LIST_SHOWN).values(
        "id", "author", "rating", "product", "created")
    table = Table("due", N_("Due soonest"), [
        Column("review", N_("Review"), "link"), Column("author", N_("Author"), "text"),
        Column("rating", N_("Rating"), "rating"), Column("deadline", N_("Deadline"), "datetime")])
    for r in rows:
        table.rows.append({"review": f"#{r['id']}", "link": f"/reviews/{r['id']}",
                           "author": r["author"] or r["product"], "rating": r["rating"],
                           "deadline": _when(r["created"] + REVIEW_DEADLINE)})
    return Tile("reviews", N_("Reviews to answer"), "/reviews", [
        Figure("due_soon", N_("Due within the warning time"), total - overdue, "int",
               note=_("within %(time)s", time=_duration(warn))),
        Figure("overdue", N_("Past 24 hours"), overdue, "int")], [table])


async def spikes_tile(now: datetime) -> Tile:
    since = now - timedelta(hours=SPIKE_HOURS)
    found = StaffAlert.filter(kind="spike", created_at__gte=since)
    rows = await found.order_by("-created_at", "-id").limit(LIST_SHOWN).values(
        "id", "title", "link", "created_at", "ended_at", "data")
    table = Table("spikes", N_("Latest spikes"), [
        Column("spike", N_("Spike"), "link"), Column("started", N_("Started"), "datetime"),
        Column("peak", N_("Peak per hour"), "int"), Column("ongoing", N_("Going on"), "text")])
    for r in rows:
        table.rows.append({"spike": r["title"], "link": same_site_path(r["link"], "/listening"),
                           "started": _when(r["created_at"]),
                           "peak": int((r["data"] or {}).get("peak", 0)),
                           "ongoing": "yes" if r["ended_at"] is None else "no"})
    return Tile("spikes", N_("Negative sentiment spikes"), "/listening", [
        Figure("count", N_("Spikes in the last 24 hours"), await found.count(), "int")], [table])


# --- marketing --------------------------------------------------------------------------

GOING_OUT = (PostStatus.APPROVED, PostStatus.SCHEDULED, PostStatus.PUBLISHING,
             PostStatus.PUBLISHED)
DID_NOT_GO_OUT = (PostStatus.FAILED, PostStatus.MISSED)


async def posts_tile(start: datetime, end: datetime, now: datetime, shown: bool) -> Tile:
    today = Post.filter(status__in=GOING_OUT, due_at__gte=start, due_at__lt=end)
    nxt = await today.filter(due_at__gte=now).exclude(status=PostStatus.PUBLISHED).order_by(
        "due_at", "id").limit(LIST_SHOWN).values("id", "text", "due_at", "status")
    failed = Post.filter(status__in=DID_NOT_GO_OUT,
                         due_at__gte=now - timedelta(days=FAILED_DAYS))
    bad = await failed.order_by("-due_at", "-id").limit(LIST_SHOWN).values(
        "id", "text", "due_at", "status", "error", "error_i18n")
    cols = [Column("post", N_("Post"), "link"), Column("due_at", N_("Due"), "datetime"),
            Column("status", N_("Status"), "text")]
    upcoming, gone = Table("next", N_("Next today"), list(cols)), Table(
        "failed", N_("Failed"), [*cols, Column("error", N_("Error"), "text")])

    def status(code: Any) -> str:  # the page's label (scheduler.posts.labels), the API's code
        return label(LABELS.get("post_status", {}), str(code)) if shown else str(code)

    for r in nxt:
        upcoming.rows.append({"post": r["text"][:60] or f"#{r['id']}",
                              "link": f"/posts/{r['id']}", "due_at": _when(r["due_at"]),
                              "status": status(r["status"])})
    for r in bad:
        gone.rows.append({"post": r["text"][:60] or f"#{r['id']}", "link": f"/posts/{r['id']}",
                          "due_at": _when(r["due_at"]), "status": status(r["status"]),
                          "error": said.shown(r["error"], r["error_i18n"]) if shown
                          else r["error"]})
    return Tile("posts", N_("Posts today"), "/calendar", [
        Figure("today", N_("Going out today"), await today.count(), "int", link="/calendar"),
        Figure("failed", N_("Failed or missed"), await failed.count(), "int", link="/posts",
               note=ngettext("due in the last %(num)d day", "due in the last %(num)d days",
                             FAILED_DAYS))], [upcoming, gone])


async def drip_tile(start: datetime, end: datetime) -> Tile:
    sent = await MailSend.filter(state="sent", enrollment_id__isnull=False,
                                 sent_at__gte=start, sent_at__lt=end).count()
    return Tile("drip", N_("Drip mails today"), SEQUENCES_PAGE, [
        Figure("sent", N_("Sent today"), sent, "int")],
        note=N_("Mails of the sequences' steps, sent since midnight (shop time)."))


async def revenue_tile(start: datetime, now: datetime) -> Tile:
    rows = await MailSend.filter(converted_at__gte=start, converted_at__lte=now).annotate(
        n=Count("id"), total=Sum("revenue")).values("n", "total")
    row = rows[0] if rows else {}
    total = round(float(row.get("total") or 0), 2)
    return Tile("revenue", N_("Revenue attributed this week"), "/reports/attribution", [
        Figure("revenue", N_("Revenue"), total, "money"),
        Figure("orders", N_("Orders"), int(row.get("n") or 0), "int")],
        note=N_("Orders placed after a tracked click in a drip or broadcast mail (within the "
                "attribution window), counted since Monday 00:00 shop time."))


async def build_dashboard(user: User, settings: Settings, now: datetime | None = None,
                          shown: bool = False) -> Dashboard:
    """The tiles ``user``'s role may read, as of ``now`` (default: the clock); ``shown``:
    for the page, a post's status and a failed post's reason in the reader's language
    (the API's stay codes and English, :mod:`bot.core.said`)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    tz = ZoneInfo(settings.shop_timezone)
    today = now.astimezone(tz).date()
    start, end = day_bounds(today, tz)
    week_start, _ = day_bounds(today - timedelta(days=today.weekday()), tz)
    board = Dashboard(now, settings.shop_timezone, today)
    build: dict[str, Callable[[], Awaitable[Tile]]] = {
        "conversations": conversations_tile,
        "first_response": lambda: first_response_tile(
            settings, start, end, now, report_link(user, "response-times", "/inbox")),
        "reviews": lambda: reviews_tile(settings, now),
        "spikes": lambda: spikes_tile(now),
        "posts": lambda: posts_tile(start, end, now, shown),
        "drip": lambda: drip_tile(start, end),
        "revenue": lambda: revenue_tile(week_start, now),
    }
    # concurrently: on PostgreSQL each tile's queries take a connection of the pool
    board.tiles = list(await asyncio.gather(*(build[k]() for k in tiles_for(user))))
    return board
