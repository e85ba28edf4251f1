"""Deleting a conversation's private note. Adding and editing are in :mod:`bot.services.inbox`.

A delete is soft: the note leaves the thread (and can no longer be edited) but its row,
its text and its edit history stay, with who deleted it and when, on the note's history
page, so nothing a colleague wrote disappears without a trace. Only the note's author or
an admin may delete it (editing stays open to any staff, whose edits are kept as history).
"""

from __future__ import annotations

from tortoise.transactions import in_transaction

from bot.core.errors import Forbidden, NotFound
from bot.core.events import ConversationChanged, EventBus
from bot.core.i18n import lazy
from bot.core.time import utcnow
from bot.models import Note, Role, User


def may_delete(note_author_id: int | None, user: User) -> bool:
    return user.role == Role.ADMIN or (note_author_id is not None
                                       and note_author_id == user.id)


async def delete_note(note_id: int, user: User, bus: EventBus | None = None) -> Note:
    async with in_transaction() as conn:
        note = await Note.filter(id=note_id, deleted_at=None).using_db(
            conn).select_for_update().first()
        if note is None:
            raise NotFound("note", "note_id")
        if not may_delete(note.author_id, user):  # type: ignore[attr-defined]
            raise Forbidden(lazy("Only the note's author or an admin may delete it."))
        await Note.filter(id=note.id).using_db(conn).update(deleted_at=utcnow(),
                                                            deleted_by_id=user.id)
    if bus:
        bus.publish(ConversationChanged(note.conversation_id, "note"))  # type: ignore[attr-defined]
    return note
