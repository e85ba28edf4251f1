"""Where a staff member's step-by-step exchange with the bot stands (the interactive
``/post`` in :mod:`scheduler.posts.flows`): one :class:`~bot.models.ChatFlow` row per person
and chat, so any server process can take the next step and a restart loses nothing. A flow
left alone for :data:`IDLE` is forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.models import ChatFlow

IDLE = timedelta(hours=1)


def _where(account_id: int, chat_id: str, user_external_id: str) -> dict[str, Any]:
    return {"channel_account_id": account_id, "chat_id": chat_id,
            "user_external_id": user_external_id}


async def active(account_id: int, chat_id: str, user_external_id: str) -> bool:
    """Whether this person is in a flow in this chat (their next message answers it)."""
    return await ChatFlow.filter(**_where(account_id, chat_id, user_external_id),
                                 updated_at__gte=datetime.now(UTC) - IDLE).exists()


async def start(account_id: int, chat_id: str, user_external_id: str, flow: str,
                step: str) -> ChatFlow:
    """Begin a flow at ``step``, replacing any the person had in this chat."""
    where = _where(account_id, chat_id, user_external_id)
    await ChatFlow.filter(**where).delete()
    return await ChatFlow.create(**where, flow=flow, step=step, data={})


async def current(account_id: int, chat_id: str, user_external_id: str) -> ChatFlow | None:
    """The person's flow in this chat, unless it was left alone too long."""
    return await ChatFlow.filter(**_where(account_id, chat_id, user_external_id),
                                 updated_at__gte=datetime.now(UTC) - IDLE).first()


async def save(flow: ChatFlow) -> None:
    """Keep the step and data the flow has moved on to."""
    await flow.save()


async def finish(flow: ChatFlow) -> None:
    """The flow is over (done or cancelled): forget it."""
    await flow.delete()
