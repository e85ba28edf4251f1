"""Tracking: what happened to the mails marketing sent. Opens (the pixel) and clicks (the
redirect) are recorded here; an order after a click converts the mail
(``scheduler.marketing.events.attribute``); bounces and unsubscribes come from consent.

The stats (per sequence step, per broadcast and subject) read those back."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from tortoise.expressions import F, Q
from tortoise.functions import Count

from bot.models import Broadcast, Enrollment, MailSend
from scheduler.marketing.clock import now


async def track(key: str, what: Literal["open", "click"], at: datetime | None = None) -> bool:
    """Record an open or a click of the mail with this key (the first time, and a count)."""
    at = at or now()
    mail = await MailSend.filter(key=key).first()
    if mail is None:
        return False
    first, count = ("opened_at", "opens") if what == "open" else ("clicked_at", "clicks")
    await MailSend.filter(id=mail.id).update(**{count: F(count) + 1})
    await MailSend.filter(id=mail.id, **{f"{first}__isnull": True}).update(**{first: at})
    if what == "click":  # a click is also an open, whatever the images did
        await MailSend.filter(id=mail.id, opened_at__isnull=True).update(opened_at=at)
    return True


class MailStats(BaseModel):
    """What happened to a set of mails. Bounced and unsubscribed count contacts whose
    consent became that after the mail was sent."""

    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    converted: int = 0
    revenue: float = 0.0

    def add(self, r: dict[str, Any]) -> None:
        later = r["consent_at"] is not None and r["sent_at"] is not None and \
            r["consent_at"] >= r["sent_at"]
        self.sent += 1
        self.bounced += int(r["consent"] == "bounced" and later)
        self.delivered = self.sent - self.bounced
        self.opened += int(r["opened_at"] is not None)
        self.clicked += int(r["clicked_at"] is not None)
        self.unsubscribed += int(r["consent"] == "unsubscribed" and later)
        self.converted += int(r["converted_at"] is not None)
        # summed in cents (each stored revenue is whole cents): 0.1 + 0.2 stays 0.3
        self.revenue = (round(self.revenue * 100) + round(float(r["revenue"] or 0) * 100)) / 100

    def rate(self, count: int) -> float | None:
        """``count`` as a percentage of the mails delivered (sent, less those that
        bounced), rounded to 0.1; None when none was delivered."""
        return round(100 * count / self.delivered, 1) if self.delivered else None

    def rates(self) -> dict[str, float | None]:
        """Opened, clicked, unsubscribed and converted, each in % of delivered; and
        delivered in % of sent."""
        return {"delivered": round(100 * self.delivered / self.sent, 1) if self.sent
                else None, "opened": self.rate(self.opened),
                "clicked": self.rate(self.clicked),
                "unsubscribed": self.rate(self.unsubscribed),
                "converted": self.rate(self.converted)}


class StepStats(MailStats):
    sequence: str
    step: int
    template: str


class VariantStats(MailStats):
    variant: str
    subject: str


STAT_FIELDS = ("sent_at", "opened_at", "clicked_at", "converted_at", "revenue")
STAT_JOINS = {"consent": "contact__email_consent", "consent_at": "contact__email_consent_at"}


async def sequence_stats() -> list[StepStats]:
    """Per sequence and step: sent, delivered, bounced, opened, clicked, unsubscribed
    (after the mail), converted and revenue (orders within the attribution window)."""
    rows = await MailSend.filter(state="sent", enrollment_id__isnull=False).values(
        "step", "template", *STAT_FIELDS, sequence="enrollment__sequence__key",
        **STAT_JOINS)
    stats: dict[tuple[str, int], StepStats] = {}
    for r in rows:
        stats.setdefault((r["sequence"], r["step"]), StepStats(
            sequence=r["sequence"], step=r["step"], template=r["template"])).add(r)
    return [stats[k] for k in sorted(stats)]


async def broadcasts_stats(ids: list[int]) -> tuple[dict[int, MailStats],
                                                     dict[int, datetime]]:
    """The stats of several broadcasts (the list page), and when each one's first mail
    went, read in one query."""
    stats = {i: MailStats() for i in ids}
    first: dict[int, datetime] = {}
    for r in await MailSend.filter(broadcast_id__in=ids, state="sent").values(
            "broadcast_id", *STAT_FIELDS, **STAT_JOINS):
        stats[r["broadcast_id"]].add(r)
        at = r["sent_at"]
        if at is not None and (r["broadcast_id"] not in first or at < first[r["broadcast_id"]]):
            first[r["broadcast_id"]] = at
    return stats, first


async def broadcast_stats(b: Broadcast) -> tuple[MailStats, list[VariantStats]]:
    """A broadcast's stats, in all and per subject."""
    variants = {v: VariantStats(variant=v, subject=subject)
                for v, subject in (("a", b.subject_a), ("b", b.subject_b)) if subject}
    total = MailStats()
    for r in await MailSend.filter(broadcast_id=b.id, state="sent").values(
            "variant", *STAT_FIELDS, **STAT_JOINS):
        total.add(r)
        if r["variant"] in variants:
            variants[r["variant"]].add(r)
    return total, list(variants.values())


class FunnelStep(BaseModel):
    """One step of a sequence as its enrolments went through it. *entered*: enrolments
    that reached this step or one after it (a branch that jumps ahead counts the steps it
    skipped); *here*: active ones at this step now (waiting, or due); *exited*: ended at
    this step (an exit step, an exit event, the contact's consent); *sent*, *opened*,
    *clicked*: the step's mails."""

    step: int
    entered: int = 0
    here: int = 0
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    exited: int = 0


async def sequence_funnel(sequence_id: int, steps: int) -> list[FunnelStep]:
    """Per step of the sequence (``steps`` of them), counted in two grouped queries."""
    rows = [FunnelStep(step=i) for i in range(steps)]
    groups = await Enrollment.filter(sequence_id=sequence_id).annotate(
        n=Count("id")).group_by("step", "state").values("step", "state", "n")
    for g in groups:
        for row in rows[:g["step"] + 1]:
            row.entered += g["n"]
        if g["step"] < steps:
            rows[g["step"]].here += g["n"] if g["state"] == "active" else 0
            rows[g["step"]].exited += g["n"] if g["state"] == "exited" else 0
    mails = await MailSend.filter(enrollment__sequence_id=sequence_id, state="sent").annotate(
        sent=Count("id"), opened=Count("id", _filter=Q(opened_at__isnull=False)),
        clicked=Count("id", _filter=Q(clicked_at__isnull=False))).group_by("step").values(
            "step", "sent", "opened", "clicked")
    for m in mails:
        if m["step"] is not None and 0 <= m["step"] < steps:
            row = rows[m["step"]]
            row.sent, row.opened, row.clicked = m["sent"], m["opened"], m["clicked"]
    return rows
