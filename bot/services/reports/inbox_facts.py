"""The inbox reports' roll-up: one row per conversation (``report_conversations``) and one
per conversation and replying staff member (``report_conversation_agents``), recomputed
from the raw rows. The reports read only these, so they stay fast on a million messages.

Definitions (every inbox report uses them; times are whole seconds, UTC epoch):

* **opened**: the conversation's ``created_at``. A conversation is *in a range* when it
  was opened on one of its days (shop timezone, ``shop_timezone``); everything else about
  it (replies, resolution, reopens, ratings, hand-off) counts in that range too.
* **person reply**: an outbound message whose ``origin`` is neither ``bot`` nor ``rule``
  (the inbox, the API, a staff member answering in Telegram), counted when stored.
* **first response**: the first person reply; **first response time** = first response
  minus opened. Measured once per conversation: a reopen does not restart it.
* **agent** of a conversation: who sent its first person reply (none until then).
* **resolved**: the conversation's status is resolved now; **resolution time** = its
  ``resolved_at`` (the last resolve) minus opened.
* **reopens**: how many times a resolved conversation was opened again, by the customer
  writing within the reopen window or by staff (``conversation_events`` rows of kind
  ``reopened``); a conversation is *reopened* when it has at least one.
* **business seconds**: the part of an interval inside ``office_hours``; with no office
  hours set the shop is always open and business seconds equal calendar seconds.
* **handed off**: the customer asked the bot for a person (a ``handoff`` event).
* **survey asked**: a bot message offering the ``csat:`` rating buttons; every other bot
  message is a **bot reply**.
* **bot only** (containment): the bot replied, no person ever did, and no hand-off.

The roll-up is kept current by :func:`refresh`, run by the clock (one process at a time):
it follows watermarks on the ids of messages, activity-log rows, ratings and conversations
(``report_state``, see :mod:`bot.services.reports.marks`: a row committed late is still
read; a run that lost its lease rolls back) and recomputes each touched conversation
whole, so running it twice changes nothing. The reports lag the inbox by the clock's
interval. A change of ``shop_timezone`` or ``office_hours`` rebuilds every row on the next
run of the process configured last: one started earlier with other settings (a rolling
deploy) leaves the roll-up alone instead of rebuilding it back."""

from __future__ import annotations

import logging
import re
import time as clock
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from bot.core.time import utcnow
from bot.models import ReportState
from bot.services.reports import marks
from config import Settings, hours, sla

log = logging.getLogger("switchboard.reports")
BATCH = 500  # rows of each source per batch: at most 4 x BATCH conversations at once
_PARAM = re.compile(r"\?")
_SOURCES = (("msg", "messages", "conversation_id", "created_at"),
            ("event", "conversation_events", "conversation_id", "at"),
            ("csat", "csat_ratings", "conversation_id", "created_at"),
            ("conv", "conversations", "id", "created_at"))
FACT_COLUMNS = ("conversation_id", "account_id", "channel_kind", "agent_id", "opened_at",
                "day", "weekday", "hour", "first_response_at", "frt_cal", "frt_biz",
                "resolved_at", "res_cal", "res_biz", "reopens", "msgs_in", "msgs_out",
                "human_out", "bot_out", "handed_off", "bot_only", "csat_asked", "csat_n",
                "csat_sum", "csat_1", "csat_2", "csat_3", "csat_4", "csat_5")


@dataclass(frozen=True)
class Config:
    timezone: str = "UTC"
    office_hours: str = ""
    sla_targets: str = ""
    hours: hours.OfficeHours = field(init=False, compare=False)
    targets: sla.Targets = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hours", hours.parse(self.office_hours, self.timezone))
        object.__setattr__(self, "targets", sla.parse(self.sla_targets))

    @property
    def signature(self) -> str:
        """What the roll-up's rows depend on: a change rebuilds them."""
        return f"{self.timezone}|{self.office_hours}"[:500]


