"""Trends over mentions: volume and sentiment per rule per hour or day, share of voice
(brand against competitors), the top terms of negative mentions per language, and the
velocity-based spike detector.

Spike: the negative mentions of a rule in the last hour, against the same hour of the
day on each of the previous ``baseline_days`` days (the trailing same-hour baseline, so
an evening rush is not a spike every evening). It is a spike when the count reaches
``min_count`` and ``factor`` times the baseline mean. One alert per spike: while a rule's
spike goes on, its alert stays open (and records the peak); the next alert can only come
after the rate has fallen back.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from bot.core.i18n import lazy
from bot.models import ListeningRule, Mention, StaffAlert
from listening.alerts import Alerter
from listening.errors import BadRange
from listening.rules import normalise
from listening.spec import LABELS

BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
Segmenter = Callable[[str], list[str]]  # splits Thai and Khmer runs into words


def bucket_start(at: datetime, bucket: str) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(minute=0, second=0, microsecond=0) if bucket == "hour" else \
        at.replace(hour=0, minute=0, second=0, microsecond=0)


async def _rows(since: datetime, until: datetime, rule_ids: Sequence[int] | None = None,
                *fields: str) -> list[tuple[Any, ...]]:
    q = Mention.filter(occurred_at__gte=since, occurred_at__lt=until)
    if rule_ids:
        q = q.filter(rule_id__in=list(rule_ids))
    return [tuple(r) for r in await q.values_list(*fields)]


async def volume(since: datetime, until: datetime, bucket: str = "hour",
                 rule_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Per rule and bucket: total and per label, with the net sentiment
    ((positive - negative) / total)."""
    counts: dict[tuple[int, datetime], Counter[str]] = defaultdict(Counter)
    for rule_id, at, label in await _rows(since, until, rule_ids, "rule_id", "occurred_at",
                                          "sentiment"):
        counts[(rule_id, bucket_start(at, bucket))][label or "unscored"] += 1
    names = dict(await ListeningRule.all().values_list("id", "name"))
    out = []
    for (rule_id, start), c in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        total = sum(c.values())
        out.append({"rule_id": rule_id, "rule": names.get(rule_id, ""), "start": start,
                    "total": total, **{lab: c[lab] for lab in LABELS},
                    "net": round((c["positive"] - c["negative"]) / total, 3)})
    return out


