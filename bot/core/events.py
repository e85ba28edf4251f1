"""A small in-process event bus.

Publishing never blocks the publisher and never lets one consumer's failure reach it or
another consumer: each handler runs in its own task, held in a set until it finishes
(the loop keeps only weak references to tasks). Events are fired *after* the data they
describe is committed, so a consumer can always re-read it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger("switchboard.events")


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class MessageReceived(Event):
    message_id: int
    conversation_id: int
    channel_kind: str
    new_conversation: bool = False
    account_id: int = 0


@dataclass(frozen=True)
class MessageScored(Event):
    """An inbound message's sentiment was stored (automation rules may act on it)."""

    message_id: int
    conversation_id: int
    label: str


@dataclass(frozen=True)
class MessageStored(Event):
    """An outbound message was stored, or its delivery status changed."""

    message_id: int
    conversation_id: int


@dataclass(frozen=True)
class ConversationChanged(Event):
    conversation_id: int
    what: str  # "status", "assignee", "labels", "note", "read", "contact"


@dataclass(frozen=True)
class ConversationResolved(Event):
    """A conversation became resolved (it was not before)."""

    conversation_id: int


@dataclass(frozen=True)
class HandoffRequested(Event):
    """The customer asked for a person; staff should be told."""

    conversation_id: int


@dataclass(frozen=True)
class PostFailed(Event):
    """A post gave up (or stopped, its outcome unknown): a person must look at it.
    Published once per failure, by the process whose move won (``event_id`` is that
    move's record, so a consumer can tell one failure from the next)."""

    post_id: int
    event_id: int
    reason: str


@dataclass(frozen=True)
class PostMissed(Event):
    """A post fell due while no server was running, past the grace: it was not sent."""

    post_id: int
    event_id: int
    reason: str


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None]]


class EventBus:
    """In-process publish/subscribe. Each interested handler runs in its own task, so a
    slow one (a Telegram call, a database write) delays no other.

    A handler may pass ``when``, a cheap synchronous test of the event: when it says no,
    no task is made. Ingest publishes on every message, and on a busy webhook the tasks
    of handlers with nothing to do (no staff page open, nothing to listen for) were a
    tenth of the request's cost."""

    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[tuple[Handler, Callable[[Any], bool] | None]]] \
            = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]],
                  when: Callable[[E], bool] | None = None) -> None:
        self._handlers[event_type].append((handler, when))

    def publish(self, event: Event) -> None:
        for handler, when in self._handlers.get(type(event), ()):
            if when is not None and not when(event):
                continue
            task = asyncio.get_running_loop().create_task(self._run(handler, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(handler: Handler, event: Event) -> None:
        try:
            await handler(event)
        except Exception:
            log.exception("event handler failed", extra={"event": type(event).__name__})

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for handlers in flight (used on shutdown and in tests); cancel the ones
        still running after ``timeout``, so that none of them goes on into a database
        that shutdown is about to close. What a cancelled handler had left undone is
        work the clock's jobs pick up (the listening sweep scores a message whose
        scoring was cut short)."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=timeout)
        if late:
            log.warning("event handlers still running at shutdown were cancelled",
                        extra={"handlers": len(late)})
            for task in late:
                task.cancel()
            await asyncio.wait(late)
