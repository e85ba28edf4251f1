"""Bulk actions of the inbox list: one action on many conversations, each through the same
service as the single action (:mod:`bot.services.inbox`), so each commits on its own (one
transaction per conversation), is logged the same and sends the same live update."""

from __future__ import annotations

from bot.core.errors import InboxError, NotFound
from bot.core.events import EventBus
from bot.core.i18n import _
from bot.models import Conversation, ConversationStatus, Role, User
from bot.services import inbox

ACTIONS = ("assign", "label", "resolve")
LABEL_MAX = 64  # Label.name's column
MAX_IDS = 200  # a page of the list is 25; a few pages' worth at most


async def apply(ids: list[int], action: str, *, assignee: int | None = None,
                label: str = "", actor_id: int | None = None,
                bus: EventBus | None = None) -> int:
    """Do ``action`` to each conversation in ``ids``; returns how many changed (one that
    was already so, or is gone meanwhile, does not count). ``assign``: to ``assignee``
    (a user id, None: nobody); ``label``: add ``label`` to each."""
    if action not in ACTIONS:
        raise InboxError(_("Unknown bulk action."), "invalid", "action")
    if not ids or len(ids) > MAX_IDS:
        raise InboxError(_("Choose between 1 and %(n)s conversations.", n=MAX_IDS),
                         "invalid", "id")
    label = label.strip()
    if action == "label" and not 0 < len(label) <= LABEL_MAX:
        raise InboxError(_("A label needs a name of at most %(n)s characters.", n=LABEL_MAX),
                         "invalid", "label")
    if action == "assign" and assignee is not None and not await User.exists(
            id=assignee, is_active=True, role__in=[Role.ADMIN, Role.AGENT]):
        raise NotFound("active agent or admin", "assignee_id")
    changed = 0
    for cid in dict.fromkeys(ids):
        before = await Conversation.filter(id=cid).prefetch_related("labels").first()
        if before is None:
            continue
        try:
            if action == "resolve" and before.status != ConversationStatus.RESOLVED:
                await inbox.set_status(cid, ConversationStatus.RESOLVED, None, bus,
                                       actor_id=actor_id)
                changed += 1
            elif action == "assign" and before.assignee_id != assignee:  # type: ignore[attr-defined]
                await inbox.assign(cid, assignee, bus)
                changed += 1
            elif action == "label" and label not in (names := [lb.name for lb in before.labels]):
                await inbox.set_labels(cid, [*names, label], bus)
                changed += 1
        except NotFound:  # deleted meanwhile
            continue
    return changed