_config = Config()
_configured = int(clock.time() * 1000)  # ms: the process configured last rebuilds


def configure(settings: Settings) -> None:
    """Take the shop's timezone, office hours and SLA targets (the composition root)."""
    global _config, _configured
    _config = Config(settings.shop_timezone, settings.office_hours, settings.sla_targets)
    _configured = int(clock.time() * 1000)


def config() -> Config:
    return _config


# --- SQL on both databases --------------------------------------------------------------

def dialect() -> str:
    return str(connections.get("default").capabilities.dialect)


def sql(text: str) -> str:
    """``?`` placeholders as the default connection wants them."""
    if dialect() != "postgres":
        return text
    counter = iter(range(1, 100000))
    return _PARAM.sub(lambda _: f"${next(counter)}", text)


async def fetch(text: str, params: Sequence[Any] = (), conn: Any = None) -> list[tuple[Any, ...]]:
    conn = conn or connections.get("default")
    _, rows = await conn.execute_query(sql(text), list(params))
    return [tuple(r) for r in rows]  # by position: two columns may share a name


def epoch(value: Any) -> int:
    """A stored datetime (a datetime, or SQLite's text form) as whole UTC seconds."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() // 1)


def day_start(day: date, cfg: Config | None = None) -> int:
    """The epoch second a local day starts at."""
    tz = (cfg or _config).hours.tz
    return int(datetime.combine(day, time(0), tz).timestamp())


def business_seconds(start: int, end: int, oh: hours.OfficeHours) -> int:
    """Seconds of [start, end) inside office hours (all of them when always open)."""
    if end <= start:
        return 0
    if oh.always_open:
        return end - start
    first = datetime.fromtimestamp(start, oh.tz).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, oh.tz).date()
    total, day = 0, first
    while day <= last:
        for w in oh.windows:
            if w.day != day.weekday():
                continue
            ws = datetime.combine(day, w.start, oh.tz)
            we = datetime.combine(day, w.end, oh.tz)
            if we <= ws:
                we = datetime.combine(day + timedelta(days=1), w.end, oh.tz)
            a, b = max(int(ws.timestamp()), start), min(int(we.timestamp()), end)
            total += max(0, b - a)
        day += timedelta(days=1)
    return total


# --- the refresh --------------------------------------------------------------------------

async def refresh(limit: int | None = None) -> int:
    """Bring the roll-up up to date, in batches; return how many conversations it
    recomputed (at most about ``limit`` when given; 0: nothing was pending)."""
    if not await _check_config():
        return 0
    total = 0
    while limit is None or total < limit:
        done = await _batch(BATCH if limit is None else max(1, min(BATCH, limit - total)))
        if not done:
            break
        total += done
    return total


State = dict[str, tuple[int, str]]


async def _state() -> State:
    return {k: (int(v), t) for k, v, t in await fetch(
        "SELECT key, value, text FROM report_state")}


async def _put_state(conn: Any, new: State, old: State) -> None:
    """Compare and set each row (:func:`bot.services.reports.marks.swap`)."""
    for key, (value, text) in new.items():
        was = old.get(key)
        await marks.swap(conn, ReportState, key,
                         None if was is None else {"value": was[0], "text": was[1]},
                         {"value": value, "text": text})


def _mark(stored: tuple[int, str] | None) -> marks.Mark:
    return marks.Mark.parse(stored[1] or str(stored[0])) if stored else marks.Mark()


def _grace() -> timedelta:
    return marks.GRACE if dialect() == "postgres" else timedelta(0)  # SQLite: in order


async def _check_config() -> bool:
    """Rebuild when the settings changed; False: a process configured later holds other
    settings (the roll-up is left to it)."""
    cfg, state = _config, await _state()
    stored = state.get("config")
    if stored and stored[1] == cfg.signature:
        return True
    if stored and stored[0] >= _configured:
        log.warning("inbox roll-up built with other settings by a newer process: "
                    "not refreshed here")
        return False
    cutoff = utcnow() - _grace()
    async with in_transaction() as conn:  # rebuild: every conversation once, in id order,
        # then follow the sources from where they surely stand now (older than the grace)
        await _put_state(conn, {"config": (_configured, cfg.signature)}, state)
        await conn.execute_query("DELETE FROM report_conversations")
        await conn.execute_query("DELETE FROM report_conversation_agents")
        new: State = {"rebuild": (0, "on")}
        for key, table, _, at_col in _SOURCES:
            rows = await fetch(f"SELECT MAX(id) FROM {table}", conn=conn) if not _grace() \
                else await fetch(f"SELECT id FROM {table} WHERE {at_col} < ? ORDER BY id DESC "
                                 f"LIMIT 1", (cutoff,), conn)
            new[key] = (int(rows[0][0] or 0) if rows else 0, "")
        await _put_state(conn, new, state)
    return True


def _reader(table: str, conv_col: str, at_col: str) -> marks.Read:
    async def read(after: int, upto: int | None, limit: int) -> list[Any]:
        if upto is None:
            return await fetch(f"SELECT id, {at_col}, {conv_col} FROM {table} WHERE id > ? "
                               f"ORDER BY id LIMIT ?", (after, limit))
        return await fetch(f"SELECT id, {at_col}, {conv_col} FROM {table} WHERE id > ? AND "
                           f"id <= ? ORDER BY id LIMIT ?", (after, upto, limit))
    return read


async def _batch(size: int) -> int:
    state = await _state()
    cursor, rebuilding = state.get("rebuild", (0, ""))
    if rebuilding:  # a rebuild: the next conversations by id
        ids = [int(r[0]) for r in await fetch(
            "SELECT id FROM conversations WHERE id > ? ORDER BY id LIMIT ?", (cursor, size))]
        await _write(ids, {"rebuild": (ids[-1], "on") if ids else (0, "")}, state)
        return len(ids) if ids else await _batch(size)
    convs: set[int] = set()
    new: State = {}
    for key, table, conv_col, at_col in _SOURCES:
        mark = _mark(state.get(key))
        batch = await marks.take(mark, _reader(table, conv_col, at_col), size, _grace())
        convs.update(int(r[2]) for r in batch.rows)
        if batch.mark != mark:
            new[key] = (batch.mark.done, "" if batch.mark.seen == batch.mark.done
                        else str(batch.mark))
    if convs or new:
        await _write(sorted(convs), new, state)
    return len(convs)


async def _write(ids: list[int], new: State, old: State) -> None:
    """Recompute these conversations' rows and move the marks, in one transaction (the
    marks first: another process that moved them meanwhile makes this one roll back)."""
    facts, agents = await compute(ids) if ids else ([], [])
    async with in_transaction() as conn:
        await _put_state(conn, new, old)
        if not ids:
            return
        marks_in = ", ".join("?" * len(ids))
        await conn.execute_query(sql(f"DELETE FROM report_conversations WHERE conversation_id "
                                     f"IN ({marks_in})"), ids)
        await conn.execute_query(sql(f"DELETE FROM report_conversation_agents WHERE "
                                     f"conversation_id IN ({marks_in})"), ids)
        if facts:
            await conn.execute_many(sql(
                f"INSERT INTO report_conversations ({', '.join(FACT_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(FACT_COLUMNS))})"), facts)
        if agents:
            await conn.execute_many(sql(
                "INSERT INTO report_conversation_agents (conversation_id, agent_id, "
                "account_id, channel_kind, opened_at, replies) VALUES (?, ?, ?, ?, ?, ?)"),
                agents)


async def compute(ids: list[int]) -> tuple[list[list[Any]], list[list[Any]]]:
    """The roll-up rows of these conversations, from the raw rows."""
    cfg, marks_in = _config, ", ".join("?" * len(ids))
    convs = await fetch(f"SELECT id, channel_account_id, channel_kind, status, created_at, "
                        f"resolved_at FROM conversations WHERE id IN ({marks_in})", ids)
    msgs: dict[int, list[tuple[Any, ...]]] = {}
    for row in await fetch(
            "SELECT conversation_id, CASE WHEN direction = 'in' THEN 'in' WHEN origin = 'bot' "
            "THEN 'bot' WHEN origin = 'rule' THEN 'rule' ELSE 'person' END AS k, sender_id, "
            "COUNT(*), MIN(created_at), SUM(CASE WHEN origin = 'bot' AND CAST(buttons AS TEXT) "
            f"LIKE ? THEN 1 ELSE 0 END) FROM messages WHERE conversation_id IN ({marks_in}) "
            "GROUP BY conversation_id, k, sender_id", ['%"csat:%', *ids]):
        msgs.setdefault(int(row[0]), []).append(row[1:])
    events: dict[int, dict[str, int]] = {}
    for cid, kind, n in await fetch(
            f"SELECT conversation_id, kind, COUNT(*) FROM conversation_events WHERE "
            f"conversation_id IN ({marks_in}) GROUP BY conversation_id, kind", ids):
        events.setdefault(int(cid), {})[kind] = int(n)
    ratings: dict[int, dict[int, int]] = {}
    for cid, rating, n in await fetch(
            f"SELECT conversation_id, rating, COUNT(*) FROM csat_ratings WHERE "
            f"conversation_id IN ({marks_in}) GROUP BY conversation_id, rating", ids):
        ratings.setdefault(int(cid), {})[int(rating)] = int(n)
    facts: list[list[Any]] = []
    agents: list[list[Any]] = []
    for cid, account, kind, status, created, resolved in convs:
        facts.append(_fact(cfg, int(cid), int(account), kind, status, epoch(created),
                           epoch(resolved) if resolved is not None else None,
                           msgs.get(int(cid), []), events.get(int(cid), {}),
                           ratings.get(int(cid), {}), agents))
    return facts, agents


def _fact(cfg: Config, cid: int, account: int, kind: str, status: str, opened: int,
          resolved: int | None, msgs: list[tuple[Any, ...]], events: dict[str, int],
          ratings: dict[int, int], agents: list[list[Any]]) -> list[Any]:
    local = datetime.fromtimestamp(opened, cfg.hours.tz)
    count = {"in": 0, "bot": 0, "rule": 0, "person": 0}
    first: tuple[int, int | None] | None = None
    asked = 0
    for k, sender, n, at, csat in msgs:
        count[k] += int(n)
        asked += int(csat or 0)
        if k == "person":
            t = epoch(at)
            if first is None or t < first[0]:
                first = (t, sender)
            if sender is not None:
                agents.append([cid, int(sender), account, kind, opened, int(n)])
    fr_at, agent = first if first else (None, None)
    res_at = resolved if status == "resolved" and resolved is not None else None
    handed = 1 if events.get("handoff") else 0
    bot_replies = count["bot"] - asked  # a survey is no answer
    n_rated = sum(ratings.values())
    return [cid, account, kind, agent, opened, local.date().isoformat(), local.weekday(),
            local.hour, fr_at,
            None if fr_at is None else fr_at - opened,
            None if fr_at is None else business_seconds(opened, fr_at, cfg.hours),
            res_at,
            None if res_at is None else res_at - opened,
            None if res_at is None else business_seconds(opened, res_at, cfg.hours),
            events.get("reopened", 0), count["in"],
            count["bot"] + count["rule"] + count["person"], count["person"], bot_replies,
            handed, 1 if bot_replies and not count["person"] and not handed else 0,
            asked, n_rated, sum(r * n for r, n in ratings.items()),
            *(ratings.get(r, 0) for r in range(1, 6))]
