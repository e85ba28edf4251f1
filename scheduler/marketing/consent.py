"""Marketing e-mail consent per contact: subscribed, unsubscribed or bounced, with when
and what set it. Every marketing send checks it; a change is honoured at once."""

from __future__ import annotations

import logging

from bot.core.time import utcnow
from bot.models import Contact

log = logging.getLogger("switchboard.consent")
STATES = ("pending", "subscribed", "unsubscribed", "bounced")


async def set_consent(email: str, state: str, source: str) -> int:
    """Set the consent of every contact with this address; how many there were."""
    if state not in STATES:
        raise ValueError(f"consent must be one of {', '.join(STATES)}")
    changed = await Contact.filter(email=email.strip().lower()).update(
        email_consent=state, email_consent_at=utcnow(), email_consent_source=source[:200])
    log.info("e-mail consent changed", extra={"state": state, "source": source,
                                              "contacts": changed})
    return changed


async def mark_bounced(account_id: int, address: str) -> None:
    """A delivery status notification said mail to ``address`` cannot be delivered."""
    await set_consent(address, "bounced", f"bounce received by e-mail account {account_id}")
