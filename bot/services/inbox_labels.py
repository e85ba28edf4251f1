"""What a person reads for a conversation's status (the codes stay English in the API and
the URLs): the tabs' ``{{ label("conversation_tab", s) }}`` and the badges'
``{{ label("conversation_status", conv.status) }}``."""

from __future__ import annotations

from bot.core import i18n
from bot.core.i18n import N_, lazy_p
from bot.models import ConversationStatus as S

STATUSES = i18n.labels("conversation_status", {
    S.OPEN: lazy_p("conversation status", "open"),
    S.PENDING: lazy_p("conversation status", "pending"),
    S.SNOOZED: lazy_p("conversation status", "snoozed"),
    S.RESOLVED: lazy_p("conversation status", "resolved")})
TABS = i18n.labels("conversation_tab", {
    S.OPEN: N_("Open"), S.PENDING: N_("Pending"), S.SNOOZED: N_("Snoozed"),
    S.RESOLVED: N_("Resolved"), "all": N_("All")})


def status(code: str) -> str:
    """A conversation's status in the current language."""
    return i18n.label(STATUSES, code)
