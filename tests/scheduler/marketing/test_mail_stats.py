"""The mail statistics' revenue is a sum of whole cents: the results page and the API show
what the orders made, never a float's residue (0.1 + 0.2 summed as floats is
0.30000000000000004)."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduler.marketing.tracking import MailStats

SENT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_revenue_is_summed_in_cents() -> None:
    stats = MailStats()
    for revenue in (0.1, 0.2, None):
        stats.add({"consent_at": None, "sent_at": SENT, "consent": "subscribed",
                   "opened_at": None, "clicked_at": SENT, "converted_at": SENT,
                   "revenue": revenue})
    assert stats.revenue == 0.3 and stats.converted == 3 and stats.sent == 3
