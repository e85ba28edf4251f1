"""A year of a busy shop, for bench/reports.py: deterministic rows, written fast.

At ``--scale 1``: 1,000,000 messages in 100,000 conversations over the last 365 days on six
channel accounts (webchat x2, telegram, email, facebook, instagram), 8 agents, 80,000
contacts, first replies after a realistic wait (some by the bot, ``origin="bot"``, some
conversations the bot answered alone), resolutions, labels, CSAT on ~20% of resolved
conversations, 200,000 shop events (signup, checkout_started, checkout_updated,
order_placed with totals), marketing mails from the built-in sequences and 10 broadcasts
with opens, clicks and conversions (each conversion is a real order a few days after the
click), reviews, mentions and message sentiment scores.

Rows come from ``random.Random(seed)``: a scale and a seed always give the same rows,
their times placed so that the year ends a minute before the seeding. They go in with
executemany in one transaction (SQLite) or COPY (PostgreSQL, via asyncpg, foreign-key
triggers off for the session: the rows respect every foreign key by construction). See
bench/reports_db.py for the databases, the migrations and the cache.

    python bench/reports_seed.py [--scale 0.01] [--seed 7] [--db sqlite,postgres]
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

Rows = list[tuple[Any, ...]]
Chunk = tuple[str, tuple[str, ...], Rows]

ACCOUNTS = [("webchat", "Web chat"), ("telegram", "Telegram"), ("email", "E-mail"),
            ("facebook", "Facebook page"), ("instagram", "Instagram"),
            ("webchat", "Web chat (wholesale)")]
ACCOUNT_WEIGHTS = [30, 20, 20, 12, 10, 8]
BOT_KINDS = {"webchat", "telegram"}  # the kinds the customer bot answers on by default
AGENTS = list(range(3, 11))  # user ids 3..10; 1 is the admin, 2 the marketer
AGENT_WEIGHTS = [22, 18, 15, 12, 11, 9, 8, 5]
LABELS = ["vip", "refund", "shipping", "complaint", "wholesale", "bug"]
TEXTS_IN = ["Hi, where is my order?", "Do you ship to Poland?", "My parcel arrived damaged",
            "Can I change the size?", "Is this in stock?", "I want a refund", "Thanks!",
            "What are your opening hours?", "The discount code does not work", "ok"]
TEXTS_OUT = ["Let me check that for you.", "Your order left our warehouse today.",
             "We ship worldwide, 3-7 days.", "Sorry about that, a new one is on its way.",
             "Yes, it is in stock.", "Done, anything else?", "You're welcome!"]
LANGS = ["en", "en", "en", "vi", "th", "pl", "ru", "km"]
SENTIMENTS = ["positive", "neutral", "negative"]
DAY = 86400.0

COLS: dict[str, tuple[str, ...]] = {
    "users": ("id", "email", "name", "role", "password_hash", "is_active", "created_at"),
    "channel_accounts": ("id", "kind", "name", "secret", "callback_url", "settings", "enabled",
                         "created_at"),
    "contacts": ("id", "name", "email", "locale", "attributes", "tags", "created_at",
                 "updated_at", "unreachable", "email_consent", "email_consent_source"),
    "labels": ("id", "name", "color"),
    "conversations": ("id", "channel_account_id", "channel_kind", "contact_id", "assignee_id",
                      "status", "unread_count", "last_message_at", "last_message_preview",
                      "resolved_at", "created_at", "is_public", "needs_human"),
    "messages": ("id", "conversation_id", "channel_account_id", "direction", "external_id",
                 "text", "status", "error", "attempts", "sent_at", "created_at", "sender_id",
                 "origin", "attachments", "history", "buttons", "meta"),
    "conversation_labels": ("conversations_id", "label_id"),
    "csat_ratings": ("id", "conversation_id", "rating", "assignee_id", "created_at"),
    "sentiment_scores": ("id", "item_kind", "item_id", "label", "score", "scores",
                         "model_version", "created_at"),
    "sequences": ("id", "key", "name", "trigger", "exit_on", "steps", "enabled", "created_at"),
    "segments": ("id", "name", "rules", "created_at"),
    "broadcasts": ("id", "name", "segment_id", "subject_a", "subject_b", "body",
                   "split_percent", "metric", "decide_after_hours", "state", "winner",
                   "due_at", "created_at"),
    "enrollments": ("id", "sequence_id", "contact_id", "state", "step", "context",
                    "started_at", "ended_reason", "created_at"),
    "shop_events": ("id", "kind", "source", "external_id", "contact_id", "payload",
                    "occurred_at", "created_at"),
    "mail_sends": ("id", "key", "enrollment_id", "step", "broadcast_id", "variant",
                   "template", "contact_id", "to", "subject", "message_id", "state", "error",
                   "attempts", "sent_at", "opened_at", "opens", "clicked_at", "clicks",
                   "converted_at", "revenue", "created_at"),
    "reviews": ("id", "source", "external_id", "rating", "title", "text", "author", "product",
                "url", "lang", "locale", "created", "sentiment", "reply_state", "reply_text",
                "replied_at", "reply_error", "payload", "created_at", "replied_by_id"),
    "listening_rules": ("id", "name", "kind", "query", "languages", "enabled", "created_at"),
    "mentions": ("id", "rule_id", "source", "source_ref", "author", "url", "text", "lang",
                 "sentiment", "sentiment_score", "model_version", "occurred_at",
                 "created_at"),
    "posts": ("id", "text", "media", "status", "due_at", "attempts", "error", "created_at",
              "updated_at", "created_by_id"),
}


def today_midnight() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class Shop:
    """Generates the rows, table by table, in an order that respects the foreign keys."""

    def __init__(self, scale: float, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.scale = scale
        # The same rows on every run of a seed: drawn as if now were today's midnight, then
        # moved by ``shift`` so the last ones fall a minute before now (the times of day
        # that shape the traffic are read before the move).
        self.now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
        self.shift = self.now - today_midnight()
        self.year_ago = self.now - timedelta(days=365)
        self.n_conv = max(100, round(100_000 * scale))
        self.n_contacts = max(80, round(80_000 * scale))
        self.n_events = max(200, round(200_000 * scale))
        self.counts: dict[str, int] = {}

    def n(self, x: float) -> int:
        return max(1, round(x * self.scale))

    def moment(self) -> datetime:
        """A time in the last 365 days, busier on weekdays and in the shop's hours."""
        rnd = self.rnd
        while True:
            when = self.year_ago + timedelta(seconds=int(rnd.random() * 365 * DAY))
            plain = when - self.shift
            hour_ok = 0.25 if plain.hour < 8 or plain.hour >= 20 else 1.0
            day_ok = 0.55 if plain.weekday() >= 5 else 1.0
            if when < self.now and rnd.random() < hour_ok * day_ok:
                return when

    def gap(self, median_s: float, sigma: float = 1.1, cap: float = 3 * DAY) -> float:
        return float(min(cap, max(1, int(self.rnd.lognormvariate(math.log(median_s), sigma)))))

    def chunks(self) -> Iterator[Chunk]:
        yield from self.people()
        yield from self.inbox()
        yield from self.marketing()
        yield from self.listening()

    def _out(self, table: str, rows: Rows) -> Chunk:
        self.counts[table] = self.counts.get(table, 0) + len(rows)
        return table, COLS[table], rows

    def people(self) -> Iterator[Chunk]:
        rnd, t0 = self.rnd, self.year_ago - timedelta(days=30)
        users = [(1, "admin@shop.test", "Admin", "admin", "!", True, t0),
                 (2, "marketer@shop.test", "Marketer", "marketer", "!", True, t0)]
        users += [(i, f"agent{i}@shop.test", f"Agent {i}", "agent", "!", True, t0)
                  for i in AGENTS]
        yield self._out("users", users)
        yield self._out("channel_accounts", [(i + 1, k, name, "", "", "{}", True, t0)
                                             for i, (k, name) in enumerate(ACCOUNTS)])
        yield self._out("labels", [(i + 1, name, "#999999") for i, name in enumerate(LABELS)])
        rows: Rows = []
        for i in range(1, self.n_contacts + 1):
            at = t0 + timedelta(seconds=int(rnd.random() * 390 * DAY))
            at = min(at, self.now)
            rows.append((i, f"Customer {i}", f"c{i}@shop.test", rnd.choice(LANGS), "{}", "[]",
                         at, at, "", "granted" if i % 3 else "", ""))
        yield self._out("contacts", rows)

    def inbox(self, batch: int = 5000) -> Iterator[Chunk]:
        """Conversations with their messages (exactly ten per conversation on average:
        pairs of conversations share 20 messages), labels, CSAT and message sentiment."""
        rnd = self.rnd
        convs: Rows = []
        msgs: Rows = []
        labels: Rows = []
        csat: Rows = []
        scores: Rows = []
        mid = 0
        for c in range(1, self.n_conv + 1):
            if c % 2:
                spread = min(7, int(rnd.expovariate(1 / 3)))
                k = 10 + spread
            else:
                k = 10 - spread
            acct = rnd.choices(range(len(ACCOUNTS)), ACCOUNT_WEIGHTS)[0]
            kind = ACCOUNTS[acct][0]
            start = self.moment()
            bot = kind in BOT_KINDS and rnd.random() < 0.45
            alone = bot and rnd.random() < 0.5  # the bot answered alone: no agent
            silent = not bot and rnd.random() < 0.03  # nobody answered (yet)
            agent = None if alone else rnd.choices(AGENTS, AGENT_WEIGHTS)[0]
            # (seconds after start, direction, origin)
            plan: list[tuple[float, str, str]] = [(0.0, "in", "")]
            t = 0.0
            if bot:
                t += 2 + rnd.random() * 8
                plan.append((t, "out", "bot"))
            if not silent and not alone:
                t += self.gap(1500 if 8 <= (start - self.shift).hour < 18 else 5 * 3600)
                plan.append((t, "out", ""))
            while len(plan) < k:
                if silent:
                    t += self.gap(300)
                    plan.append((t, "in", ""))
                    continue
                t += self.gap(600 if plan[-1][1] == "out" else 900)
                if plan[-1][1] == "in" or rnd.random() < 0.3:
                    plan.append((t, "out", "bot" if alone else ""))
                else:
                    plan.append((t, "in", ""))
            room = (self.now - start).total_seconds() - 60
            if t > room:  # a recent conversation: squeeze it into the time left
                plan = [(int(s * room / t), d, o) for s, d, o in plan]
            times = [start + timedelta(seconds=int(s)) for s, _, _ in plan]
            last = times[-1]
            resolved_at = None
            if not silent and rnd.random() < (0.93 if (self.now - last).days >= 2 else 0.5):
                resolved_at = last + timedelta(seconds=self.gap(7200, 1.0, DAY))
                if resolved_at >= self.now:
                    resolved_at = None
            status = "resolved" if resolved_at else rnd.choice(["open", "open", "pending"])
            for (_, direction, origin), when in zip(plan, times, strict=True):
                mid += 1
                inbound = direction == "in"
                text = rnd.choice(TEXTS_IN if inbound else TEXTS_OUT)
                msgs.append((mid, c, acct + 1, direction, f"{direction}-{mid}", text,
                             "received" if inbound else "sent", "", 0,
                             None if inbound else when, when,
                             None if inbound or origin else agent, origin,
                             "[]", "[]", "[]", "{}"))
                if inbound and rnd.random() < 0.1:
                    label = rnd.choices(SENTIMENTS, [35, 45, 20])[0]
                    scores.append((len(scores) + 1 + self.counts.get("sentiment_scores", 0),
                                   "message", mid, label, round(0.5 + rnd.random() / 2, 4),
                                   json.dumps({label: 0.9}), "bench-1",
                                   when + timedelta(seconds=1)))
            convs.append((c, acct + 1, kind, rnd.randint(1, self.n_contacts), agent, status, 0,
                          last, msgs[-1][5][:200], resolved_at, start, False, False))
            roll = rnd.random()
            if roll < 0.35:
                first = rnd.randrange(len(LABELS))
                labels.append((c, first + 1))
                if roll < 0.06:
                    labels.append((c, (first + 1) % len(LABELS) + 1))
            if resolved_at and rnd.random() < 0.2:
                rated = resolved_at + timedelta(seconds=60 + int(rnd.random() * 1800))
                if rated < self.now:
                    csat.append((self.counts.get("csat_ratings", 0) + len(csat) + 1, c,
                                 rnd.choices([1, 2, 3, 4, 5], [5, 7, 13, 30, 45])[0],
                                 agent, rated))
            if c % batch == 0 or c == self.n_conv:
                yield self._out("conversations", convs)
                yield self._out("messages", msgs)
                yield self._out("conversation_labels", labels)
                yield self._out("csat_ratings", csat)
                yield self._out("sentiment_scores", scores)
                convs, msgs, labels, csat, scores = [], [], [], [], []

    def _event(self, events: list[list[Any]], kind: str, contact: int, at: datetime,
               total: float = 0.0) -> None:
        payload: dict[str, Any] = {}
        if kind != "signup":
            payload = {"total": f"{total:.2f}", "currency": "EUR", "items": [],
                       "order": f"#{len(events) + 1000}" if kind == "order_placed" else ""}
        source = self.rnd.choices(["api", "shopify", "woocommerce"], [50, 30, 20])[0]
        events.append([kind, source, contact, json.dumps(payload), at])

    def amount(self) -> float:
        return round(min(2000.0, self.rnd.lognormvariate(math.log(45), 0.7)), 2)

    def marketing(self) -> Iterator[Chunk]:
        rnd, t0 = self.rnd, self.year_ago - timedelta(days=30)
        from scheduler.marketing.sequences import BUILTIN
        yield self._out("sequences", [(i + 1, s["key"], s["name"], s["trigger"],
                                       json.dumps(s["exit_on"]), json.dumps(s["steps"]),
                                       True, t0) for i, s in enumerate(BUILTIN)])
        yield self._out("segments", [(1, "Everyone who agreed", '{"consent": "granted"}', t0),
                                     (2, "Buyers", '{"event": "order_placed", "days": 365}', t0)])
        sends = [[i + 1, s["key"], [st["send"] for st in s["steps"] if "send" in st]]
                 for i, s in enumerate(BUILTIN)]
        events: list[list[Any]] = []
        mails: Rows = []
        enrollments: Rows = []
        broadcasts: Rows = []

        def mail(key: str, enrollment: int | None, step: int | None, bc: int | None,
                 variant: str, template: str, contact: int, sent: datetime) -> None:
            state = "failed" if rnd.random() < 0.02 else "sent"
            opened = clicked = converted = None
            opens = clicks = 0
            revenue = 0.0
            if state == "sent" and rnd.random() < 0.45:
                opened = sent + timedelta(seconds=self.gap(3 * 3600, 1.2, 5 * DAY))
                opens = 1 + int(rnd.expovariate(1.0))
                if rnd.random() < 0.25:
                    clicked = opened + timedelta(seconds=self.gap(60, 1.0, 3600))
                    clicks = 1 + int(rnd.expovariate(1.5))
                    if rnd.random() < 0.15:
                        converted = clicked + timedelta(seconds=self.gap(6 * 3600, 1.2, 6 * DAY))
                        revenue = self.amount()
                        self._event(events, "order_placed", contact, converted, revenue)
            opened, clicked, converted = (x if x and x < self.now else None
                                          for x in (opened, clicked, converted))
            if converted is None:
                revenue = 0.0
                if events and events[-1][4] >= self.now:
                    events.pop()
            mails.append((len(mails) + 1, key, enrollment, step, bc, variant, template,
                          contact, f"c{contact}@shop.test", f"{template} for you",
                          f"<{key}@shop.test>", state, "" if state == "sent" else "refused",
                          1, sent if state == "sent" else None, opened, opens, clicked, clicks,
                          converted, revenue, sent))

        for b in range(1, 11):
            at = self.year_ago + timedelta(days=b * 35 - 20, hours=10)
            ab = b % 2 == 0
            broadcasts.append((b, f"Newsletter {b}", 1 + b % 2, f"News {b}",
                               f"News {b}, with a gift" if ab else "", "Hello {name}",
                               20 if ab else 0, "opens", 4.0, "sent",
                               rnd.choice("ab") if ab else "", at, at - timedelta(days=2)))
            for j in range(self.n(6000)):
                contact = rnd.randint(1, self.n_contacts)
                mail(f"bc:{b}:{j}", None, None, b, rnd.choice("ab") if ab else "",
                     "broadcast", contact, at + timedelta(seconds=j % 3600))
        for e in range(1, self.n(25_000) + 1):
            seq_id, _, templates = sends[rnd.randrange(len(sends))]
            contact = rnd.randint(1, self.n_contacts)
            started = self.moment()
            enrollments.append((e, seq_id, contact, "completed", len(templates), "{}", started,
                                "", started))
            for step, template in enumerate(templates):
                sent = started + timedelta(hours=1 + 72 * step)
                if sent < self.now:
                    mail(f"enr:{e}:step:{step}", e, step, None, "", template, contact, sent)
        while len(events) < self.n_events:  # journeys: sign up, check out, order, repeat
            if len(events) + 20 >= self.n_events:
                events = [e for e in events if e[4] < self.now]
                if len(events) >= self.n_events:
                    break
            contact = rnd.randint(1, self.n_contacts)
            at = self.moment()
            self._event(events, "signup", contact, at)
            for _ in range(1 + int(rnd.expovariate(1.5))):
                if rnd.random() > 0.6:
                    break
                at += timedelta(seconds=self.gap(3 * 3600, 1.5, 20 * DAY))
                total = self.amount()
                self._event(events, "checkout_started", contact, at, total)
                if rnd.random() < 0.12:
                    self._event(events, "checkout_updated", contact, at + timedelta(minutes=5),
                                total)
                if rnd.random() < 0.55:
                    at += timedelta(seconds=self.gap(1800, 1.2, 2 * DAY))
                    self._event(events, "order_placed", contact, at, total)
        events = [e for e in events if e[4] < self.now][:self.n_events]
        events.sort(key=lambda e: e[4])
        yield self._out("broadcasts", broadcasts)
        yield self._out("enrollments", enrollments)
        yield self._out("shop_events", [(i + 1, k, s, f"{k}-{i + 1}", c, p, at, at)
                                        for i, (k, s, c, p, at) in enumerate(events)])
        yield self._out("mail_sends", mails)

    def listening(self) -> Iterator[Chunk]:
        rnd, t0 = self.rnd, self.year_ago - timedelta(days=30)
        reviews: Rows = []
        for i in range(1, self.n(5000) + 1):
            at = self.moment()
            rating = rnd.choices([1, 2, 3, 4, 5], [8, 6, 10, 26, 50])[0]
            replied = at + timedelta(seconds=self.gap(10 * 3600, 1.2, 10 * DAY))
            answered = rnd.random() < 0.7 and replied < self.now
            reviews.append((i, rnd.choice(["google", "webhook", "csv"]), f"r{i}", rating,
                            "Review", "Nice shop" if rating > 3 else "Slow delivery",
                            f"Reviewer {i}", f"Product {i % 40}", "", "en", "en", at,
                            "positive" if rating > 3 else "negative" if rating < 3
                            else "neutral", "replied" if answered else "unanswered",
                            "Thank you!" if answered else "", replied if answered else None,
                            "", "{}", at, rnd.choice(AGENTS) if answered else None))
        yield self._out("reviews", reviews)
        yield self._out("listening_rules", [
            (i + 1, name, "keyword", name.lower(), '["en"]', True, t0)
            for i, name in enumerate(["Brand", "Competitor", "Product line"])])
        mentions: Rows = []
        for i in range(1, self.n(30_000) + 1):
            label = rnd.choices(SENTIMENTS, [35, 45, 20])[0]
            at = self.moment()
            mentions.append((i, 1 + i % 3, rnd.choice(["rss", "api", "facebook", "instagram",
                                                      "review"]),
                             f"m{i}", f"Author {i % 500}", "", "I think the shop is ...",
                             rnd.choice(LANGS), label, round(0.5 + rnd.random() / 2, 4),
                             "bench-1", at, at))
        yield self._out("mentions", mentions)
        today = today_midnight()
        posts: Rows = []
        for i in range(1, 41):
            status = ["scheduled", "published", "failed", "draft"][i % 4]
            due = today + timedelta(hours=6 + i % 14) if i <= 20 else self.moment()
            posts.append((i, f"Post {i}", "[]", status, due, 1 if status == "failed" else 0,
                          "rejected" if status == "failed" else "", due - timedelta(days=1),
                          due - timedelta(days=1), 2))
        yield self._out("posts", posts)


if __name__ == "__main__":
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.reports_db import main_seed
    main_seed()
