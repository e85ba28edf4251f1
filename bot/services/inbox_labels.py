"""What a person reads for a conversation's status (the codes stay English in the API and
the URLs): the tabs' ``{{ label("conversation_tab", s) }}`` and the badges'
``{{ label("conversation_status", conv.status) }}``."""

from __future__ import annotations

from bot.core import i18n
from bot.core.i18n import N_, lazy_p
from bot.models import ConversationStatus as S
from bot.models import DeliveryStatus as D

STATUSES = i18n.labels("conversation_status", {
    S.OPEN: lazy_p("conversation status", "open"),
    S.PENDING: lazy_p("conversation status", "pending"),
    S.SNOOZED: lazy_p("conversation status", "snoozed"),
    S.RESOLVED: lazy_p("conversation status", "resolved")})
TABS = i18n.labels("conversation_tab", {
    S.OPEN: N_("Open"), S.PENDING: N_("Pending"), S.SNOOZED: N_("Snoozed"),
    S.RESOLVED: N_("Resolved"), "all": N_("All")})

# A message's delivery, in the thread ("sent", "failed" …).
i18n.labels("delivery_status", {
    D.RECEIVED: lazy_p("message", "received"), D.PENDING: lazy_p("message", "pending"),
    D.RETRYING: lazy_p("message", "retrying"), D.SENT: lazy_p("message", "sent"),
    D.FAILED: lazy_p("message", "failed")})
# A message's or a mention's sentiment (the model's three labels).
i18n.labels("sentiment", {"negative": N_("Negative"), "neutral": N_("Neutral"),
                          "positive": N_("Positive")})


def status(code: str) -> str:
    """A conversation's status in the current language."""
    return i18n.label(STATUSES, code)
