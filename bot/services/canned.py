"""Canned replies: list, add, edit, delete, and the text of a reply that uses one. Shared by the
pages, the REST API and the Telegram commands."""

from __future__ import annotations

import re
from typing import Any

from jinja2 import TemplateError

from bot.core import bounded
from bot.core.errors import InboxError, NotFound, TooLong
from bot.core.i18n import _, lazy
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


SHORTCUT_MAX, TITLE_MAX, BODY_MAX = 64, 200, 20000  # as the API (schemas.common.Text)


async def _checked(shortcut: str, title: str, body: str, own_id: int | None = None) -> None:
    """Refuse a canned reply that would not fit or not render; shared by add and edit."""
    if not shortcut:
        raise InboxError(_("A canned reply needs a shortcut."), "invalid", "shortcut")
    if not re.fullmatch(r"[\w-]+", shortcut):
        raise InboxError(_("A shortcut is letters, digits, _ and - only."), "invalid",
                         "shortcut")
    if not body:
        raise InboxError(_("A canned reply needs a text."), "invalid", "body")
    for field, value, limit in (("shortcut", shortcut, SHORTCUT_MAX),
                                ("title", title, TITLE_MAX), ("body", body, BODY_MAX)):
        if len(value) > limit:
            raise TooLong(field, limit)
    try:  # rendered once for a sample contact: a template over the limits is refused here
        await bounded.check_template(body, sample_context())
    except TemplateError as exc:
        raise InboxError(lazy("template error: %(problem)s", problem=str(exc)),
                         "invalid_template", "body") from None
    if await CannedReply.filter(shortcut=shortcut).exclude(id=own_id or 0).exists():
        raise InboxError(_("The shortcut %(s)s is taken.", s=repr(shortcut)), "exists",
                         "shortcut")


async def add_canned(shortcut: str, title: str, body: str) -> CannedReply:
    await _checked(shortcut, title, body)
    return await CannedReply.create(shortcut=shortcut, title=title, body=body)


async def update_canned(canned_id: int, shortcut: str, title: str, body: str) -> CannedReply:
    """Change a canned reply's shortcut, title and text (checked as when it was added)."""
    canned = await CannedReply.filter(id=canned_id).first()
    if canned is None:
        raise NotFound("canned reply", "canned_id")
    await _checked(shortcut, title, body, canned.id)
    canned.shortcut, canned.title, canned.body = shortcut, title, body
    await canned.save(update_fields=["shortcut", "title", "body"])
    return canned


async def picker(conversation_id: int) -> list[dict[str, Any]]:
    """The canned replies for the reply box's ``/shortcut`` picker, each rendered for the
    conversation's contact (one that does not render is left out)."""
    conv = await inbox.get_conversation(conversation_id)
    context = contact_context(conv.contact)
    out: list[dict[str, Any]] = []
    for c in await list_canned():
        try:
            text = await bounded.render_async(c.body, context)
        except TemplateError:
            continue
        out.append({"id": c.id, "shortcut": c.shortcut, "title": c.title, "text": text})
    return out


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
            raise InboxError(lazy("canned reply could not be rendered: %(reason)s", reason=exc),
                             "invalid_template", "body") from None
    if not text:
        raise NoText()
    return text
