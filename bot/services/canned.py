"""Canned replies: list, add, delete, and the text of a reply that uses one. Shared by the
pages, the REST API and the Telegram commands."""

from __future__ import annotations

from typing import Any

from jinja2 import TemplateError

from bot.core import bounded
from bot.core.errors import InboxError, NotFound
from bot.models import CannedReply
from bot.services import inbox
from bot.services.replies import contact_context, sample_context


class NoText(InboxError):
    """A reply with neither text nor a canned reply."""

    status = 422

    def __init__(self) -> None:
        super().__init__("give text or canned_reply_id", "invalid", "text")


def canned_out(c: CannedReply) -> dict[str, Any]:
    return {"id": c.id, "shortcut": c.shortcut, "title": c.title, "body": c.body}


async def list_canned() -> list[CannedReply]:
    return await CannedReply.all().order_by("shortcut")


async def add_canned(shortcut: str, title: str, body: str) -> CannedReply:
    try:  # rendered once for a sample contact: a template over the limits is refused here
        await bounded.check_template(body, sample_context())
    except TemplateError as exc:
        raise InboxError(f"template error: {exc}", "invalid_template", "body") from None
    if await CannedReply.filter(shortcut=shortcut).exists():
        raise InboxError(f"shortcut {shortcut!r} is taken", "exists", "shortcut")
    return await CannedReply.create(shortcut=shortcut, title=title, body=body)


async def delete_canned(canned_id: int) -> bool:
    """Delete a canned reply; False if there was none."""
    return bool(await CannedReply.filter(id=canned_id).delete())


async def reply_text(conversation_id: int, text: str | None, canned_id: int | None) -> str:
    """The text to send: given, or a canned reply rendered for the conversation's contact."""
    if canned_id is not None:
        canned = await CannedReply.filter(id=canned_id).first()
        if canned is None:
            raise NotFound("canned reply", "canned_reply_id")
        conv = await inbox.get_conversation(conversation_id)
        try:  # off the event loop, within the template limits (bot.core.bounded)
            return await bounded.render_async(canned.body, contact_context(conv.contact))
        except TemplateError as exc:
            raise InboxError(f"canned reply could not be rendered: {exc}",
                             "invalid_template", "body") from None
    if not text:
        raise NoText()
    return text
