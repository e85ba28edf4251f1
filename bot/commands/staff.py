"""Staff commands in Telegram: ``/inbox``, ``/assign N``, ``/resolve N``, ``/staffchat``,
and replies to notifications, which go to the customer on the customer's own channel."""

from __future__ import annotations

from datetime import datetime

from bot.core import l10n
from bot.core.channel import StaffInput
from bot.core.clean import db_id
from bot.core.commands import Ctx, Desk, command, help_text, refuse
from bot.core.errors import InboxError
from bot.core.i18n import N_, _, label, lazy
from bot.core.time import utcnow
from bot.models import (
    Conversation,
    ConversationStatus,
    Message,
    Role,
    StaffNotification,
    User,
)
from bot.services import accounts, inbox

INBOX_ROLES = (Role.ADMIN, Role.AGENT)
ACTIVE = (ConversationStatus.OPEN, ConversationStatus.PENDING)


# What each notification mode of /staffchat means, for the answer.
MODES = {"all": N_("every new message"), "unassigned": N_("unassigned conversations"),
         "needs_human": N_("conversations that need a person"), "off": N_("nothing")}


def _ago(when: datetime) -> str:
    """How long ago, in words of the current language ("5 minutes", "3 hours")."""
    return l10n.format_duration(utcnow() - when)


def _conversation_id(ctx: Ctx) -> int:
    conversation_id = db_id(ctx.args[0].lstrip("#")) if ctx.args else None
    if conversation_id is None:
        raise InboxError(lazy("give a conversation number, e.g. 12"))
    return conversation_id


@command("inbox", "/inbox", *INBOX_ROLES)
async def inbox_summary(ctx: Ctx) -> str:
    """Open counts and the conversations waiting longest."""
    open_ = Conversation.filter(status=ConversationStatus.OPEN)
    n_open = await open_.count()
    if n_open == 0:
        return "🎉 " + _("Inbox Zero: nothing is open.")
    unassigned = await open_.filter(assignee_id__isnull=True).count()
    human = await open_.filter(needs_human=True).count()
    mine = await open_.filter(assignee_id=ctx.user.id).count()
    oldest = await open_.order_by("last_message_at").limit(5).prefetch_related("contact")
    lines = ["📥 " + _("%(open)s open · %(unassigned)s unassigned · %(human)s need a person · "
                      "%(mine)s yours", open=n_open, unassigned=unassigned, human=human,
                      mine=mine), _("Waiting longest:")]
    for c in oldest:
        flag = " 🙋" if c.needs_human else ""
        who = c.contact.name or _("contact %(id)s", id=c.contact.id)
        lines.append(f"#{c.id} · {who} · {c.channel_kind} · "
                     + _("%(time)s ago", time=_ago(c.last_message_at))
                     + f"{flag} · “{c.last_message_preview[:60]}”")
    return "\n".join(lines)


@command("assign", "/assign N [me|email]", *INBOX_ROLES)
async def assign(ctx: Ctx) -> str:
    cid = _conversation_id(ctx)
    who: int | str = ctx.user.id
    if len(ctx.args) > 1 and ctx.args[1] != "me":
        target = await User.filter(email=ctx.args[1].lower(), is_active=True).first()
        if target is None:
            raise InboxError(lazy("no active staff user %(email)s", email=ctx.args[1]))
        who = target.id
        await inbox.assign(cid, who, ctx.desk.bus)
        return "✅ " + _("#%(id)s is assigned to %(name)s.", id=cid,
                        name=target.name or target.email)
    await inbox.assign(cid, who, ctx.desk.bus)
    return "✅ " + _("#%(id)s is assigned to you.", id=cid)


@command("resolve", "/resolve N", *INBOX_ROLES)
async def resolve(ctx: Ctx) -> str:
    cid = _conversation_id(ctx)
    await inbox.set_status(cid, ConversationStatus.RESOLVED, bus=ctx.desk.bus,
                           actor_id=ctx.user.id)
    return "✅ " + _("#%(id)s is resolved.", id=cid)


@command("staffchat", "/staffchat [all|unassigned|needs_human|off]", Role.ADMIN)
async def staff_chat(ctx: Ctx) -> str:
    """Make this chat the staff chat (admins only), optionally choosing what is notified."""
    mode = ctx.args[0] if ctx.args else "all"
    await accounts.set_staff_chat(ctx.input.account_id, ctx.input.chat_id, mode)
    return "✅ " + _("This chat is now the staff chat (notified: %(mode)s). Reply to a "
                    "notification to answer the customer. %(help)s",
                    mode=label(MODES, mode), help=help_text(ctx.user))


async def reply_to_notification(desk: Desk, user: User, inp: StaffInput) -> str | None:
    """A staff member replied to a notification: send the text to that customer."""
    if user.role not in INBOX_ROLES:
        return refuse(inp, f"role {user.role} may not answer customers", user)
    note = await StaffNotification.filter(
        channel_account_id=inp.account_id, chat_id=inp.chat_id,
        external_id=inp.reply_to_external_id).prefetch_related("conversation__contact").first()
    if note is None:
        return None  # a reply to something else: staff talking among themselves
    conv = note.conversation
    ref = f"{inp.account_id}:{inp.external_id}"
    if await Message.filter(source_ref=ref).exists():
        return None  # a redelivered update: already sent, already confirmed
    await desk.outbox.send(conv.id, inp.text, user, origin="telegram", source_ref=ref)
    if conv.contact.name:
        return "✅ " + _("Sent to %(name)s (#%(id)s, %(channel)s).", name=conv.contact.name,
                        id=conv.id, channel=conv.channel_kind)
    return "✅ " + _("Sent to the customer (#%(id)s, %(channel)s).", id=conv.id,
                    channel=conv.channel_kind)