async def share_of_voice(since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Mentions of each brand and competitor rule as a share of all of them."""
    rules = {r.id: r for r in await ListeningRule.filter(kind__in=("brand", "competitor"))}
    counts = Counter(rid for (rid,) in await _rows(since, until, list(rules), "rule_id"))
    total = sum(counts.values())
    return [{"rule_id": rid, "rule": r.name, "kind": r.kind, "mentions": counts[rid],
             "share": round(counts[rid] / total, 4) if total else 0.0}
            for rid, r in sorted(rules.items(), key=lambda kv: -counts[kv[0]])]


_WORD = re.compile(r"[#@]?\w[\w'’-]*\w|\w", re.UNICODE)
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u1780-\u17ff]")
STOPWORDS = set("""
a an and are as at be been but by for from had has have i if in into is it its me my no
not of on or our so than that the their them then there they this to too very was we
were what when which who will with you your just all any can do did does dont i'm it's
và của là có không cho với này được những các một tôi bạn thì mà rất đã đang sẽ nhưng
i w z na do nie się to jest że jak ale o za po co od już tak bardzo mi ten ta są
и в во не на что я с со как а то все она так его но да ты к у же вы за бы по только ее мне
было вот от меня еще нет о из ему это очень
""".split())


def words(text: str, segment: Segmenter | None = None) -> list[str]:
    """The words of a text for term counts; Thai and Khmer (no spaces) through
    ``segment`` when given (the model's tokenizer), else as whole runs."""
    out: list[str] = []
    for w in _WORD.findall(normalise(text)):
        if segment is not None and _UNSPACED.search(w):
            out.extend(p for p in segment(w) if len(p) > 1)
        elif len(w) > 1 and w not in STOPWORDS and not w.isdigit():
            out.append(w)
    return out


async def top_negative_terms(since: datetime, until: datetime, limit: int = 10,
                             segment: Segmenter | None = None,
                             ) -> dict[str, list[dict[str, Any]]]:
    """Per language, the terms most over-represented in negative mentions against the
    rest (smoothed log-odds), with their counts: what people complain about."""
    import math
    by_lang: dict[str, tuple[Counter[str], Counter[str]]] = defaultdict(
        lambda: (Counter(), Counter()))
    seen: set[tuple[str, str]] = set()
    for text, lang, label, ref in await _rows(since, until, None, "text", "lang",
                                              "sentiment", "source_ref"):
        if (ref, lang) in seen:  # one item matching several rules counts once
            continue
        seen.add((ref, lang))
        neg, rest = by_lang[lang or "?"]
        (neg if label == "negative" else rest).update(set(words(text, segment)))
    out: dict[str, list[dict[str, Any]]] = {}
    for lang, (neg, rest) in sorted(by_lang.items()):
        n_neg, n_rest = sum(neg.values()) or 1, sum(rest.values()) or 1
        scored = [(math.log((c + 0.5) / n_neg) - math.log((rest[t] + 0.5) / n_rest), t, c)
                  for t, c in neg.items() if c >= 2]
        scored.sort(reverse=True)
        out[lang] = [{"term": t, "negative": c, "other": rest[t], "score": round(s, 3)}
                     for s, t, c in scored[:limit]]
    return out


class Overview(TypedDict):
    volume: list[dict[str, Any]]
    share_of_voice: list[dict[str, Any]]
    negative_terms: dict[str, list[dict[str, Any]]]


async def overview(since: datetime, until: datetime, bucket: str = "day",
                   rule_ids: Sequence[int] | None = None, segment: Segmenter | None = None,
                   ) -> Overview:
    """What the trends page and ``GET /api/v1/listening/trends`` show: the volume per
    rule (of ``rule_ids``, else every rule), the share of voice, and the negative terms."""
    if since >= until:
        raise BadRange(lazy("since must be before until"))
    return {"volume": await volume(since, until, bucket, rule_ids),
            "share_of_voice": await share_of_voice(since, until),
            "negative_terms": await top_negative_terms(since, until, segment=segment)}


@dataclass
class SpikeSettings:
    factor: float = 3.0
    min_count: int = 5
    baseline_days: int = 7


async def negatives(rule_id: int, start: datetime, end: datetime) -> int:
    return await Mention.filter(rule_id=rule_id, sentiment="negative",
                                occurred_at__gte=start, occurred_at__lt=end).count()


async def check_spikes(alerter: Alerter, now: datetime, cfg: SpikeSettings,
                       base_url: str = "") -> list[StaffAlert]:
    """Look at every enabled rule's last hour; open an alert for a new spike, close the
    alert of a spike that has ended. Returns the alerts opened."""
    opened = []
    for rule in await ListeningRule.filter(enabled=True).order_by("id"):
        hour = timedelta(hours=1)
        count = await negatives(rule.id, now - hour, now)
        past = [await negatives(rule.id, now - hour - timedelta(days=d),
                                now - timedelta(days=d))
                for d in range(1, cfg.baseline_days + 1)]
        baseline = sum(past) / len(past) if past else 0.0
        spiking = count >= cfg.min_count and count >= cfg.factor * max(baseline, 1.0)
        open_alert = await StaffAlert.filter(kind="spike", ended_at=None,
                                             key__startswith=f"spike:{rule.id}:").first()
        if spiking and open_alert is not None:
            if count > int(open_alert.data.get("peak", 0)):
                open_alert.data = {**open_alert.data, "peak": count}
                await open_alert.save(update_fields=["data"])
            continue
        if not spiking:
            if open_alert is not None and count < cfg.min_count:
                open_alert.ended_at = now
                await open_alert.save(update_fields=["ended_at"])
            continue
        examples = await Mention.filter(
            rule_id=rule.id, sentiment="negative", occurred_at__gte=now - hour,
            occurred_at__lt=now).order_by("-sentiment_score").limit(3)
        lines = [f"• {m.text[:160]}" + (f" ({m.url})" if m.url else "") for m in examples]
        alert = await alerter.raise_(
            "spike", f"spike:{rule.id}:{bucket_start(now, 'hour').isoformat()}",
            f"Negative spike for {rule.name}: {count} negative mentions in the last hour "
            f"(usually {baseline:.1f})",
            "\n".join(lines), f"/listening?rule={rule.id}",
            {"rule": rule.id, "count": count, "baseline": baseline, "peak": count,
             "examples": [m.id for m in examples]})
        if alert is not None:
            opened.append(alert)
    return opened
