"""What a person reads for a post's status (the codes stay English in the API): the chat
commands' :func:`status` and the pages' ``{{ label("post_status", p.status) }}``."""

from __future__ import annotations

from bot.core import i18n
from bot.core.i18n import N_, lazy_p
from bot.models import PostStatus

STATUSES: dict[str, str] = {
    PostStatus.DRAFT: N_("draft"), PostStatus.IN_REVIEW: N_("in review"),
    PostStatus.APPROVED: N_("approved"), PostStatus.SCHEDULED: N_("scheduled"),
    PostStatus.PUBLISHING: N_("publishing"), PostStatus.PUBLISHED: N_("published"),
    PostStatus.FAILED: N_("failed"), PostStatus.CANCELLED: N_("cancelled"),
    PostStatus.MISSED: N_("missed"),
}
i18n.labels("post_status", STATUSES)
# How often a post repeats ("repeats %(freq)s at %(time)s").
FREQS = i18n.labels("post_freq", {"daily": N_("daily"), "weekly": N_("weekly"),
                                  "monthly": N_("monthly")})

# One target's publishing state, on the post's page.
i18n.labels("variant_state", {
    "waiting": lazy_p("post target", "waiting"), "sending": lazy_p("post target", "sending"),
    "done": lazy_p("post target", "done"), "failed": lazy_p("post target", "failed"),
    "unknown": lazy_p("post target", "unknown")})


def status(code: str) -> str:
    """A post status in the current language."""
    return i18n.label(STATUSES, code)


def lazy_status(code: str) -> i18n.Lazy:
    """A post status translated where it is shown (in a service error's message)."""
    return i18n.lazy(STATUSES.get(code, code))
